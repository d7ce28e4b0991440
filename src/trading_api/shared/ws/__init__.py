"""The real-time layer: WebSocket routes, the hub that serves them, their docs.

A module declares routes in ``ws.py`` (``BarsRouter: TypeAlias = WsRouter[Req,
Data]``, or ``Annotated[WsRouter[Req, Data], ConflateByKey("id")]`` to choose a
delivery class), ``trading specs build`` generates the classes into
``ws_generated/``, the module instantiates them with its service (a
:class:`WsRouteService`), and :class:`WsApp` serves them at ``/api/v1/<module>/ws``.
"""

from trading_api.shared.ws.app import WsApp
from trading_api.shared.ws.delivery import (
    ConflateByKey,
    ConflateByTopic,
    Delivery,
    Lossless,
)
from trading_api.shared.ws.hub import WsStats
from trading_api.shared.ws.limits import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_RESYNC,
    CLOSE_SLOW_CONSUMER,
    CLOSE_UNAUTHORIZED,
    WsLimits,
)
from trading_api.shared.ws.messages import ErrorCode, WsError, WsResponse
from trading_api.shared.ws.router import (
    Publish,
    WsRouter,
    WsRouteService,
    routers_from,
)
from trading_api.shared.ws.topics import parse_topic, request_from_topic, topic_for

__all__ = [
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_RESYNC",
    "CLOSE_SLOW_CONSUMER",
    "CLOSE_UNAUTHORIZED",
    "ConflateByKey",
    "ConflateByTopic",
    "Delivery",
    "ErrorCode",
    "Lossless",
    "Publish",
    "WsApp",
    "WsError",
    "WsLimits",
    "WsResponse",
    "WsRouteService",
    "WsRouter",
    "WsStats",
    "parse_topic",
    "request_from_topic",
    "routers_from",
    "topic_for",
]
