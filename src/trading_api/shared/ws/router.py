"""WebSocket routes: what a module declares, what its service implements.

A module declares its routes in ``ws.py`` as type aliases
(``BarsRouter: TypeAlias = WsRouter[BarsSubscriptionRequest, Bar]``);
``trading specs build`` turns each alias into a concrete class in ``ws_generated/``
that names its route and models, and the module instantiates those classes with its
service.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

TRequest = TypeVar("TRequest", bound=BaseModel)
TData = TypeVar("TData", bound=BaseModel)

Publish = Callable[[BaseModel], None]
"""Push one item to every subscriber of a topic.

Synchronous and non-blocking: it serializes the item once and queues it on each
subscriber's connection. Call it from the event loop thread. Calls after the topic
was removed are ignored, so a data source that stops a little late is harmless.
"""

ROUTE_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class WsRouteService(Protocol):
    """What a module service implements to feed its WebSocket routes.

    The hub counts subscribers of every topic across all connections and calls
    these two methods only on the edges, never twice in a row for one topic.
    """

    async def create_topic(self, topic: str, publish: Publish) -> None:
        """Start producing data for ``topic`` (its first subscriber arrived).

        Keep ``publish`` and call it with each new item of the route's data model.
        Items published before this method returns reach the first subscribers
        right after their subscribe response. Raising fails their subscription.
        """
        ...

    async def remove_topic(self, topic: str) -> None:
        """Stop producing data for ``topic`` (its last subscriber left)."""
        ...


class WsRouter(Generic[TRequest, TData]):
    """One WebSocket route of a module: its name, request and data models, service.

    Concrete subclasses are generated (see :mod:`trading_api.shared.ws.codegen`) and
    set the three class attributes.

    Attributes:
        route: kebab-case route name; messages are ``<route>.subscribe`` and so on.
        request_model: the subscription request model (``TRequest``).
        data_model: the model of every pushed update (``TData``).
        service: the service that produces the route's data.
    """

    route: ClassVar[str]
    request_model: ClassVar[type[BaseModel]]
    data_model: ClassVar[type[BaseModel]]

    def __init__(self, service: WsRouteService) -> None:
        """Bind the route to the service that feeds it.

        Raises:
            TypeError: the class does not define ``route``, ``request_model`` and
                ``data_model`` (an alias was instantiated instead of the class
                generated from it), or the route name is not kebab-case.
        """
        cls = type(self)
        missing = [
            attr
            for attr in ("route", "request_model", "data_model")
            if not hasattr(cls, attr)
        ]
        if missing:
            raise TypeError(
                f"{cls.__name__} lacks {', '.join(missing)}; instantiate the class "
                "generated in ws_generated/ (run `trading specs build`), "
                "not the WsRouter[...] alias"
            )
        if not ROUTE_PATTERN.match(cls.route):
            raise TypeError(
                f"{cls.__name__}.route {cls.route!r} is not kebab-case "
                "(lowercase letters, digits and single hyphens)"
            )
        self.service = service

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(route={self.route!r}, "
            f"request={self.request_model.__name__}, data={self.data_model.__name__})"
        )


AnyWsRouter = WsRouter[Any, Any]


def routers_from(generated: ModuleType, service: WsRouteService) -> list[AnyWsRouter]:
    """Bind every router class a ``ws_generated`` package exports to ``service``.

    A module that serves all the routes its ``ws.py`` declares uses this, so a new
    declaration is served as soon as it is generated:
    ``routers_from(ws_generated, self.service)``.
    """
    return [getattr(generated, name)(service) for name in generated.__all__]
