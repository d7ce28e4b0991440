"""Query and path parameters read as the JSON text their schema publishes.

A query string is text, so ``?count_back=5`` is the integer 5. But pydantic's
lax parsing reads much more than the schema allows: ``" 5"``, ``"1_000"``,
``"05"`` and ``"+5"`` as integers, ``"nan"`` as a number, ``"yes"`` and ``"1"``
as booleans. Here a parameter whose schema is an integer (an integer enum
included), a number or a boolean must be spelled as that JSON value (``5``,
``-2.5e3``, ``true``); anything else is the usual 422 naming the parameter,
before pydantic reads it. String parameters are untouched.

:class:`ParameterTextGuard` is a module app's route that takes such requests
before the app's own routes (after the routing and authentication guards: a
closed operation's anonymous caller gets its 401 first); it reads the app's
documented routes on its first request (not the OpenAPI document, which is slow
to generate), and an app without typed parameters pays one check per request.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable
from enum import Enum
from typing import Any, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from trading_api.shared.http_routes import PathTemplate, route_path

__all__ = ["ParameterTextGuard"]

_INTEGER = r"-?(?:0|[1-9][0-9]*)(?:\.0+)?"
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_SPELLINGS: dict[str, tuple[re.Pattern[str], str, str]] = {
    "integer": (
        re.compile(_INTEGER),
        "int_parsing",
        "Input should be a valid integer, written as a JSON integer (like 5)",
    ),
    "number": (
        re.compile(_NUMBER),
        "float_parsing",
        "Input should be a valid number, written as a JSON number (like 2.5)",
    ),
    "boolean": (
        re.compile("true|false"),
        "bool_parsing",
        "Input should be a valid boolean, written true or false",
    ),
}

Kinds = dict[str, str]
"""Parameter name -> JSON type (``integer``, ``number``, ``boolean``)."""


class _Operation(PathTemplate):
    """The typed parameters of one path template, by method."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.methods: dict[str, tuple[Kinds, Kinds]] = {}


class ParameterTextGuard(BaseRoute):
    """A route ahead of a module app's own: answers 422 to a request whose typed
    query or path parameter is not spelled as its JSON value."""

    is_guard = True
    """Answers refusals only: never a method the path serves."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._operations: list[_Operation] | None = None
        self._concrete: frozenset[str] = frozenset()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        operations = self._operations
        if operations is None:
            operations = self._operations = self._typed_operations()
        if not operations or scope["type"] != "http":
            return Match.NONE, {}
        path = route_path(scope)
        for operation in operations:
            found = operation.match(path, self._concrete)
            if found is None:
                continue
            kinds = operation.methods.get(scope["method"])
            if kinds is None:
                continue
            query, in_path = kinds
            errors = _misspelled("path", found.groupdict().items(), in_path)
            if query and scope.get("query_string"):
                text = scope["query_string"].decode("latin-1")
                pairs = parse_qsl(text, keep_blank_values=True)
                errors += _misspelled("query", pairs, query)
            if errors:
                return Match.FULL, {"parameter_errors": errors}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        from trading_api.shared.http_errors import json_safe

        errors = scope["parameter_errors"]
        response = JSONResponse({"detail": json_safe(errors)}, status_code=422)
        await response(scope, receive, send)

    def _typed_operations(self) -> list[_Operation]:
        # The documented routes the OpenAPI document is made of, read directly:
        # generating the document would make a fresh app's first request slow.
        by_path: dict[str, _Operation] = {}
        concrete = set()
        for route in iter_route_contexts(self.app.routes):
            api = isinstance(route.original_route, APIRoute)
            if not (api and route.include_in_schema and route.path_format):
                continue
            path = route.path_format
            if "{" not in path:
                concrete.add(path)
            dependant = route.dependant
            if dependant is None:
                continue
            query = _typed(dependant.query_params)
            in_path = _typed(dependant.path_params)
            if query or in_path:
                operation = by_path.setdefault(path, _Operation(path))
                for method in route.methods or ():
                    operation.methods[method.upper()] = (query, in_path)
        self._concrete = frozenset(concrete)
        return list(by_path.values())


def _misspelled(
    where: str, pairs: Iterable[tuple[str, Any]], typed: Kinds
) -> list[dict[str, Any]]:
    errors = []
    for name, value in pairs:
        kind = typed.get(name)
        if kind is None or not isinstance(value, str):
            continue
        pattern, error_type, message = _SPELLINGS[kind]
        if not pattern.fullmatch(value):
            loc = [where, name]
            errors.append(
                {"type": error_type, "loc": loc, "msg": message, "input": value}
            )
    return errors


def _typed(params: Iterable[Any]) -> Kinds:
    """The JSON type of each parameter that is not a string, by wire name."""
    found = {}
    for param in params:
        kind = _json_type(param.field_info.annotation)
        if kind in _SPELLINGS:
            found[param.alias] = kind
    return found


def _json_type(annotation: Any) -> str | None:
    """``integer``, ``number``, ``boolean`` (or ``null``) for an annotation that
    the schema publishes as that type, else None."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _json_type(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_json_type(arg) for arg in get_args(annotation)} - {"null"}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is type(None):
        return "null"
    if annotation is bool:
        return "boolean"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "integer" if issubclass(annotation, int) else None
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    return None
