"""Read the WS router declarations of a module's ``ws.py`` without importing it.

A declaration is a module-level line
``BarsRouter: TypeAlias = WsRouter[BarsSubscriptionRequest, Bar]``, or the same
type annotated with its delivery class:
``OrdersRouter: TypeAlias = Annotated[WsRouter[Request, Order], ConflateByKey("id")]``
(see :mod:`trading_api.shared.ws.delivery`). For each, the
reader resolves where the two model names come from (an import in ``ws.py``, or a
definition in it) so the generated file can import them from ``ws_generated/``:
relative imports are made absolute from the module's package.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from trading_api.conventions import name_for
from trading_api.shared.errors import TradingError
from trading_api.shared.ws.delivery import DELIVERY_CLASSES

GENERATOR_VERSION = 2
"""Bumped when the generated code changes shape, so old output reads as stale."""


class WsDeclarationError(TradingError):
    """A module's ``ws.py`` cannot be turned into router classes."""


@dataclass(frozen=True)
class Import:
    """One import the generated file needs, spelled from ``ws_generated/``."""

    module: str  # relative modules keep their leading dots
    name: str | None = None  # None for ``import module``
    asname: str | None = None


@dataclass(frozen=True)
class RouterDeclaration:
    """One ``XRouter: TypeAlias = WsRouter[Request, Data]`` line of ``ws.py``."""

    alias: str
    request: str  # the type expression as written, e.g. ``bars.Bar``
    data: str
    imports: tuple[Import, ...]
    package: str | None  # the module's dotted package, when it is one
    delivery: str | None = None  # e.g. ``ConflateByKey("id")``; None: the default

    @property
    def route(self) -> str:
        """The route name derived from the alias (see :func:`route_for`)."""
        return route_for(self.alias)

    @property
    def filename(self) -> str:
        """``BrokerConnectionRouter`` -> ``broker_connection_router.py``."""
        snake = re.sub(
            r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", self.alias
        )
        return snake.lower() + ".py"

    @property
    def fingerprint(self) -> str:
        """A short hash of everything the generated file is made from."""
        imports = [[i.module, i.name, i.asname] for i in self.imports]
        parts = [GENERATOR_VERSION, self.alias, self.request, self.data, imports]
        return digest([*parts, self.delivery])

    @property
    def delivery_class(self) -> str | None:
        """The delivery class's name, e.g. ``ConflateByKey``."""
        return None if self.delivery is None else self.delivery.split("(")[0]


def digest(data: object) -> str:
    """A 16-hex-digit hash of JSON-able ``data``."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def route_for(alias: str) -> str:
    """The route of an alias: ``BrokerConnectionRouter`` -> ``broker-connection``."""
    stem = alias.removesuffix("Router")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", stem)
    return words.lower()


def read_declarations(module_dir: Path) -> list[RouterDeclaration]:
    """Parse ``module_dir/ws.py`` and return its router declarations in order.

    Raises:
        WsDeclarationError: ``ws.py`` is missing or does not parse, or a
            declaration cannot be generated; the message names the line.
    """
    where = f"module {name_for(module_dir.name)!r}: ws.py"
    path = module_dir / "ws.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except FileNotFoundError:
        raise WsDeclarationError(f"{where} does not exist") from None
    except SyntaxError as exc:
        raise WsDeclarationError(f"{where} line {exc.lineno}: {exc.msg}") from None
    package = _package_of(module_dir)
    try:
        bindings = _bindings(tree, package)
    except WsDeclarationError as exc:
        raise WsDeclarationError(f"{where} {exc}") from None
    ws_module = f"{package}.ws" if package else "..ws"
    declarations = []
    for node in tree.body:
        if not _is_type_alias(node):
            continue
        assert isinstance(node, ast.AnnAssign)
        try:
            declarations.append(_declaration(node, bindings, ws_module))
        except WsDeclarationError as exc:
            raise WsDeclarationError(f"{where} line {node.lineno}: {exc}") from None
    return declarations


def _is_type_alias(node: ast.stmt) -> bool:
    if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
        return False
    annotation = node.annotation
    name = annotation.attr if isinstance(annotation, ast.Attribute) else None
    if isinstance(annotation, ast.Name):
        name = annotation.id
    return name == "TypeAlias"


def _declaration(
    node: ast.AnnAssign, bindings: dict[str, Import | None], ws_module: str
) -> RouterDeclaration:
    assert isinstance(node.target, ast.Name)
    alias = node.target.id
    value = node.value
    delivery = None
    if value is not None and _subscript_name(value) == "Annotated":
        assert isinstance(value, ast.Subscript)
        parts = value.slice.elts if isinstance(value.slice, ast.Tuple) else []
        if len(parts) != 2:
            raise WsDeclarationError(
                f"{alias} must be Annotated[WsRouter[RequestModel, DataModel], "
                'Delivery], e.g. ConflateByKey("id")'
            )
        value, metadata = parts
        delivery = _delivery(metadata, alias)
    base = value.value if isinstance(value, ast.Subscript) else None
    base_name = base.attr if isinstance(base, ast.Attribute) else None
    if isinstance(base, ast.Name):
        base_name = base.id
    if base_name != "WsRouter":
        raise WsDeclarationError(
            f"{alias} must be WsRouter[RequestModel, DataModel]; got "
            f"{ast.unparse(value) if value else 'nothing'}"
        )
    assert isinstance(value, ast.Subscript)
    args = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
    if len(args) != 2:
        raise WsDeclarationError(
            f"{alias} needs two type arguments, WsRouter[RequestModel, DataModel]"
        )
    if not alias.endswith("Router") or alias == "Router":
        raise WsDeclarationError(
            f"{alias} must end with 'Router' (e.g. BarsRouter for route 'bars')"
        )
    imports = tuple(_import_for(arg, alias, bindings, ws_module) for arg in args)
    package = ws_module.removesuffix(".ws") if ws_module != "..ws" else None
    request, data = ast.unparse(args[0]), ast.unparse(args[1])
    return RouterDeclaration(alias, request, data, imports, package, delivery)


def _subscript_name(node: ast.expr) -> str | None:
    """``Annotated`` for ``Annotated[...]`` or ``typing.Annotated[...]``."""
    if not isinstance(node, ast.Subscript):
        return None
    base = node.value
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else None


def _delivery(node: ast.expr, alias: str) -> str:
    """The delivery class call, checked and spelled canonically."""
    known = ", ".join(sorted(DELIVERY_CLASSES))
    func = node.func if isinstance(node, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else None
    if isinstance(func, ast.Name):
        name = func.id
    if name not in DELIVERY_CLASSES:
        raise WsDeclarationError(
            f"{alias}: the delivery class must be one of {known} called with "
            f"literal field names, got {ast.unparse(node)}"
        )
    assert isinstance(node, ast.Call)
    fields = []
    for arg in node.args:
        if not isinstance(arg, ast.Constant) or not isinstance(arg.value, str):
            raise WsDeclarationError(
                f"{alias}: {name}() takes field names as string literals, "
                f"got {ast.unparse(arg)}"
            )
        fields.append(arg.value)
    if node.keywords:
        raise WsDeclarationError(f"{alias}: {name}() takes no keyword arguments")
    try:
        DELIVERY_CLASSES[name](*fields)
    except TypeError as exc:
        raise WsDeclarationError(f"{alias}: {exc}") from None
    return f"{name}({', '.join(json.dumps(f) for f in fields)})"


def _import_for(
    arg: ast.expr, alias: str, bindings: dict[str, Import | None], ws_module: str
) -> Import:
    root = arg
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        raise WsDeclarationError(
            f"{alias}: type argument {ast.unparse(arg)!r} must be a model name"
        )
    if root.id not in bindings:
        raise WsDeclarationError(
            f"{alias}: {root.id!r} is neither imported nor defined in ws.py"
        )
    found = bindings[root.id]
    # A model defined in ws.py itself is imported back from it.
    return found if found is not None else Import(ws_module, root.id)


def _package_of(module_dir: Path) -> str | None:
    """The dotted package of ``module_dir``, or None if it is not a package."""
    parts: list[str] = []
    folder = module_dir.resolve()
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) or None


def _absolute(node: ast.ImportFrom, package: str | None) -> str:
    """Where an import in ``ws.py`` points, spelled for ``ws_generated/``.

    Relative imports become absolute when the package is known (the project's
    lint rules ban relative imports from parent packages); otherwise they get one
    more dot, since ws_generated/ sits one package below ws.py.
    """
    relative = "." * node.level + (node.module or "")
    if not node.level:
        return relative
    if package is None:
        return "." + relative
    try:
        return importlib.util.resolve_name(relative, package)
    except ImportError as exc:
        raise WsDeclarationError(f"line {node.lineno}: {exc}") from None


def _bindings(tree: ast.Module, package: str | None) -> dict[str, Import | None]:
    """Top-level names of ``ws.py``: their import, or None when defined there."""
    names: dict[str, Import | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            for item in node.names:
                bound = item.asname or item.name
                names[bound] = Import(module, item.name, item.asname)
        elif isinstance(node, ast.Import):
            for item in node.names:
                bound = item.asname or item.name.split(".")[0]
                names[bound] = Import(item.name, None, item.asname)
        elif isinstance(node, ast.ClassDef):
            names[node.name] = None
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names[target.id] = None
    return names
