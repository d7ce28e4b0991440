"""Delivery classes: what the hub may do with a route's updates under pressure.

A route declares its class next to its alias in the module's ``ws.py``::

    OrdersRouter: TypeAlias = Annotated[
        WsRouter[AccountSubscriptionRequest, Order], ConflateByKey("id")
    ]

While a client reads as fast as updates come, every class delivers every update.
They differ only once the client's send queue passes its soft limit (see
:class:`~trading_api.shared.ws.limits.WsLimits`):

* :class:`ConflateByKey` (``conflate-by-key``): a new update replaces the queued,
  unsent update of the same item (same topic and same key fields), so the client
  still gets the newest state of every item; updates of other items are never
  dropped.
* :class:`ConflateByTopic` (``conflate-by-topic``): a new update replaces the queued
  update of the same topic (latest wins). For streams where only the newest value
  matters (equity, a connection status).
* :class:`Lossless` (``lossless``, the default): never replaced, never dropped; a
  client too slow for the stream is closed with 4008 past the hard limit.

A replaced update moves to the back of the queue, so ``seq`` still grows
through each topic; a gap in ``seq`` is the sign that updates were conflated.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

from pydantic import BaseModel

__all__ = [
    "DELIVERY_CLASSES",
    "ConflateByKey",
    "ConflateByTopic",
    "Delivery",
    "Lossless",
]

KeyOf = Callable[[BaseModel], Hashable]
"""Compute an update's conflation key (within its topic) from the item."""


class Delivery:
    """Base of the delivery classes; use one of its three subclasses."""

    kind: ClassVar[str]
    """The class's name in AsyncAPI (``x-delivery.class``) and in the docs."""

    def key_of(self, data_model: type[BaseModel]) -> KeyOf | None:
        """How to key an item for conflation within its topic.

        None: updates are never conflated (lossless). A function returning a
        constant: one update per topic. Otherwise one update per item key.

        Raises:
            TypeError: the declaration does not fit ``data_model``.
        """
        raise NotImplementedError

    def asyncapi(self, data_model: type[BaseModel]) -> dict[str, Any]:
        """The ``x-delivery`` value published on the route's AsyncAPI channel."""
        return {"class": self.kind}

    def describe(self, data_model: type[BaseModel]) -> str:
        """One sentence for the channel's description."""
        raise NotImplementedError


@dataclass(frozen=True, init=False)
class ConflateByKey(Delivery):
    """Keep the newest queued update of each item; never drop other items.

    Args:
        *fields: the data model's fields (Python names) that identify an item,
            e.g. ``ConflateByKey("id")`` for orders, ``ConflateByKey("n")`` for
            quotes keyed by symbol; a dotted path reaches into a nested model
            (``ConflateByKey("item.id")``). Their values must be hashable.
    """

    kind: ClassVar[str] = "conflate-by-key"
    fields: tuple[str, ...]

    def __init__(self, *fields: str) -> None:
        if not fields or not all(isinstance(f, str) and f for f in fields):
            raise TypeError('ConflateByKey needs field names, e.g. ConflateByKey("id")')
        if len(set(fields)) != len(fields):
            raise TypeError(f"ConflateByKey{fields!r} repeats a field")
        object.__setattr__(self, "fields", fields)

    def key_of(self, data_model: type[BaseModel]) -> KeyOf:
        """An item's key: its field value, or a tuple of values for several."""
        self.wire_fields(data_model)  # raises for a field the model lacks
        getter: KeyOf = attrgetter(*self.fields)
        return getter

    def wire_fields(self, data_model: type[BaseModel]) -> list[str]:
        """The key fields as they appear in JSON (their serialization aliases).

        Raises:
            TypeError: a field (or a step of a dotted path) does not exist.
        """
        return [_wire_path(data_model, path) for path in self.fields]

    def asyncapi(self, data_model: type[BaseModel]) -> dict[str, Any]:
        """``{"class": "conflate-by-key", "key": [<JSON field names>]}``."""
        return {"class": self.kind, "key": self.wire_fields(data_model)}

    def describe(self, data_model: type[BaseModel]) -> str:
        """Prose for the channel description."""
        key = ", ".join(f"`{f}`" for f in self.wire_fields(data_model))
        return (
            f"Delivery: conflate by key ({key}). A client that falls behind gets the "
            f"newest {data_model.__name__} of every {key} it missed; an older "
            "queued update of the same item is replaced, other items are never "
            "dropped. Gaps in `seq` mark replaced updates."
        )

    def __repr__(self) -> str:
        return f"ConflateByKey({', '.join(map(repr, self.fields))})"


def _wire_path(model: type[BaseModel], path: str) -> str:
    out = []
    current: Any = model
    for step in path.split("."):
        fields = getattr(current, "model_fields", None)
        if not isinstance(fields, dict) or step not in fields:
            known = ", ".join(fields or {}) or "none"
            where = getattr(current, "__name__", repr(current))
            raise TypeError(
                f"ConflateByKey: {where} has no field {step!r} (fields: {known})"
            )
        info = fields[step]
        out.append(info.serialization_alias or info.alias or step)
        current = info.annotation
    return ".".join(out)


def _topic_key(_: BaseModel) -> Hashable:
    return None


@dataclass(frozen=True)
class ConflateByTopic(Delivery):
    """Keep only the newest queued update of each topic (latest wins)."""

    kind: ClassVar[str] = "conflate-by-topic"

    def key_of(self, data_model: type[BaseModel]) -> KeyOf:
        """The same key for every item: one queued update per topic."""
        return _topic_key

    def describe(self, data_model: type[BaseModel]) -> str:
        """Prose for the channel description."""
        return (
            "Delivery: conflate by topic (latest wins). A client that falls behind "
            f"gets the newest {data_model.__name__} of the topic; older queued "
            "updates are replaced. Gaps in `seq` mark replaced updates."
        )


@dataclass(frozen=True)
class Lossless(Delivery):
    """Deliver every update in order, or close the connection with 4008."""

    kind: ClassVar[str] = "lossless"

    def key_of(self, data_model: type[BaseModel]) -> None:
        """No key: lossless updates are never conflated."""
        return None

    def describe(self, data_model: type[BaseModel]) -> str:
        """Prose for the channel description."""
        return (
            "Delivery: lossless. Every update is delivered in order, `seq` has no "
            "gaps; a client that falls behind past the send queue's hard limit is "
            "closed with code 4008 and must reconnect and resubscribe."
        )


DELIVERY_CLASSES: dict[str, type[Delivery]] = {
    cls.__name__: cls for cls in (ConflateByKey, ConflateByTopic, Lossless)
}
"""The classes a ``ws.py`` declaration may name, by class name."""
