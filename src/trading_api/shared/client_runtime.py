"""What every generated client shares: HTTP plumbing, errors, WebSocket streams.

``trading clients build`` writes, per module, ``client_generated/`` with a sync
class (a :class:`ModuleClient`) and an async class (an :class:`AsyncModuleClient`).
The generated classes only name the mount path and declare one typed method per
operation; the requests, the error mapping and the WebSocket subscription protocol
live here once, so generated files stay small and readable.

A client is built from the server's root URL and adds the module's mount path::

    with DatafeedClient(base_url="http://127.0.0.1:8000") as client:
        history = client.bars(symbol="AAPL", resolution=Resolution.DAY_1, ...)

    async with AsyncDatafeedClient(base_url="http://127.0.0.1:8000") as client:
        async for bar in client.subscribe("bars", BarsSubscriptionRequest(...)):
            ...
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Generator, Mapping
from functools import lru_cache
from types import NoneType, TracebackType
from typing import Any, ClassVar, Self, TypeVar, cast
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
"""Seconds a client waits for a connection, a response or a subscribe reply."""

QueryPair = tuple[str, str | int | float | bool | None]

WsRoutes = Mapping[str, tuple[type[BaseModel], type[BaseModel]]]
"""Each WebSocket route of a module: its request model and its data model."""


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


class SubscriptionError(Exception):
    """The server refused a subscription or rejected a message of the stream.

    Attributes:
        route: The WebSocket route, e.g. ``"bars"``.
        reason: The server's message, which says what was wrong.
        detail: The server's structured detail (validation errors), if any.
    """

    def __init__(self, route: str, reason: str, detail: Any = None) -> None:
        self.route = route
        self.reason = reason
        self.detail = detail
        super().__init__(f"{route}: {reason}")


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


def _headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        name: _wire_scalar(value)
        for name, value in (headers or {}).items()
        if value is not None
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


class _Stream:
    """The client side of one subscription on its own WebSocket connection.

    One connection per subscription keeps streams independent: leaving the loop
    closes the connection, and the server releases the topic.
    """

    def __init__(self, route: str, request: BaseModel, routes: WsRoutes) -> None:
        if route not in routes:
            known = ", ".join(sorted(routes)) or "(none)"
            raise ValueError(f"unknown WebSocket route {route!r}; known: {known}")
        request_model, self.data_model = routes[route]
        if not isinstance(request, request_model):
            raise TypeError(
                f"route {route!r} takes a {request_model.__name__}, "
                f"got {type(request).__name__}"
            )
        self.route = route
        self.topic = ""
        self.subscribe_frame = json.dumps(
            {"type": f"{route}.subscribe", "payload": _wire(request)}
        )

    def accept(self, frame: str | bytes) -> BaseModel | None:
        """Handle one server frame; return the data of an update of our topic."""
        message = json.loads(frame)
        kind, payload = message.get("type"), message.get("payload") or {}
        if kind == f"{self.route}.update" and payload.get("topic") == self.topic:
            return self.data_model.model_validate(payload.get("payload"))
        if kind == f"{self.route}.subscribe.response":
            if payload.get("status") != "ok":
                raise SubscriptionError(self.route, str(payload.get("message")))
            self.topic = str(payload.get("topic"))
        elif kind == "error":
            raise SubscriptionError(
                self.route, str(payload.get("message")), payload.get("detail")
            )
        return None

    @property
    def subscribed(self) -> bool:
        """Whether the server confirmed the subscription."""
        return bool(self.topic)


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
    ) -> None:
        """Connect to the server at ``base_url``, its root (no ``/api/v1/...``).

        Raises:
            ValueError: ``base_url`` is not an http(s) URL.
        """
        self.base_url = _root_url(base_url)
        self.timeout = timeout
        self._ws_headers = dict(headers or {})
        self._http = httpx.Client(
            base_url=self.base_url + self.mount_path,
            timeout=timeout,
            headers=headers,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
        response = self._http.request(
            method,
            path,
            params=_query(params),
            headers=_headers(headers),
            json=None if body is None else _wire(body),
        )
        return _decode(response, returns)

    def _subscribe(
        self, route: str, request: BaseModel, routes: WsRoutes
    ) -> Generator[Any, None, None]:
        from websockets.sync.client import connect

        stream = _Stream(route, request, routes)
        url = _ws_url(self.base_url, self.mount_path)
        with connect(
            url, open_timeout=self.timeout, additional_headers=self._ws_headers
        ) as websocket:
            websocket.send(stream.subscribe_frame)
            while not stream.subscribed:
                stream.accept(websocket.recv(timeout=self.timeout))
            for frame in websocket:
                data = stream.accept(frame)
                if data is not None:
                    yield data


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
    ) -> None:
        """Connect to the server at ``base_url``, its root (no ``/api/v1/...``).

        Raises:
            ValueError: ``base_url`` is not an http(s) URL.
        """
        self.base_url = _root_url(base_url)
        self.timeout = timeout
        self._ws_headers = dict(headers or {})
        self._http = httpx.AsyncClient(
            base_url=self.base_url + self.mount_path,
            timeout=timeout,
            headers=headers,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
        response = await self._http.request(
            method,
            path,
            params=_query(params),
            headers=_headers(headers),
            json=None if body is None else _wire(body),
        )
        return _decode(response, returns)

    async def _subscribe(
        self, route: str, request: BaseModel, routes: WsRoutes
    ) -> AsyncGenerator[Any, None]:
        import asyncio

        from websockets.asyncio.client import connect

        stream = _Stream(route, request, routes)
        url = _ws_url(self.base_url, self.mount_path)
        async with connect(
            url, open_timeout=self.timeout, additional_headers=self._ws_headers
        ) as websocket:
            await websocket.send(stream.subscribe_frame)
            async with asyncio.timeout(self.timeout):
                while not stream.subscribed:
                    stream.accept(await websocket.recv())
            async for frame in websocket:
                data = stream.accept(frame)
                if data is not None:
                    yield data
