"""Topic names: a route plus the canonical JSON of a subscription request.

Two requests that mean the same thing (same fields, any key order) give the same
topic, so subscribers share one data source. The server sends the topic in every
subscribe response and update, so clients never have to build it themselves.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel

TModel = TypeVar("TModel", bound=BaseModel)


def topic_for(route: str, request: BaseModel) -> str:
    """Return the topic of ``request`` on ``route``.

    The topic is ``route + ":" + JSON`` where the JSON has sorted keys, no
    whitespace, non-ASCII kept as is and ``null`` kept, e.g.
    ``bars:{"resolution":"1","symbol":"AAPL"}``.
    """
    params = json.dumps(
        request.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f"{route}:{params}"


def parse_topic(topic: str) -> tuple[str, dict[str, Any]]:
    """Split a topic into its route and its request parameters.

    Raises:
        ValueError: ``topic`` was not made by :func:`topic_for`.
    """
    route, sep, params = topic.partition(":")
    if not sep or not route:
        raise ValueError(f"not a topic (expected 'route:{{...}}'): {topic!r}")
    try:
        request = json.loads(params)
    except json.JSONDecodeError as exc:
        raise ValueError(f"topic {topic!r} has invalid request JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise ValueError(f"topic {topic!r} does not hold a JSON object")
    return route, request


def request_from_topic(topic: str, model: type[TModel]) -> TModel:
    """Rebuild the typed subscription request a topic was made from.

    A convenience for services: ``request_from_topic(topic, BarsRequest)``.

    Raises:
        ValueError: ``topic`` is not a topic or does not fit ``model``.
    """
    _, params = parse_topic(topic)
    return model.model_validate(params)
