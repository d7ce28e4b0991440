"""How the API answers a request it cannot serve: one shape for every refusal.

Installed on every module app and on the root app:

* **422** for any request the schema refuses, parse errors included: a body that
  is not JSON, not UTF-8 or nested too deeply to parse is ``json_invalid`` at
  ``["body"]``, never a bare 400.
  ``loc`` always uses the wire names (``limitPrice``, not ``limit_price``), the
  names the OpenAPI document publishes, whichever spelling the client sent.
  The answer is always valid JSON: a NaN, an infinity or a lone surrogate in the
  rejected input is echoed as a string, never as invalid JSON or a 500.
* **413** for a body over the size limit, documented on every operation that
  takes one (:mod:`trading_api.shared.http_limits`).
* **405** lists in ``Allow`` every method the path serves, and a concrete path
  wins over a templated one (:mod:`trading_api.shared.http_methods`).
* Query and path parameters typed integer, number or boolean must be spelled
  as that JSON value (:mod:`trading_api.shared.http_params`).
* **401** for a closed operation without a valid bearer token comes before any
  422 or 400 of the request's content, after the 404/405 of routing
  (:mod:`trading_api.shared.auth._guard`).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from trading_api.shared.http_limits import document_body_limit
from trading_api.shared.http_methods import ConcretePathGuard, method_not_allowed
from trading_api.shared.http_params import ParameterTextGuard

__all__ = ["install_error_handlers", "json_safe"]

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
ECHO_DEPTH = 32
"""How deep a refused input is echoed in a 422 (as the WebSocket frame limit)."""


def install_error_handlers(app: FastAPI, *, guard_paths: bool = True) -> None:
    """Answer validation, parse and method errors of ``app`` in the shapes above.

    ``guard_paths`` adds the :class:`ConcretePathGuard`, which reads ``app``'s
    OpenAPI document on its first request; an app that only mounts others and
    serves its docs (the root app) needs none.
    """
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    document_body_limit(app)
    if guard_paths:
        from trading_api.shared.auth._guard import AuthenticationGuard

        # Tried in this order: routing refusals (405), then the token of a
        # closed operation (401), then the parameters' text (422).
        app.router.routes.insert(0, ParameterTextGuard(app))
        app.router.routes.insert(0, AuthenticationGuard(app))
        app.router.routes.insert(0, ConcretePathGuard(app))


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    body_type = _body_type(request)
    errors = [_wire_error(error, body_type) for error in exc.errors()]
    return JSONResponse({"detail": json_safe(errors)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return method_not_allowed(request)
    if (
        exc.status_code == 400
        and exc.detail == _UNPARSABLE_BODY
        and exc.__cause__ is not None
    ):
        return _unparsable(exc.__cause__)
    return await http_exception_handler(request, exc)


_UNPARSABLE_BODY = "There was an error parsing the body"
"""FastAPI's bare 400 for a body it could not decode, whatever the reason."""


def _unparsable(cause: BaseException) -> Response:
    """The 422 of a body that is not JSON: the same mistake as invalid JSON.

    FastAPI answers invalid JSON with a 422 but any other decoding failure (not
    UTF-8, nested deeper than the parser's recursion limit) with a bare 400.
    """
    if isinstance(cause, UnicodeDecodeError):
        why = "the body is not valid UTF-8"
    elif isinstance(cause, RecursionError):
        why = "the body is nested too deeply to parse"
    else:
        why = "the body could not be parsed"
    error = {
        "type": "json_invalid",
        "loc": ["body"],
        "msg": f"JSON decode error: {why}",
        "input": {},
        "ctx": {"error": str(cause)},
    }
    return JSONResponse({"detail": [json_safe(error)]}, status_code=422)


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as something ``json.dumps(allow_nan=False)`` writes as valid JSON.

    Non-finite floats become ``"NaN"``/``"Infinity"``/``"-Infinity"``, strings
    lose lone surrogates (replaced by ``?``), exceptions become their message and
    anything else unknown its ``str``. Containers nested deeper than
    :data:`ECHO_DEPTH` are echoed as the string ``"..."``: a refused body nested
    hundreds deep still gets its 422, never a recursion error.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "NaN")
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, Mapping | list | tuple) and depth >= ECHO_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json_safe(str(value))


def _wire_error(error: Mapping[str, Any], body_type: Any) -> dict[str, Any]:
    loc = list(error.get("loc", ()))
    if body_type is not None and loc[:1] == ["body"]:
        loc = ["body", *_wire_path(loc[1:], body_type)]
    return {**error, "loc": loc}


def _body_type(request: Request) -> Any:
    """The annotation the route's body is validated against, if it has one body."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    params = getattr(getattr(route, "dependant", None), "body_params", [])
    if body_field is None or len(params) != 1:
        return None
    if getattr(params[0].field_info, "embed", False):
        return None
    return params[0].field_info.annotation


def _wire_path(path: Iterable[Any], annotation: Any) -> list[Any]:
    """Rename the field names in a pydantic error path to their aliases."""
    renamed: list[Any] = []
    current: Any = annotation
    for key in path:
        wire, current = _step(key, current)
        renamed.append(wire)
    return renamed


def _step(key: Any, annotation: Any) -> tuple[Any, Any]:
    for candidate in _members(annotation):
        if isinstance(key, str) and _is_model(candidate):
            for name, field in candidate.model_fields.items():
                alias = field.serialization_alias or field.alias or name
                if key in (name, alias):
                    return alias, field.annotation
        origin = get_origin(candidate)
        args = get_args(candidate)
        if isinstance(key, int) and origin in (list, tuple, set, frozenset) and args:
            return key, args[0]
        if isinstance(key, str) and origin is dict and len(args) == 2:
            return key, args[1]
    return key, None


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may hold: ``Price | None`` is ``[float]``."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _members(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [] if annotation in (None, type(None)) else [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
