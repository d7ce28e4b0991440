"""Render a module's client package: ``client_generated/{__init__,client}.py``.

``client.py`` holds the sync class (``DatafeedClient``) and the async class
(``AsyncDatafeedClient``): one method per operation, typed with the project's own
models, and ``subscribe`` for modules with WebSocket routes. The plumbing lives in
:mod:`trading_api.shared.client_runtime`, so each method is a single call.

The files are rendered from the Jinja templates in ``templates/`` beside this
file, then formatted by ruff (:func:`~trading_cli.build.formatting.format_python`).
"""

import enum
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_cli.build.client_operations import ClientSpec, Operation, Param, WsRoute
from trading_cli.build.client_source import (
    INDENT,
    Imports,
    TypeSource,
    docstring,
    is_plain_type,
    python_literal,
)
from trading_cli.build.formatting import format_python

if TYPE_CHECKING:
    from jinja2 import Environment

COMMAND = "trading clients build"
RUNTIME = "trading_api.shared.client_runtime"
TEMPLATES = Path(__file__).parent / "templates"
_BODY = INDENT * 2


def class_names(spec: ClientSpec) -> tuple[str, str]:
    """The sync and async class names: ``DatafeedClient``, ``AsyncDatafeedClient``."""
    from trading_api.conventions import pascal_for

    pascal = pascal_for(spec.name)
    return f"{pascal}Client", f"Async{pascal}Client"


def render_client_package(spec: ClientSpec, out: Path, root: Path) -> dict[str, str]:
    """The files of ``client_generated/`` (the folder ``out`` of the project at
    ``root``) by name, as text."""
    rendered = {"__init__.py": _render_init(spec), "client.py": _render_client(spec)}
    return {
        name: format_python(text, out / name, root) for name, text in rendered.items()
    }


@cache
def _templates() -> "Environment":
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
        autoescape=False,
    )


def _header() -> str:
    from trading_api.shared.artifacts import header_line

    return header_line(COMMAND)


def _render_init(spec: ClientSpec) -> str:
    sync_name, async_name = class_names(spec)
    imports = Imports()
    for name in ("ApiError", "SubscriptionClosed", "SubscriptionError"):
        imports.add(RUNTIME, name)
    imports.add(".client", sync_name)
    imports.add(".client", async_name)
    exported = sorted(
        ["ApiError", "SubscriptionClosed", "SubscriptionError", sync_name, async_name]
    )
    doc = (
        f"Typed Python client of the ``{spec.name}`` module: ``{sync_name}`` and "
        f"``{async_name}``."
    )
    return (
        _templates()
        .get_template("__init__.py.jinja")
        .render(
            header=_header(),
            doc=docstring(doc, indent=""),
            imports=imports.lines(),
            exported=[python_literal(name) for name in exported],
        )
    )


@dataclass
class _Flavour:
    """What differs between the sync and the async class."""

    class_name: str
    base: str
    is_async: bool

    @property
    def def_(self) -> str:
        return "async def" if self.is_async else "def"

    @property
    def await_(self) -> str:
        return "await " if self.is_async else ""


def _render_client(spec: ClientSpec) -> str:
    from trading_api.conventions import MODULES_PACKAGE

    imports = Imports()
    canonical = f"{MODULES_PACKAGE}.{spec.package}"
    types = TypeSource(imports, {spec.loaded_as: canonical} if spec.loaded_as else {})
    sync_name, async_name = class_names(spec)
    flavours = [
        _Flavour(sync_name, imports.add(RUNTIME, "ModuleClient"), False),
        _Flavour(async_name, imports.add(RUNTIME, "AsyncModuleClient"), True),
    ]
    ws_routes = [
        f"{python_literal(ws.route)}: ({types(ws.request_model)}, "
        f"{types(ws.data_model)})"
        for ws in spec.ws_routes
    ]
    routes_type = imports.add(RUNTIME, "WsRoutes") if ws_routes else ""
    classes = [_class_context(spec, flavour, types) for flavour in flavours]
    doc = (
        f"Typed clients of the ``{spec.name}`` module, served at ``{spec.mount_path}``."
    )
    return (
        _templates()
        .get_template("client.py.jinja")
        .render(
            header=_header(),
            doc=docstring(doc, indent=""),
            imports=imports.lines(),
            ws_routes=ws_routes,
            ws_routes_type=routes_type,
            classes=classes,
            mount_path=python_literal(spec.mount_path),
        )
    )


def _class_context(
    spec: ClientSpec, flavour: _Flavour, types: TypeSource
) -> dict[str, Any]:
    kind = "Async" if flavour.is_async else "Sync"
    lines = [
        f"{kind} client of the ``{spec.name}`` module (``{spec.mount_path}``).",
        "",
    ]
    if spec.description:
        lines += [spec.description, ""]
    lines += [
        "Build it from the server's root URL, e.g. "
        f'``{flavour.class_name}(base_url="http://127.0.0.1:8000")``. A non-2xx '
        "answer raises :class:`ApiError` with its status and detail.",
        "",
        "Routes that are not public need a bearer token: ``token=...``, and "
        "``refresh=`` to get a new one when the server refuses it.",
    ]
    return {
        "name": flavour.class_name,
        "base": flavour.base,
        "def_": flavour.def_,
        "doc": docstring("\n".join(lines), indent=INDENT),
        "operations": [
            _operation_context(spec, op, flavour, types) for op in spec.operations
        ],
        "subscribe": (
            _subscribe_context(spec, flavour, types) if spec.ws_routes else None
        ),
    }


def _operation_context(
    spec: ClientSpec, op: Operation, flavour: _Flavour, types: TypeSource
) -> dict[str, Any]:
    returns = types(op.returns)
    return {
        "name": op.method_name,
        "params": _signature_params(op, types),
        "returns": returns,
        "doc": docstring(_operation_doc(spec, op), indent=_BODY),
        "body": _call_lines(op, flavour, types, returns),
    }


def _signature_params(op: Operation, types: TypeSource) -> list[str]:
    positional = [p for p in op.params if p.kind == "path"]
    positional += sorted(op.body, key=lambda p: not p.required)
    keyword = sorted(
        (p for p in op.params if p.kind in ("query", "header")),
        key=lambda p: not p.required,
    )
    items = ["self", *(_param_source(p, types) for p in positional)]
    if keyword:
        items += ["*", *(_param_source(p, types) for p in keyword)]
    return items


def _param_source(param: Param, types: TypeSource) -> str:
    annotation = types(param.annotation)
    if param.required:
        return f"{param.name}: {annotation}"
    default = _default_source(param.default, types)
    if default is None:
        # No literal for the server's default: None means "let the server decide".
        default = "None"
        if "None" not in annotation.split(" | "):
            annotation += " | None"
    return f"{param.name}: {annotation} = {default}"


def _default_source(value: Any, types: TypeSource) -> str | None:
    if isinstance(value, enum.Enum):
        return f"{types(type(value))}.{value.name}"
    if value is None or isinstance(value, bool | int | float | str):
        return python_literal(value)
    return None


def _operation_doc(spec: ClientSpec, op: Operation) -> str:
    description = op.description
    if description.splitlines()[:1] == [op.summary]:
        description = "\n".join(description.splitlines()[1:]).strip()
    summary = op.summary.rstrip()
    lines = [summary if summary.endswith((".", "!", "?")) else f"{summary}."]
    if description:
        lines += ["", description]
    if op.deprecated:
        lines += ["", "Deprecated: the server may remove this operation."]
    lines += ["", f"``{op.http_method} {spec.mount_path}{op.path}``"]
    return "\n".join(lines)


def _call_lines(
    op: Operation, flavour: _Flavour, types: TypeSource, returns: str
) -> list[str]:
    plain = op.returns is None or is_plain_type(op.returns)
    if op.returns is None:
        returns_arg = types.imports.add("types", "NoneType")
    elif plain:
        returns_arg = returns
    else:
        cast = types.imports.add("typing", "cast")
        returns_arg = f"{cast}({types.imports.add('typing', 'Any')}, {returns})"
    args = [
        python_literal(op.http_method),
        _path_source(op, types),
        returns_arg,
        *_keyword_args(op),
    ]
    call = f"{flavour.await_}self._call({', '.join(args)})"
    if op.returns is None:
        return [call]
    if plain:
        return [f"return {call}"]
    return [f"result: {returns} = {call}", "return result"]


def _path_source(op: Operation, types: TypeSource) -> str:
    path = op.path
    by_wire = {p.wire: p for p in op.params if p.kind == "path"}
    if not by_wire:
        return python_literal(path)
    encode = types.imports.add(RUNTIME, "path_value")
    for wire, param in by_wire.items():
        convertor = op.path_convertors.get(wire)
        keep = ", keep_slashes=True" if convertor == "path" else ""
        placeholder = f"{{{wire}:{convertor}}}" if convertor else f"{{{wire}}}"
        path = path.replace(placeholder, f"{{{encode}({param.name}{keep})}}")
    return "f" + python_literal(path)


def _keyword_args(op: Operation) -> list[str]:
    args: list[str] = []
    for kind, keyword in (("query", "params"), ("header", "headers")):
        pairs = [
            f"{python_literal(p.wire)}: {p.name}" for p in op.params if p.kind == kind
        ]
        if pairs:
            args.append(f"{keyword}={{{', '.join(pairs)}}}")
    body = op.body
    if op.embed_body:
        pairs = [f"{python_literal(p.wire)}: {p.name}" for p in body]
        args.append(f"body={{{', '.join(pairs)}}}")
    elif body:
        args.append(f"body={body[0].name}")
    return args


def _subscribe_context(
    spec: ClientSpec, flavour: _Flavour, types: TypeSource
) -> dict[str, Any]:
    imports = types.imports
    stream = imports.add(
        RUNTIME, "AsyncSubscription" if flavour.is_async else "Subscription"
    )
    doc = docstring(_subscribe_doc(spec, flavour), indent=_BODY)
    stubs = [_subscribe_signature(ws, stream, types) for ws in spec.ws_routes]
    if len(stubs) == 1:
        return {"overloads": [], "doc": doc, **stubs[0]}
    base_model = imports.add("pydantic", "BaseModel")
    return {
        "overloads": stubs,
        "overload": imports.add("typing", "overload"),
        "doc": doc,
        "params": ["self", "route: str", f"request: {base_model}"],
        "returns": f"{stream}[{base_model}]",
    }


def _subscribe_signature(ws: WsRoute, stream: str, types: TypeSource) -> dict[str, Any]:
    literal = types.imports.add("typing", "Literal")
    return {
        "params": [
            "self",
            f"route: {literal}[{python_literal(ws.route)}]",
            f"request: {types(ws.request_model)}",
        ],
        "returns": f"{stream}[{types(ws.data_model)}]",
    }


def _subscribe_doc(spec: ClientSpec, flavour: _Flavour) -> str:
    for_, with_ = ("async for", "async with") if flavour.is_async else ("for", "with")
    lines = [
        "Subscribe to a WebSocket route; iterate the result for typed updates.",
        "",
        f"``{for_} update in client.subscribe(route, request)`` opens a connection "
        f"to ``{spec.mount_path}/ws`` and closes it when the loop ends. "
        f"``{with_} client.subscribe(route, request) as updates:`` returns once the "
        "server confirmed the subscription, so nothing you do next is missed. "
        "A refused subscription raises :class:`SubscriptionError`; one the server "
        "closes with a reason raises :class:`SubscriptionClosed`, whose ``code`` "
        "says why (4205: updates were lost, subscribe again and re-read the state).",
        "",
        "Routes (request -> update):",
        "",
    ]
    lines += [
        f"- ``{ws.route}``: {ws.request_model.__name__} -> {ws.data_model.__name__}"
        for ws in spec.ws_routes
    ]
    return "\n".join(lines)
