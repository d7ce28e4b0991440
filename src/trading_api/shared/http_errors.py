"""How the API answers a request it cannot serve: one shape for every refusal.

Installed on every module app and on the root app:

* **422** for any request the schema refuses, parse errors included: a body that
  is not JSON or not UTF-8 is ``json_invalid`` at ``["body"]``, never a bare 400.
  ``loc`` always uses the wire names (``limitPrice``, not ``limit_price``), the
  names the OpenAPI document publishes, whichever spelling the client sent.
  The answer is always valid JSON: a NaN, an infinity or a lone surrogate in the
  rejected input is echoed as a string, never as invalid JSON or a 500.
* **405** lists in ``Allow`` every method the path serves, and a concrete path
  wins over a templated one (:mod:`trading_api.shared.http_methods`).
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

from trading_api.shared.http_methods import ConcretePathGuard, method_not_allowed

__all__ = ["install_error_handlers", "json_safe"]

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def install_error_handlers(app: FastAPI, *, guard_paths: bool = True) -> None:
    """Answer validation, parse and method errors of ``app`` in the shapes above.

    ``guard_paths`` adds the :class:`ConcretePathGuard`, which reads ``app``'s
    OpenAPI document on its first request; an app that only mounts others and
    serves its docs (the root app) needs none.
    """
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    if guard_paths:
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
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI answers a body it cannot decode (invalid UTF-8) with a bare 400;
        # it is the same mistake as invalid JSON, so it gets the same 422.
        error = {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "JSON decode error: the body is not valid UTF-8",
            "input": {},
            "ctx": {"error": str(exc.__cause__)},
        }
        return JSONResponse({"detail": [json_safe(error)]}, status_code=422)
    return await http_exception_handler(request, exc)


def json_safe(value: Any) -> Any:
    """``value`` as something ``json.dumps(allow_nan=False)`` writes as valid JSON.

    Non-finite floats become ``"NaN"``/``"Infinity"``/``"-Infinity"``, strings
    lose lone surrogates (replaced by ``?``), exceptions become their message and
    anything else unknown its ``str``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "NaN")
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
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
