"""WebSocket routes of the broker, each subscribed per account with ``{accountId}``.

``trading specs build`` turns each alias into a class in ``ws_generated/``.
"""

from typing import TypeAlias

from trading_api.models.broker import (
    AccountSubscriptionRequest,
    BrokerConnectionData,
    EquityData,
    Execution,
    Order,
    Position,
)
from trading_api.shared.ws import WsRouter

OrdersRouter: TypeAlias = WsRouter[AccountSubscriptionRequest, Order]
PositionsRouter: TypeAlias = WsRouter[AccountSubscriptionRequest, Position]
ExecutionsRouter: TypeAlias = WsRouter[AccountSubscriptionRequest, Execution]
EquityRouter: TypeAlias = WsRouter[AccountSubscriptionRequest, EquityData]
BrokerConnectionRouter: TypeAlias = WsRouter[
    AccountSubscriptionRequest, BrokerConnectionData
]
