"""The messages between ``trading dev``, its zygote and the zygote's forks.

The transport is a ``SOCK_SEQPACKET`` socket pair: every send is one whole
message and the record boundaries survive, so server and build processes forked
by the zygote can all report on the zygote's end of the pair without their
messages interleaving. When every holder of one end is gone, the other end reads
end-of-file: that is how the zygote notices that ``trading dev`` died.

Every message is a frozen dataclass below, sent with :func:`send` and read back
with :func:`decode`; nothing else is ever written to a channel. :data:`MESSAGES`
is the one table of kinds: the wire form is a JSON object whose ``op`` names the
class and whose other keys are its fields. A load failure crosses as a
:class:`~trading_cli.dev.failure.Failure` value, never as text to parse back.
Each receiver keeps one dispatch table from message class to handler and treats
a kind it does not handle as an error (see :func:`handler_for`).

=========  =======================  ===========================================
message    from, to                 meaning
=========  =======================  ===========================================
Serve      trading dev, spawner     fork a server for ``modules``
Build      trading dev, spawner     fork a build of specs and clients
Stop       trading dev, spawners    stop the server or build of that order
Swap       trading dev, server      replace one module inside a running server
                                    (on the control channel the server attached
                                    to its ``Serving``)
Restart    trading dev, zygote      the shared code changed: new spawner
Retire     zygote, spawner          take no orders; exit when children are gone
Quit       trading dev, zygote,     stop everything and exit
           spawners
Serving    server, trading dev      the server accepts (or failed to load);
                                    carries the server's control channel
Swapped    server, trading dev      a swap finished (or failed)
Built      build, trading dev       a build finished (or failed)
Exited     spawner, trading dev     a server or build process ended
=========  =======================  ===========================================
"""

import dataclasses
import json
import socket
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from trading_cli.dev.failure import Failure

MAX_MESSAGE = 1 << 20


@dataclass(frozen=True)
class Message:
    """Base of every channel message; ``op`` is its name on the wire."""

    op: ClassVar[str]


@dataclass(frozen=True)
class Serve(Message):
    """Fork a server for ``modules`` (None: all), regenerating the WS routers of
    ``codegen`` (None: every served module) first."""

    op: ClassVar[str] = "serve"
    id: int
    modules: list[str] | None
    codegen: list[str] | None


@dataclass(frozen=True)
class Build(Message):
    """Fork a low-priority build of the specs and clients of ``modules``."""

    op: ClassVar[str] = "build"
    id: int
    modules: list[str] | None


@dataclass(frozen=True)
class Stop(Message):
    """Stop the server or build started for order ``id``."""

    op: ClassVar[str] = "stop"
    id: int


@dataclass(frozen=True)
class Swap(Message):
    """Replace ``module`` in the server of order ``server``; ``id`` names the swap."""

    op: ClassVar[str] = "swap"
    id: int
    server: int
    module: str


@dataclass(frozen=True)
class Restart(Message):
    """The shared code changed: fork a new spawner, retire the current one."""

    op: ClassVar[str] = "restart"


@dataclass(frozen=True)
class Retire(Message):
    """Take no more orders; exit once the last child has stopped."""

    op: ClassVar[str] = "retire"


@dataclass(frozen=True)
class Quit(Message):
    """Stop every child and exit."""

    op: ClassVar[str] = "quit"


@dataclass(frozen=True)
class Serving(Message):
    """The server of order ``id`` accepts; ``failure`` says why its app is not
    loaded (it then answers 503). ``timeline``: the wall time each phase of the
    start ended (see :mod:`~trading_cli.dev.timeline`)."""

    op: ClassVar[str] = "serving"
    id: int
    pid: int
    modules: list[str]
    written: list[str]
    failure: Failure | None
    timeline: dict[str, float]


@dataclass(frozen=True)
class Swapped(Message):
    """Swap ``id`` finished: the new code of ``module`` serves since
    ``served_at`` (wall clock), or ``failure`` says why the old code goes on
    serving. ``timeline``: the wall time each phase of the swap ended."""

    op: ClassVar[str] = "swapped"
    id: int
    server: int
    module: str
    written: list[str]
    failure: Failure | None
    served_at: float
    timeline: dict[str, float]


@dataclass(frozen=True)
class Built(Message):
    """Build ``id`` finished: ``written`` files changed, or ``failure``."""

    op: ClassVar[str] = "built"
    id: int
    modules: list[str] | None
    written: list[str]
    failure: Failure | None
    seconds: float


@dataclass(frozen=True)
class Exited(Message):
    """A ``kind`` ("serve" or "build") process of order ``id`` ended."""

    op: ClassVar[str] = "exited"
    pid: int
    id: int
    kind: str
    code: int


MESSAGES: Mapping[str, type[Message]] = {
    cls.op: cls
    for cls in (
        Serve,
        Build,
        Stop,
        Swap,
        Restart,
        Retire,
        Quit,
        Serving,
        Swapped,
        Built,
        Exited,
    )
}
"""Every kind of message, by its wire name."""


class ChannelError(ValueError):
    """A record that is not a message of :data:`MESSAGES`."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of message sockets."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def encode(message: Message) -> bytes:
    """The wire form of ``message``.

    Raises:
        ValueError: the message is larger than :data:`MAX_MESSAGE`.
    """
    fields = {
        field.name: _plain(getattr(message, field.name))
        for field in dataclasses.fields(message)
    }
    data = json.dumps({"op": message.op, **fields}).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    return data


def send(
    sock: socket.socket, message: Message, attached: socket.socket | None = None
) -> None:
    """Send ``message`` as one record, with the socket ``attached`` if given (the
    receiver gets its own descriptor of it: see :func:`receive`).

    Raises:
        ValueError: the message is larger than :data:`MAX_MESSAGE`.
        OSError: the other end is gone.
    """
    if attached is None:
        sock.send(encode(message))
    else:
        socket.send_fds(sock, [encode(message)], [attached.fileno()])


def receive(sock: socket.socket) -> tuple[bytes, socket.socket | None]:
    """One record from a non-blocking ``sock`` and the socket attached to it, if
    any; ``b""`` when the other end is gone.

    Raises:
        BlockingIOError: nothing to read yet.
    """
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
    return data, socket.socket(fileno=fds[0]) if fds else None


def decode(data: bytes) -> Message:
    """The message in one received record.

    Raises:
        ChannelError: not a message of a known kind with the fields it needs.
    """
    try:
        raw = json.loads(data)
    except ValueError:
        raise ChannelError(f"not a channel message: {data[:80]!r}") from None
    if not isinstance(raw, dict) or raw.get("op") not in MESSAGES:
        raise ChannelError(f"not a channel message: {data[:80]!r}")
    cls = MESSAGES[raw.pop("op")]
    hints = typing.get_type_hints(cls)
    try:
        values = {name: _typed(hints[name], value) for name, value in raw.items()}
        return cls(**values)
    except (KeyError, TypeError) as exc:
        raise ChannelError(f"bad {cls.__name__} message: {exc}") from None


Handler = Callable[[Any], None]
"""A receiver's handler of one kind of message."""
H = TypeVar("H")


def handler_for(table: Mapping[type[Message], H], message: Message) -> H:
    """The handler of ``message`` in a receiver's dispatch table.

    Raises:
        ChannelError: this receiver does not handle that kind of message.
    """
    handler = table.get(type(message))
    if handler is None:
        raise ChannelError(f"unexpected {type(message).__name__} message")
    return handler


def _plain(value: object) -> object:
    if isinstance(value, Failure):
        return dataclasses.asdict(value)
    return value


def _typed(hint: object, value: object) -> object:
    if isinstance(value, dict) and Failure in (hint, *typing.get_args(hint)):
        return Failure(**value)
    return value
