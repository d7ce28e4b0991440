"""Query and path parameters read as the JSON text their schema publishes.

A query string is text, so ``?count_back=5`` is the integer 5. But pydantic's
lax parsing reads much more than the schema allows: ``" 5"``, ``"1_000"``,
``"05"`` and ``"+5"`` as integers, ``"nan"`` as a number, ``"yes"`` and ``"1"``
as booleans. Here a parameter whose schema is an integer, a number or a boolean
must be spelled as that JSON value (``5``, ``-2.5e3``, ``true``); anything else is
the usual 422 naming the parameter, before pydantic reads it. String parameters
are untouched.

:func:`check_parameter_text` is a dependency of every module app; a route
without such parameters pays one dictionary look-up.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable
from enum import Enum
from typing import Any, get_args, get_origin

from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection

__all__ = ["check_parameter_text"]

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


async def check_parameter_text(request: HTTPConnection) -> None:
    """A dependency for every route of an app: refuse query and path parameters
    that do not spell their schema's JSON type (see the module docstring).

    Raises:
        RequestValidationError: naming each misspelled parameter (a 422).
    """
    if request.scope["type"] != "http":
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    kinds = _kinds(route, dependant)
    if not kinds:
        return
    query, path = kinds
    errors: list[dict[str, Any]] = []
    if query and request.scope.get("query_string"):
        errors += _misspelled("query", request.query_params.multi_items(), query)
    if path:
        errors += _misspelled("path", request.path_params.items(), path)
    if errors:
        raise RequestValidationError(errors)


_KINDS: dict[int, tuple[object, tuple[dict[str, str], dict[str, str]] | None]] = {}


def _kinds(
    route: object, dependant: Any
) -> tuple[dict[str, str], dict[str, str]] | None:
    """The typed query and path parameters of ``route``, worked out once."""
    cached = _KINDS.get(id(route))
    if cached is not None and cached[0] is route:
        return cached[1]
    query = _typed(dependant.query_params)
    path = _typed(dependant.path_params)
    found = (query, path) if query or path else None
    _KINDS[id(route)] = (route, found)
    return found


def _misspelled(
    where: str, pairs: Iterable[tuple[str, Any]], typed: dict[str, str]
) -> list[dict[str, Any]]:
    errors = []
    for name, value in pairs:
        kind = typed.get(name)
        if kind is None or not isinstance(value, str):
            continue
        pattern, error_type, message = _SPELLINGS[kind]
        if not pattern.fullmatch(value):
            loc = (where, name)
            errors.append(
                {"type": error_type, "loc": loc, "msg": message, "input": value}
            )
    return errors


def _typed(params: Iterable[Any]) -> dict[str, str]:
    """The JSON type of each parameter that has one besides string, by name."""
    found = {}
    for param in params:
        kind = _json_type(param.field_info.annotation)
        if kind is not None:
            found[param.alias] = kind
    return found


def _json_type(annotation: Any) -> str | None:
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
