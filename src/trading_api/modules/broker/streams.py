"""Who listens to which account: the broker's side of its WebSocket topics.

Every broker route is subscribed with ``{accountId}``, so a topic names one route
and one account.
"""

from collections.abc import Callable

from pydantic import BaseModel

from trading_api.models.broker import AccountSubscriptionRequest
from trading_api.shared.ws.topics import parse_topic

from .ws_generated import (
    BrokerConnectionRouter,
    EquityRouter,
    ExecutionsRouter,
    OrdersRouter,
    PositionsRouter,
)

Publish = Callable[[BaseModel], None]
ORDERS = OrdersRouter.route
POSITIONS = PositionsRouter.route
EXECUTIONS = ExecutionsRouter.route
EQUITY = EquityRouter.route
BROKER_CONNECTION = BrokerConnectionRouter.route
ROUTES = (ORDERS, POSITIONS, EXECUTIONS, EQUITY, BROKER_CONNECTION)


def parse_account_topic(topic: str) -> tuple[str, str]:
    """Return ``(route, account_id)`` of a broker topic.

    Raises:
        ValueError: not a broker topic.
    """
    route, params = parse_topic(topic)
    if route not in ROUTES:
        raise ValueError(f"unknown broker route {route!r}; expected one of {ROUTES}")
    request = AccountSubscriptionRequest.model_validate(params)
    return route, request.account_id


class Subscribers:
    """The publish callback of every (route, account) that has subscribers."""

    def __init__(self) -> None:
        """Start with nobody listening."""
        self._publishers: dict[tuple[str, str], Publish] = {}
        self._keys: dict[str, tuple[str, str]] = {}

    def add(self, topic: str, publish: Publish) -> tuple[str, str]:
        """Register a topic's callback; return its (route, account)."""
        key = parse_account_topic(topic)
        self._publishers[key] = publish
        self._keys[topic] = key
        return key

    def remove(self, topic: str) -> None:
        """Forget a topic (its last subscriber left)."""
        key = self._keys.pop(topic, None)
        if key is not None:
            self._publishers.pop(key, None)

    def listening(self, route: str, account_id: str) -> bool:
        """Whether anyone subscribed to ``route`` for ``account_id``."""
        return (route, account_id) in self._publishers

    def publish(self, route: str, account_id: str, item: BaseModel) -> None:
        """Push ``item`` to the subscribers of ``route`` for ``account_id``, if any.

        ``item`` must not change afterwards (the engine sends snapshots).
        """
        publish = self._publishers.get((route, account_id))
        if publish is not None:
            publish(item)
