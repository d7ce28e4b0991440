"""What the request guards of a module app share: the path its routes see, and
documented path templates matched the way OpenAPI resolves them.

The guards (:mod:`~trading_api.shared.http_methods`,
:mod:`~trading_api.shared.http_params`,
:mod:`~trading_api.shared.auth._guard`) are routes put in front of a module
app's own; each decides from a table of the app's operations whether a request
is its to answer.
"""

from __future__ import annotations

import re

from starlette.routing import compile_path
from starlette.types import Scope

__all__ = ["PathTemplate", "route_path"]


def route_path(scope: Scope) -> str:
    """The request's path as the app's routes see it: without the mount prefix."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


class PathTemplate:
    """One documented path (``/orders/{order_id}`` or ``/orders/preview``)."""

    def __init__(self, path: str) -> None:
        self.regex = compile_path(path)[0]
        self.templated = "{" in path

    def match(self, path: str, concrete: frozenset[str]) -> re.Match[str] | None:
        """Whether ``path`` is this operation's; a template never takes a path
        that a concrete route of the app (one of ``concrete``) serves."""
        if self.templated and path in concrete:
            return None
        return self.regex.match(path)
