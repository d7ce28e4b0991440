"""Render a module's client package: ``client_generated/{__init__,client}.py``.

``client.py`` holds the sync class (``DatafeedClient``) and the async class
(``AsyncDatafeedClient``): one method per operation, typed with the project's own
models, and ``subscribe`` for modules with WebSocket routes. The plumbing lives in
:mod:`trading_api.shared.client_runtime`, so each method is a single call.
"""

import enum
from dataclasses import dataclass
from typing import Any

from trading_cli.build.client_operations import ClientSpec, Operation, Param, WsRoute
from trading_cli.build.client_source import (
    INDENT,
    Group,
    Imports,
    TypeSource,
    bracketed,
    docstring,
    is_plain_type,
    python_literal,
)

COMMAND = "trading clients build"
RUNTIME = "trading_api.shared.client_runtime"
_BODY = INDENT * 2


def class_names(spec: ClientSpec) -> tuple[str, str]:
    """The sync and async class names: ``DatafeedClient``, ``AsyncDatafeedClient``."""
    pascal = "".join(part.capitalize() for part in spec.name.split("-"))
    return f"{pascal}Client", f"Async{pascal}Client"


def render_client_package(spec: ClientSpec) -> dict[str, str]:
    """The files of ``client_generated/`` by name, as text."""
    return {"__init__.py": _render_init(spec), "client.py": _render_client(spec)}


def _header() -> str:
    from trading_api.shared.artifacts import header_line

    return header_line(COMMAND)


def _render_init(spec: ClientSpec) -> str:
    sync_name, async_name = class_names(spec)
    imports = Imports()
    for name in ("ApiError", "SubscriptionError"):
        imports.add(RUNTIME, name)
    imports.add(".client", sync_name)
    imports.add(".client", async_name)
    exported = sorted(["ApiError", "SubscriptionError", sync_name, async_name])
    all_line = bracketed(
        "__all__ = [", [python_literal(name) for name in exported], "]", indent=""
    )
    doc = (
        f"Typed Python client of the ``{spec.name}`` module: ``{sync_name}`` and "
        f"``{async_name}``."
    )
    return "\n".join(
        [_header(), docstring(doc, indent=""), "", imports.render(), "", all_line, ""]
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
    imports = Imports()
    types = TypeSource(imports)
    sync_name, async_name = class_names(spec)
    flavours = [
        _Flavour(sync_name, imports.add(RUNTIME, "ModuleClient"), False),
        _Flavour(async_name, imports.add(RUNTIME, "AsyncModuleClient"), True),
    ]
    blocks = []
    if spec.ws_routes:
        blocks.append(_render_ws_routes(spec, types))
    blocks.extend(_render_class(spec, flavour, types) for flavour in flavours)
    doc = (
        f"Typed clients of the ``{spec.name}`` module, served at ``{spec.mount_path}``."
    )
    imports_text = imports.render()
    parts = [_header(), docstring(doc, indent=""), "", imports_text]
    for block in blocks:
        # Two blank lines before a class, one after imports before a statement.
        gap = (
            ["", ""]
            if block.startswith("class ") or parts[-1] != imports_text
            else [""]
        )
        parts.extend([*gap, block])
    return "\n".join(parts) + "\n"


def _render_ws_routes(spec: ClientSpec, types: TypeSource) -> str:
    routes_type = types.imports.add(RUNTIME, "WsRoutes")
    items: list[str | Group] = [
        Group(
            f"{python_literal(ws.route)}: (",
            [types(ws.request_model), types(ws.data_model)],
            ")",
        )
        for ws in spec.ws_routes
    ]
    table = bracketed(f"WS_ROUTES: {routes_type} = {{", items, "}", indent="")
    doc = '"""Each WebSocket route: its request model and the model of its updates."""'
    return f"{table}\n{doc}"


def _render_class(spec: ClientSpec, flavour: _Flavour, types: TypeSource) -> str:
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
    ]
    members = [
        docstring("\n".join(lines), indent=INDENT),
        "",
        f"{INDENT}mount_path = {python_literal(spec.mount_path)}",
    ]
    for operation in spec.operations:
        members += ["", _render_operation(spec, operation, flavour, types)]
    if spec.ws_routes:
        members += ["", _render_subscribe(spec, flavour, types)]
    return f"class {flavour.class_name}({flavour.base}):\n" + "\n".join(members)


def _render_operation(
    spec: ClientSpec, op: Operation, flavour: _Flavour, types: TypeSource
) -> str:
    returns = types(op.returns)
    signature = bracketed(
        f"{flavour.def_} {op.method_name}(",
        _signature_params(op, types),
        f") -> {returns}:",
        indent=INDENT,
    )
    doc = docstring(_operation_doc(spec, op), indent=_BODY)
    return "\n".join([signature, doc, _render_call(op, flavour, types, returns)])


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


def _render_call(
    op: Operation, flavour: _Flavour, types: TypeSource, returns: str
) -> str:
    plain = op.returns is None or is_plain_type(op.returns)
    if op.returns is None:
        returns_arg = types.imports.add("types", "NoneType")
    elif plain:
        returns_arg = returns
    else:
        cast = types.imports.add("typing", "cast")
        returns_arg = f"{cast}({types.imports.add('typing', 'Any')}, {returns})"
    args: list[str | Group] = [
        python_literal(op.http_method),
        _path_source(op, types),
        returns_arg,
        *_keyword_args(op),
    ]
    call = f"{flavour.await_}self._call("
    if op.returns is None:
        return bracketed(call, args, ")", indent=_BODY)
    if plain:
        return bracketed(f"return {call}", args, ")", indent=_BODY)
    assigned = bracketed(f"result: {returns} = {call}", args, ")", indent=_BODY)
    return f"{assigned}\n{_BODY}return result"


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


def _keyword_args(op: Operation) -> list[str | Group]:
    args: list[str | Group] = []
    for kind, keyword in (("query", "params"), ("header", "headers")):
        pairs: list[str | Group] = [
            f"{python_literal(p.wire)}: {p.name}" for p in op.params if p.kind == kind
        ]
        if pairs:
            args.append(Group(f"{keyword}={{", pairs, "}"))
    body = op.body
    if op.embed_body:
        pairs = [f"{python_literal(p.wire)}: {p.name}" for p in body]
        args.append(Group("body={", pairs, "}"))
    elif body:
        args.append(f"body={body[0].name}")
    return args


def _render_subscribe(spec: ClientSpec, flavour: _Flavour, types: TypeSource) -> str:
    imports = types.imports
    stream = imports.add(
        RUNTIME, "AsyncSubscription" if flavour.is_async else "Subscription"
    )
    doc = docstring(_subscribe_doc(spec, flavour), indent=_BODY)
    call = f"{_BODY}return self._subscribe(route, request, WS_ROUTES)"
    if len(spec.ws_routes) == 1:
        ws = spec.ws_routes[0]
        signature = _subscribe_signature(ws, stream, types, ":")
        return "\n".join([signature, doc, call])
    overload = imports.add("typing", "overload")
    parts = []
    for ws in spec.ws_routes:
        stub = _subscribe_signature(ws, stream, types, ": ...")
        parts += [f"{INDENT}@{overload}", stub, ""]
    base_model = imports.add("pydantic", "BaseModel")
    signature = bracketed(
        "def subscribe(",
        ["self", "route: str", f"request: {base_model}"],
        f") -> {stream}[{base_model}]:",
        indent=INDENT,
    )
    return "\n".join([*parts, signature, doc, call])


def _subscribe_signature(ws: WsRoute, stream: str, types: TypeSource, end: str) -> str:
    literal = types.imports.add("typing", "Literal")
    return bracketed(
        "def subscribe(",
        [
            "self",
            f"route: {literal}[{python_literal(ws.route)}]",
            f"request: {types(ws.request_model)}",
        ],
        f") -> {stream}[{types(ws.data_model)}]{end}",
        indent=INDENT,
    )


def _subscribe_doc(spec: ClientSpec, flavour: _Flavour) -> str:
    for_, with_ = ("async for", "async with") if flavour.is_async else ("for", "with")
    lines = [
        "Subscribe to a WebSocket route; iterate the result for typed updates.",
        "",
        f"``{for_} update in client.subscribe(route, request)`` opens a connection "
        f"to ``{spec.mount_path}/ws`` and closes it when the loop ends. "
        f"``{with_} client.subscribe(route, request) as updates:`` returns once the "
        "server confirmed the subscription, so nothing you do next is missed. "
        "A refused subscription raises :class:`SubscriptionError`.",
        "",
        "Routes (request -> update):",
        "",
    ]
    lines += [
        f"- ``{ws.route}``: {ws.request_model.__name__} -> {ws.data_model.__name__}"
        for ws in spec.ws_routes
    ]
    return "\n".join(lines)
