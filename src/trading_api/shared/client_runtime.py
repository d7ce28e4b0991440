"""What every generated client shares: HTTP plumbing, the error type, subscribe.

``trading clients build`` writes, per module, ``client_generated/`` with a sync
class (a :class:`ModuleClient`) and an async class (an :class:`AsyncModuleClient`).
The generated classes only name the mount path and declare one typed method per
operation; the requests, the error mapping and the WebSocket subscriptions (see
:mod:`trading_api.shared.client_subscription`) live here once, so generated files
stay small and readable.

A client is built from the server's root URL and adds the module's mount path::

    with DatafeedClient(base_url="http://127.0.0.1:8000") as client:
        info = client.resolve_symbol("AAPL")

    async with AsyncDatafeedClient(base_url="http://127.0.0.1:8000") as client:
        async for bar in client.subscribe("bars", BarsSubscriptionRequest(...)):
            ...

Values go on the wire as the server reads them: models by alias with only the
fields that were set, enums as their values. A non-2xx answer raises
:class:`ApiError`; a network failure raises httpx's or websockets' own error.

Protected routes need a bearer token: pass ``token=``, and ``refresh=`` (a
function returning a new token) to renew it when the server answers 401 or
closes a subscription with 4401; the request or the subscription is then tried
once more with the new token::

    BrokerClient(base_url=url, token=login(), refresh=login)
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from functools import lru_cache
from types import NoneType
from typing import Any, ClassVar, Self, TypeVar, cast
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from trading_api.shared.client_subscription import (
    AsyncSubscription,
    Subscription,
    SubscriptionClosed,
    SubscriptionError,
    SubscriptionStream,
)
from trading_api.shared.http_tls import tls_context

__all__ = [
    "DEFAULT_TIMEOUT",
    "ApiError",
    "AsyncBearerAuth",
    "AsyncModuleClient",
    "AsyncSubscription",
    "BearerAuth",
    "ModuleClient",
    "Subscription",
    "SubscriptionClosed",
    "SubscriptionError",
    "WsRoutes",
    "path_value",
]

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
"""Seconds a client waits for a connection, a response or a subscribe reply."""

QueryPair = tuple[str, str | int | float | bool | None]

WsRoutes = Mapping[str, tuple[type[BaseModel], type[BaseModel]]]
"""Each WebSocket route of a module: its request model and its data model."""


Refresh = Callable[[], str]
"""Returns a new bearer token (sync clients)."""
AsyncRefresh = Callable[[], str | Awaitable[str]]
"""Returns, or returns an awaitable of, a new bearer token (async clients)."""


class BearerAuth(httpx.Auth):
    """Sends ``Authorization: Bearer <token>``; renews the token once on a 401.

    Args:
        token: The token to send; None fetches one with ``refresh`` first.
        refresh: Returns a new token; called when the server answers 401.
    """

    def __init__(self, token: str | None, refresh: Refresh | None = None) -> None:
        self.token = token
        self.refresh = refresh

    def current(self) -> str | None:
        """The token to send now."""
        if self.token is None and self.refresh is not None:
            self.token = self.refresh()
        return self.token

    def renew(self) -> bool:
        """Get a new token; False when there is no refresh hook."""
        if self.refresh is None:
            return False
        self.token = self.refresh()
        return True

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the token; on 401, renew it and send once more."""
        _authorize(request, self.current())
        response = yield request
        if response.status_code == 401 and self.renew():
            _authorize(request, self.token)
            yield request


class AsyncBearerAuth(httpx.Auth):
    """:class:`BearerAuth` for async clients: ``refresh`` may be a coroutine."""

    def __init__(self, token: str | None, refresh: AsyncRefresh | None = None) -> None:
        self.token = token
        self.refresh = refresh

    async def current(self) -> str | None:
        """The token to send now."""
        if self.token is None and self.refresh is not None:
            await self.renew()
        return self.token

    async def renew(self) -> bool:
        """Get a new token; False when there is no refresh hook."""
        if self.refresh is None:
            return False
        token = self.refresh()
        self.token = await token if inspect.isawaitable(token) else token
        return True

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with the token; on 401, renew it and send once more."""
        _authorize(request, await self.current())
        response = yield request
        if response.status_code == 401 and await self.renew():
            _authorize(request, self.token)
            yield request


def _authorize(request: httpx.Request, token: str | None) -> None:
    if token is not None:
        request.headers["Authorization"] = f"Bearer {token}"


class ApiError(Exception):
    """The server answered with a non-2xx status.

    Attributes:
        status_code: The HTTP status, e.g. 404 or 409.
        detail: The ``detail`` of the JSON error body (a message, or the list of
            validation errors of a 422), else the body's text.
        method: The request's HTTP method.
        url: The request's full URL.
    """

    def __init__(self, status_code: int, detail: Any, *, method: str, url: str) -> None:
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url
        super().__init__(f"{method} {url} -> {status_code}: {detail}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """The error a non-2xx ``response`` stands for."""
        detail: Any = response.text
        try:
            body = response.json()
        except ValueError:
            pass
        else:
            detail = body.get("detail", body) if isinstance(body, dict) else body
        request = response.request
        return cls(
            response.status_code, detail, method=request.method, url=str(request.url)
        )


def path_value(value: Any, *, keep_slashes: bool = False) -> str:
    """Encode one path parameter (``NASDAQ:AAPL`` -> ``NASDAQ%3AAAPL``)."""
    text = _wire_scalar(value)
    return quote(text, safe="/" if keep_slashes else "")


def _wire(value: Any) -> Any:
    """The JSON form of a value as the server reads it: aliases, enum values.

    Models keep only the fields that were set, so the server applies its own
    defaults and can tell "absent" from ``null`` (e.g. a modification that
    removes one bracket and leaves the other alone).
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list | tuple | set | frozenset):
        return [_wire(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _wire(item) for key, item in value.items()}
    return to_jsonable_python(value, by_alias=True)


def _wire_scalar(value: Any) -> str:
    wired = _wire(value)
    if isinstance(wired, bool):
        return "true" if wired else "false"
    return str(wired)


def _query(params: Mapping[str, Any] | None) -> list[QueryPair]:
    """Query pairs: ``None`` dropped, lists repeated, models spread by field."""
    pairs: list[QueryPair] = []
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, BaseModel):
            pairs.extend(_query(value.model_dump(mode="json", by_alias=True)))
        elif isinstance(value, list | tuple | set | frozenset):
            pairs.extend((name, _wire_scalar(item)) for item in value)
        else:
            pairs.append((name, _wire_scalar(value)))
    return pairs


def _request(
    params: Mapping[str, Any] | None,
    headers: Mapping[str, Any] | None,
    body: Any,
) -> dict[str, Any]:
    """The httpx keyword arguments of one call."""
    return {
        "params": _query(params),
        "headers": {
            name: _wire_scalar(value)
            for name, value in (headers or {}).items()
            if value is not None
        },
        "json": None if body is None else _wire(body),
    }


@lru_cache(maxsize=512)
def _adapter(returns: Any) -> TypeAdapter[Any]:
    return TypeAdapter(returns)


def _decode(response: httpx.Response, returns: type[T]) -> T:
    if not response.is_success:
        raise ApiError.from_response(response)
    if returns is NoneType:
        return cast(T, None)
    adapter = cast(TypeAdapter[T], _adapter(cast(Any, returns)))
    if "json" not in response.headers.get("content-type", "application/json"):
        return adapter.validate_python(response.text)
    return adapter.validate_json(response.content)


def _root_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url {base_url!r} is not an http(s) URL; "
            "pass the server's root, e.g. 'http://127.0.0.1:8000'"
        )
    return base_url.rstrip("/")


def _ws_url(root: str, mount_path: str) -> str:
    scheme, rest = root.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{mount_path}/ws"


def _stream(route: str, request: BaseModel, routes: WsRoutes) -> SubscriptionStream:
    if route not in routes:
        known = ", ".join(sorted(routes)) or "(none)"
        raise ValueError(f"unknown WebSocket route {route!r}; known: {known}")
    request_model, data_model = routes[route]
    if not isinstance(request, request_model):
        raise TypeError(
            f"route {route!r} takes a {request_model.__name__}, "
            f"got {type(request).__name__}"
        )
    return SubscriptionStream(route, _wire(request), data_model)


class ModuleClient:
    """Base of the generated sync clients: one httpx client, typed calls.

    Subclasses set :attr:`mount_path` (``/api/v1/<module>``). Use the client as a
    context manager, or call :meth:`close`.
    """

    mount_path: ClassVar[str]

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        token: str | None = None,
        refresh: Refresh | None = None,
    ) -> None:
        """Connect to the server at ``base_url``, its root (no ``/api/v1/...``).

        Args:
            token: The bearer token sent with every request and subscription.
            refresh: Returns a new token when the server refuses the current
                one (401, or a subscription closed with 4401).

        Raises:
            ValueError: ``base_url`` is not an http(s) URL.
        """
        self.base_url = _root_url(base_url)
        self.timeout = timeout
        self.ws_headers = dict(headers or {})
        self.auth = BearerAuth(token, refresh)
        self._http = httpx.Client(
            base_url=self.base_url + self.mount_path,
            timeout=timeout,
            headers=headers,
            transport=transport,
            auth=self.auth,
            verify=tls_context(),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        returns: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> T:
        request = _request(params, headers, body)
        response = self._http.request(method, path, **request)
        return _decode(response, returns)

    def _subscribe(
        self, route: str, request: BaseModel, routes: WsRoutes
    ) -> Subscription[Any]:
        return Subscription(
            _ws_url(self.base_url, self.mount_path),
            _stream(route, request, routes),
            timeout=self.timeout,
            headers=self.ws_headers,
            auth=self.auth,
        )


class AsyncModuleClient:
    """Base of the generated async clients: one httpx async client, typed calls.

    Subclasses set :attr:`mount_path` (``/api/v1/<module>``). Use the client as an
    async context manager, or await :meth:`aclose`.
    """

    mount_path: ClassVar[str]

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        token: str | None = None,
        refresh: AsyncRefresh | None = None,
    ) -> None:
        """Connect to the server at ``base_url``, its root (no ``/api/v1/...``).

        Args:
            token: The bearer token sent with every request and subscription.
            refresh: Returns (or returns an awaitable of) a new token when the
                server refuses the current one (401, or a subscription closed
                with 4401).

        Raises:
            ValueError: ``base_url`` is not an http(s) URL.
        """
        self.base_url = _root_url(base_url)
        self.timeout = timeout
        self.ws_headers = dict(headers or {})
        self.auth = AsyncBearerAuth(token, refresh)
        self._http = httpx.AsyncClient(
            base_url=self.base_url + self.mount_path,
            timeout=timeout,
            headers=headers,
            transport=transport,
            auth=self.auth,
            verify=tls_context(),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        returns: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> T:
        request = _request(params, headers, body)
        response = await self._http.request(method, path, **request)
        return _decode(response, returns)

    def _subscribe(
        self, route: str, request: BaseModel, routes: WsRoutes
    ) -> AsyncSubscription[Any]:
        return AsyncSubscription(
            _ws_url(self.base_url, self.mount_path),
            _stream(route, request, routes),
            timeout=self.timeout,
            headers=self.ws_headers,
            auth=self.auth,
        )
