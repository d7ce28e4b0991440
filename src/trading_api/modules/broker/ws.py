"""WebSocket routes of the broker, each subscribed per account with ``{accountId}``.

``trading specs build`` turns each alias into a class in ``ws_generated/``.
Delivery: a slow client still gets the last state of every order and position
(conflated by ``id``) and every execution (lossless); equity and the connection
status only matter as their newest value (latest per topic).
"""

from typing import Annotated, TypeAlias

from trading_api.models.broker import (
    AccountSubscriptionRequest,
    BrokerConnectionData,
    EquityData,
    Execution,
    Order,
    Position,
)
from trading_api.shared.ws import ConflateByKey, ConflateByTopic, Lossless, WsRouter

OrdersRouter: TypeAlias = Annotated[
    WsRouter[AccountSubscriptionRequest, Order], ConflateByKey("id")
]
PositionsRouter: TypeAlias = Annotated[
    WsRouter[AccountSubscriptionRequest, Position], ConflateByKey("id")
]
ExecutionsRouter: TypeAlias = Annotated[
    WsRouter[AccountSubscriptionRequest, Execution], Lossless()
]
EquityRouter: TypeAlias = Annotated[
    WsRouter[AccountSubscriptionRequest, EquityData], ConflateByTopic()
]
BrokerConnectionRouter: TypeAlias = Annotated[
    WsRouter[AccountSubscriptionRequest, BrokerConnectionData], ConflateByTopic()
]
