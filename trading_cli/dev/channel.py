"""The message channel between ``trading dev``, its zygote and the zygote's forks.

A ``SOCK_SEQPACKET`` socket pair: every send is one whole JSON message and the
record boundaries survive, so server and build processes forked by the zygote can
all report on the zygote's end of the pair without their messages interleaving.
When every holder of one end is gone, the other end reads end-of-file: that is how
the zygote notices that ``trading dev`` died.

Messages (``op`` names the kind):

=========  ===================  ==================================================
op         from                 fields
=========  ===================  ==================================================
preloaded  zygote               ``pid``
serve      trading dev          ``id``, ``modules`` (None: all), ``codegen``
build      trading dev          ``id``, ``modules`` (None: all)
stop       trading dev          ``id`` of the server or build to stop
restart    trading dev          (re-import the shared code: it changed)
quit       trading dev          (stop everything and exit)
serving    server               ``id``, ``pid``, ``modules``, ``written``,
                                ``failure`` (None or {summary, block}),
                                ``unknown_module``
built      build                ``id``, ``written``, ``error``, ``seconds``
exited     zygote               ``pid``, ``id``, ``kind``, ``code``
=========  ===================  ==================================================
"""

import json
import socket
from typing import Any

MAX_MESSAGE = 1 << 20

Message = dict[str, Any]


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of message sockets: (``trading dev``'s end, zygote's end)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: Message) -> None:
    """Send one message as one record.

    Raises:
        ValueError: the message is larger than :data:`MAX_MESSAGE`.
        OSError: the other end is gone.
    """
    data = json.dumps(message).encode()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    sock.send(data)


def decode(data: bytes) -> Message:
    """The message in one received record."""
    message = json.loads(data)
    if not isinstance(message, dict) or "op" not in message:
        raise ValueError(f"not a channel message: {data[:80]!r}")
    return message
