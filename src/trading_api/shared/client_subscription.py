"""WebSocket subscriptions of generated clients: one connection per subscription.

The protocol (see :mod:`trading_api.shared.ws.messages`): the client sends
``{"type": "<route>.subscribe", "payload": <request>}``; the server answers
``<route>.subscribe.response`` ``{status, message, topic}`` and then pushes
``<route>.update`` ``{topic, seq, payload}``. One connection per subscription keeps
streams independent: closing it makes the server release the topic.

A client with a token connects with ``Authorization: Bearer <token>``. When the
server closes the connection with 4401 (token missing, invalid or expired) and
the client has a refresh hook, the subscription renews the token, reconnects and
subscribes again; without a hook it raises :class:`SubscriptionError`. Any other
close the server gives a reason for ends the stream with
:class:`SubscriptionClosed`, which carries the close code: 4205 means updates
were lost (subscribe again and re-read the state), 4008 that the client read too
slowly, 1012 that the server is reloading (see docs/websocket.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection as AsyncConnection
    from websockets.sync.client import ClientConnection as SyncConnection

TData_co = TypeVar("TData_co", bound=BaseModel, covariant=True)

CLOSE_UNAUTHORIZED = 4401
"""The server's close code for a missing, invalid or expired token."""


class TokenSource(Protocol):
    """Where a sync subscription gets its bearer token (the client's auth)."""

    def current(self) -> str | None:
        """The token to connect with, if any."""
        ...

    def renew(self) -> bool:
        """Get a new token; False when the client has no refresh hook."""
        ...


class AsyncTokenSource(Protocol):
    """Where an async subscription gets its bearer token (the client's auth)."""

    async def current(self) -> str | None:
        """The token to connect with, if any."""
        ...

    async def renew(self) -> bool:
        """Get a new token; False when the client has no refresh hook."""
        ...


def _unauthorized(exc: BaseException) -> str | None:
    """The server's reason when ``exc`` is a 4401 close, else None."""
    received = getattr(exc, "rcvd", None)
    if received is not None and received.code == CLOSE_UNAUTHORIZED:
        return str(received.reason or "unauthorized")
    return None


def _closed_by_server(exc: BaseException) -> tuple[int, str] | None:
    """The server's close code and reason when ``exc`` is a close it sent with
    a code other than a normal one, else None."""
    received = getattr(exc, "rcvd", None)
    if received is None or received.code in (1000, 1001):
        return None
    return int(received.code), str(received.reason or "")


def _with_token(headers: Mapping[str, str], token: str | None) -> dict[str, str]:
    if token is None:
        return dict(headers)
    return {**headers, "Authorization": f"Bearer {token}"}


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


class SubscriptionClosed(SubscriptionError):
    """The server closed an open subscription's connection, saying why.

    Attributes:
        code: The WebSocket close code, e.g. 4205 (updates were lost: subscribe
            again and re-read the state over REST).
    """

    def __init__(self, route: str, code: int, reason: str) -> None:
        super().__init__(route, f"closed with {code}: {reason or 'no reason given'}")
        self.code = code


def _raise_if_closed(route: str, exc: BaseException) -> None:
    """Raise :class:`SubscriptionClosed` when ``exc`` is the server's close."""
    closed = _closed_by_server(exc)
    if closed is not None:
        raise SubscriptionClosed(route, *closed) from exc


class SubscriptionStream:
    """The protocol state of one subscription: what it sends, what it keeps."""

    def __init__(self, route: str, payload: Any, data_model: type[BaseModel]) -> None:
        self.route = route
        self.data_model = data_model
        self.topic = ""
        self.subscribe_frame = json.dumps(
            {"type": f"{route}.subscribe", "payload": payload}
        )

    def accept(self, frame: str | bytes) -> Any:
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


class Subscription(Generic[TData_co]):
    """One WebSocket subscription on its own connection, for sync code.

    Iterate it directly (``for order in client.subscribe(...)``): the connection
    opens on the first item and closes when the loop ends. Or enter it first
    (``with client.subscribe(...) as orders:``) to know the server confirmed the
    subscription before acting, e.g. placing the order whose fill you wait for.
    """

    def __init__(
        self,
        url: str,
        stream: SubscriptionStream,
        *,
        timeout: float,
        headers: Mapping[str, str],
        auth: TokenSource | None = None,
    ) -> None:
        self._url = url
        self._stream = stream
        self._timeout = timeout
        self._headers = headers
        self._auth = auth
        self._websocket: SyncConnection | None = None

    @property
    def topic(self) -> str:
        """The topic the server confirmed (empty before that)."""
        return self._stream.topic

    def open(self) -> None:
        """Connect, subscribe and wait for the server's confirmation.

        Raises:
            SubscriptionError: the server refused the subscription.
            TimeoutError: no confirmation within the client's timeout.
        """
        if self._websocket is not None:
            return
        try:
            self._connect()
        except BaseException as exc:
            reason = _unauthorized(exc)
            if reason is None:
                raise
            if self._auth is None or not self._auth.renew():
                raise SubscriptionError(self._stream.route, reason) from exc
            self._connect()

    def _connect(self) -> None:
        from websockets.sync.client import connect

        token = None if self._auth is None else self._auth.current()
        # Entered like a context manager: the form every websockets version
        # supports without a deprecation warning.
        self._websocket = connect(
            self._url,
            open_timeout=self._timeout,
            additional_headers=_with_token(self._headers, token),
        ).__enter__()
        self._stream.topic = ""
        try:
            self._websocket.send(self._stream.subscribe_frame)
            while not self._stream.topic:
                self._stream.accept(self._websocket.recv(timeout=self._timeout))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection; the server releases the topic."""
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            websocket.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[TData_co]:
        return self._updates()

    def _updates(self) -> Generator[TData_co, None, None]:
        owned = self._websocket is None  # not entered: the loop owns the connection
        try:
            self.open()
            while True:
                assert self._websocket is not None
                try:
                    for frame in self._websocket:
                        data = self._stream.accept(frame)
                        if data is not None:
                            yield data
                    return
                except Exception as exc:
                    # The token expired on an open stream: renew, resubscribe.
                    if _unauthorized(exc) is None or self._auth is None:
                        _raise_if_closed(self._stream.route, exc)
                        raise
                    self.close()
                    if not self._auth.renew():
                        raise
                    self.open()
        finally:
            if owned:
                self.close()


class AsyncSubscription(Generic[TData_co]):
    """One WebSocket subscription on its own connection, for async code.

    Iterate it directly (``async for bar in client.subscribe(...)``): the
    connection opens on the first item and closes when the loop ends. Or enter it
    first (``async with client.subscribe(...) as orders:``) to know the server
    confirmed the subscription before acting.
    """

    def __init__(
        self,
        url: str,
        stream: SubscriptionStream,
        *,
        timeout: float,
        headers: Mapping[str, str],
        auth: AsyncTokenSource | None = None,
    ) -> None:
        self._url = url
        self._stream = stream
        self._timeout = timeout
        self._headers = headers
        self._auth = auth
        self._websocket: AsyncConnection | None = None

    @property
    def topic(self) -> str:
        """The topic the server confirmed (empty before that)."""
        return self._stream.topic

    async def open(self) -> None:
        """Connect, subscribe and wait for the server's confirmation.

        Raises:
            SubscriptionError: the server refused the subscription.
            TimeoutError: no confirmation within the client's timeout.
        """
        if self._websocket is not None:
            return
        try:
            await self._connect()
        except BaseException as exc:
            reason = _unauthorized(exc)
            if reason is None:
                raise
            if self._auth is None or not await self._auth.renew():
                raise SubscriptionError(self._stream.route, reason) from exc
            await self._connect()

    async def _connect(self) -> None:
        import asyncio

        from websockets.asyncio.client import connect

        token = None if self._auth is None else await self._auth.current()
        self._websocket = await connect(
            self._url,
            open_timeout=self._timeout,
            additional_headers=_with_token(self._headers, token),
        )
        self._stream.topic = ""
        try:
            await self._websocket.send(self._stream.subscribe_frame)
            async with asyncio.timeout(self._timeout):
                while not self._stream.topic:
                    self._stream.accept(await self._websocket.recv())
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection; the server releases the topic."""
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            await websocket.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[TData_co]:
        return self._updates()

    async def _updates(self) -> AsyncGenerator[TData_co, None]:
        # Not entered: the loop owns the connection. Leaving an `async for` early
        # finalizes this generator (asyncio's asyncgen hooks), which closes it.
        owned = self._websocket is None
        try:
            await self.open()
            while True:
                assert self._websocket is not None
                try:
                    async for frame in self._websocket:
                        data = self._stream.accept(frame)
                        if data is not None:
                            yield data
                    return
                except Exception as exc:
                    # The token expired on an open stream: renew, resubscribe.
                    if _unauthorized(exc) is None or self._auth is None:
                        _raise_if_closed(self._stream.route, exc)
                        raise
                    await self.aclose()
                    if not await self._auth.renew():
                        raise
                    await self.open()
        finally:
            if owned:
                await self.aclose()
