"""Limits of the WebSocket hub and the close codes it uses past them.

Close codes a client may see (besides the standard ones uvicorn sends on shutdown):

* ``4008`` (:data:`CLOSE_SLOW_CONSUMER`): the connection's send queue passed one of
  its hard limits, in messages (:attr:`WsLimits.send_queue_hard_limit`) or in bytes
  (:attr:`WsLimits.send_queue_hard_bytes`). Conflating routes are conflated first
  (see :mod:`trading_api.shared.ws.delivery`), so this happens to a client that
  stops reading a lossless stream, or a conflating one with more distinct items
  than the limits hold. Reconnect and resubscribe.
* ``1011`` (:data:`CLOSE_INTERNAL_ERROR`): the server could not send a message on
  this connection (a bug, reported in the server log). The connection's
  subscriptions are released at once. Reconnect and resubscribe.

* ``4401`` (:data:`CLOSE_UNAUTHORIZED`): no bearer token, or one that is
  malformed, forged, expired or meant for another issuer or audience, at connect
  time; or the token expired while the connection was open. The reason says
  which. Get a fresh token and reconnect.

* ``4205`` (:data:`CLOSE_RESYNC`): the service lost updates it cannot replay
  (the broker's event bus dropped messages), so what the client shows may be
  stale. Reconnect at once, resubscribe, and read the state again over REST
  (TradingView: ``ordersFullUpdate()``, ``positionsFullUpdate()``).

A connection whose ``Origin`` is not on the CORS list is refused at the
handshake with HTTP 403: it never opens.

Everything else a client can do wrong (invalid JSON or Unicode, nesting too deep,
unknown type, invalid payload, oversize frame, too many topics) gets a message and
leaves the connection open.
"""

from dataclasses import dataclass, fields

CLOSE_SLOW_CONSUMER = 4008
"""Close code sent when a connection's send queue passes a hard limit."""

CLOSE_INTERNAL_ERROR = 1011
"""Close code sent when the server fails to send on a connection."""

CLOSE_UNAUTHORIZED = 4401
"""Close code sent when a connection's token is missing, invalid or expired."""

CLOSE_RESYNC = 4205
"""Close code sent when a service lost updates its subscribers needed: reset the
view (as HTTP 205 Reset Content says), reconnect, resubscribe and re-read."""

CLOSE_RELOADING = 1012
"""Close code of a connection whose module was reloaded by ``trading dev``:
1012, "service restart" in RFC 6455's registry."""

CLOSE_CODES: dict[int, tuple[str, str]] = {
    CLOSE_SLOW_CONSUMER: (
        "the send queue passed a hard limit (messages or bytes); the reason "
        "ends with `messages` or `bytes`",
        "read faster, subscribe to less, or reconnect and resubscribe",
    ),
    CLOSE_UNAUTHORIZED: (
        "no bearer token, a bad one, or the token expired while connected; "
        "the reason says which",
        "get a fresh token, reconnect and resubscribe",
    ),
    CLOSE_RESYNC: (
        "the service lost updates it cannot replay, so what the client shows "
        "may be stale; only connections holding a subscription are closed",
        "reconnect at once, resubscribe, and read the state again over REST",
    ),
    CLOSE_INTERNAL_ERROR: (
        "the server failed to send on this connection (a bug, in its log)",
        "reconnect and resubscribe",
    ),
    CLOSE_RELOADING: (
        "the module was reloaded (`trading dev` swapped in edited code)",
        "reconnect and resubscribe",
    ),
}
"""Every close code the server sends on purpose: code -> (when, what to do).
The AsyncAPI documents publish this table (``x-close-codes`` of the control
channel), and docs/websocket.md lists the same codes."""

MIB = 1024 * 1024


@dataclass(frozen=True)
class WsLimits:
    """Per-connection limits of a :class:`~trading_api.shared.ws.WsApp`.

    Queue sizes count every queued outgoing message (updates and replies); bytes
    are the UTF-8 size of the JSON text. A frame shared by many connections counts
    in full on each, so the bound holds whatever the fan-out.

    Attributes:
        max_frame_bytes: Largest accepted incoming text frame, in UTF-8 bytes. A
            larger frame gets an ``error`` with code ``frame_too_large``. (The
            server's own limit, uvicorn's ``ws_max_size``, 16 MiB by default, still
            closes the connection for frames above it.)
        max_nesting_depth: Deepest nesting of arrays and objects accepted in an
            incoming frame; a deeper one gets an ``error`` with code
            ``nesting_too_deep``.
        max_topics_per_connection: Topics one connection may hold at once; past it
            a subscribe is answered with ``status: "error"``.
        send_queue_soft_limit: Queued outgoing messages from which conflating
            routes replace queued updates instead of queueing behind them.
        send_queue_hard_limit: Queued outgoing messages past which the connection
            is closed with :data:`CLOSE_SLOW_CONSUMER`.
        send_queue_soft_bytes: Like ``send_queue_soft_limit``, in bytes.
        send_queue_hard_bytes: Like ``send_queue_hard_limit``, in bytes: what a
            client that never reads can cost the server, at most.
    """

    max_frame_bytes: int = 64 * 1024
    max_nesting_depth: int = 32
    max_topics_per_connection: int = 128
    send_queue_soft_limit: int = 256
    send_queue_hard_limit: int = 4096
    send_queue_soft_bytes: int = 1 * MIB
    send_queue_hard_bytes: int = 4 * MIB

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"WsLimits: {field.name} must be a whole number >= 1, got {value!r}"
                )
        pairs = [
            ("send_queue_soft_limit", "send_queue_hard_limit"),
            ("send_queue_soft_bytes", "send_queue_hard_bytes"),
        ]
        for soft, hard in pairs:
            if getattr(self, soft) >= getattr(self, hard):
                raise ValueError(
                    f"WsLimits: need {soft} < {hard}, got "
                    f"{getattr(self, soft)} and {getattr(self, hard)}"
                )
