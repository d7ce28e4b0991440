"""Limits of the WebSocket hub and the close codes it uses past them.

Close codes a client may see (besides the standard ones uvicorn sends on shutdown):

* ``4008`` (:data:`CLOSE_SLOW_CONSUMER`): the connection's send queue passed
  :attr:`WsLimits.send_queue_hard_limit`. Updates are conflated first (latest wins
  per topic), so this only happens to a client that stops reading while it keeps
  asking for replies (pings, subscribes). Reconnect and resubscribe.

Everything else a client can do wrong (invalid JSON, unknown type, invalid payload,
oversize frame, too many topics) gets a message and leaves the connection open.
"""

from dataclasses import dataclass

CLOSE_SLOW_CONSUMER = 4008
"""Close code sent when a connection's send queue passes the hard limit."""


@dataclass(frozen=True)
class WsLimits:
    """Per-connection limits of a :class:`~trading_api.shared.ws.WsApp`.

    Attributes:
        max_frame_bytes: Largest accepted incoming text frame, in UTF-8 bytes. A
            larger frame gets an ``error`` with code ``frame_too_large``. (The
            server's own limit, uvicorn's ``ws_max_size``, 16 MiB by default, still
            closes the connection for frames above it.)
        max_topics_per_connection: Topics one connection may hold at once; past it
            a subscribe is answered with ``status: "error"``.
        send_queue_soft_limit: Queued outgoing messages from which updates of a
            topic that already has one queued replace it (latest wins) instead of
            queueing behind it.
        send_queue_hard_limit: Queued outgoing messages past which the connection
            is closed with :data:`CLOSE_SLOW_CONSUMER`.
    """

    max_frame_bytes: int = 64 * 1024
    max_topics_per_connection: int = 128
    send_queue_soft_limit: int = 256
    send_queue_hard_limit: int = 4096

    def __post_init__(self) -> None:
        if min(self.max_frame_bytes, self.max_topics_per_connection) < 1:
            raise ValueError("WsLimits: every limit must be at least 1")
        if not 1 <= self.send_queue_soft_limit < self.send_queue_hard_limit:
            raise ValueError(
                "WsLimits: need 1 <= send_queue_soft_limit < send_queue_hard_limit, "
                f"got {self.send_queue_soft_limit} and {self.send_queue_hard_limit}"
            )
