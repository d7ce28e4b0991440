"""What a module's client must offer, read from the module's live FastAPI app.

The routes hold the exact Python types (``route.response_model`` and the
dependant's path, query, header and body fields), so the client gets the project's
own pydantic models and enums instead of look-alikes rebuilt from JSON Schema;
route names, summaries and docstrings are what the OpenAPI document is made of.
"""

import inspect
import keyword
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from trading_cli.errors import CliError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi._compat import ModelField
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    from trading_api.shared.module_interface import Module

ParamKind = Literal["path", "query", "header", "body"]

RESERVED_METHODS = frozenset(
    {
        "_call",
        "_http",
        "_subscribe",
        "aclose",
        "base_url",
        "close",
        "mount_path",
        "subscribe",
        "timeout",
        "ws_headers",
    }
)
"""Client attributes an operation method must not shadow (it gets a ``_`` suffix)."""

_PLACEHOLDER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?}")


@dataclass(frozen=True)
class Param:
    """One argument of an operation method.

    Attributes:
        name: The Python name (the endpoint's parameter name).
        wire: The name on the wire (the alias): query key, header or path segment.
        kind: Where the value goes.
        annotation: The parameter's Python type.
        required: Whether the caller must pass it.
        default: The server's default when not required (``None`` if it has none
            that can be written as a literal).
    """

    name: str
    wire: str
    kind: ParamKind
    annotation: Any
    required: bool
    default: Any = None


@dataclass(frozen=True)
class Operation:
    """One HTTP operation and the client method that calls it."""

    method_name: str
    operation_id: str
    http_method: str
    path: str
    path_convertors: dict[str, str]
    params: tuple[Param, ...]
    embed_body: bool
    returns: Any
    summary: str
    description: str
    deprecated: bool

    @property
    def body(self) -> list[Param]:
        """The body parameters."""
        return [param for param in self.params if param.kind == "body"]


@dataclass(frozen=True)
class WsRoute:
    """One WebSocket route: its name, request model and data model."""

    route: str
    request_model: type
    data_model: type


@dataclass(frozen=True)
class ClientSpec:
    """Everything a module's client is rendered from."""

    name: str
    package: str
    description: str
    mount_path: str
    operations: tuple[Operation, ...]
    ws_routes: tuple[WsRoute, ...]
    loaded_as: str = ""
    """The name the module's package was imported under, when it is not the
    name the generated client imports it by (a module loaded from a folder other
    than the installed backend's, as tests do with copies)."""


def describe_client(module: "Module") -> ClientSpec:
    """Read the operations and WebSocket routes of ``module``'s app."""
    app, ws_app = module.create_app()
    operations: list[Operation] = []
    for route in _api_routes(app):
        operations.extend(_operations(route, module.package))
    _check_unique(operations, module.name)
    ws_routes = [
        WsRoute(router.route, router.request_model, router.data_model)
        for router in (ws_app.routers if ws_app is not None else [])
    ]
    from trading_api.conventions import MODULES_PACKAGE

    loaded = type(module).__module__
    return ClientSpec(
        loaded_as="" if loaded == f"{MODULES_PACKAGE}.{module.package}" else loaded,
        name=module.name,
        package=module.package,
        description=module.description,
        mount_path=module.mount_path,
        operations=tuple(operations),
        ws_routes=tuple(sorted(ws_routes, key=lambda ws: ws.route)),
    )


def _api_routes(app: "FastAPI") -> Iterator["APIRoute"]:
    """The app's documented HTTP routes, in the order of its OpenAPI document."""
    from fastapi import routing

    # FastAPI >= 0.16x keeps included routers nested and resolves each route's
    # effective path, id and dependencies through a route context.
    contexts = getattr(routing, "iter_route_contexts", None)
    routes: Iterable[Any] = app.routes if contexts is None else contexts(app.routes)
    for route in routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, routing.APIRoute) and route.include_in_schema:
            yield route


def _operations(route: "APIRoute", package: str) -> Iterator[Operation]:
    operation_id = route.operation_id or route.unique_id
    methods = sorted(route.methods or ())
    params = tuple(_params(route))
    for http_method in methods:
        suffix = f"_{http_method.lower()}" if len(methods) > 1 else ""
        yield Operation(
            method_name=_method_name(operation_id, package) + suffix,
            operation_id=operation_id + suffix,
            http_method=http_method,
            path=route.path,
            path_convertors=_convertors(route.path),
            params=params,
            embed_body=_embeds_body(route),
            returns=_returns(route),
            summary=_summary(route),
            description=inspect.cleandoc(route.description or ""),
            deprecated=bool(route.deprecated),
        )


def _method_name(operation_id: str, package: str) -> str:
    name = operation_id.removeprefix(f"{package}_")
    name = re.sub(r"\W", "_", name)
    if name[:1].isdigit():
        name = f"op_{name}"
    if keyword.iskeyword(name) or name in RESERVED_METHODS:
        name += "_"
    return name


def _check_unique(operations: list[Operation], module_name: str) -> None:
    seen: dict[str, Operation] = {}
    for op in operations:
        other = seen.setdefault(op.method_name, op)
        if other is not op:
            raise CliError(
                f"module {module_name!r}: {other.http_method} {other.path} and "
                f"{op.http_method} {op.path} both have operation id "
                f"{op.operation_id!r}; rename one endpoint function"
            )


def _summary(route: "APIRoute") -> str:
    if route.summary:
        return route.summary
    description = inspect.cleandoc(route.description or "")
    if description:
        return description.splitlines()[0]
    return route.name.replace("_", " ").capitalize()


def _convertors(path: str) -> dict[str, str]:
    return {name: conv for name, conv in _PLACEHOLDER.findall(path) if conv}


def _returns(route: "APIRoute") -> Any:
    """The Python type of a 2xx answer: the response model, ``None`` for no body,
    ``str`` for text, else ``Any`` (decoded JSON)."""
    if route.status_code in (204, 304):
        return None
    if route.response_model is not None:
        return route.response_model
    media_type = getattr(route.response_class, "media_type", None) or ""
    return str if media_type.startswith("text/") else Any


def _params(route: "APIRoute") -> Iterator[Param]:
    seen: set[str] = set()
    for dependant in _dependants(route.dependant):
        sources: list[tuple[ParamKind, list[ModelField]]] = [
            ("path", dependant.path_params),
            ("query", dependant.query_params),
            ("header", dependant.header_params),
            ("body", dependant.body_params),
        ]
        for kind, fields in sources:
            for field in fields:
                if field.name not in seen:
                    seen.add(field.name)
                    yield _param(route, kind, field)
        if dependant.cookie_params:
            raise CliError(
                f"{route.path}: cookie parameters are not supported in generated "
                "clients; take the value as a header or query parameter"
            )


def _dependants(dependant: "Dependant") -> Iterator["Dependant"]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _param(route: "APIRoute", kind: ParamKind, field: "ModelField") -> Param:
    from fastapi import params

    info = field.field_info
    if isinstance(info, params.Form | params.File):
        raise CliError(
            f"{route.path}: form and file parameters are not supported in generated "
            f"clients ({field.name!r}); take a JSON body instead"
        )
    wire = field.alias
    if kind == "header" and getattr(info, "convert_underscores", True):
        wire = wire.replace("_", "-")
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=False)
    return Param(
        name=_python_name(field.name),
        wire=wire,
        kind=kind,
        annotation=info.annotation,
        required=required,
        default=default,
    )


def _python_name(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name == "self" else name


def _embeds_body(route: "APIRoute") -> bool:
    # FastAPI's rule: several body fields, or one declared with Body(embed=True),
    # travel as {"<alias>": value, ...}; a single body field travels as itself.
    body = [
        field
        for dependant in _dependants(route.dependant)
        for field in dependant.body_params
    ]
    if len({field.name for field in body}) > 1:
        return True
    return bool(body) and bool(getattr(body[0].field_info, "embed", False))
