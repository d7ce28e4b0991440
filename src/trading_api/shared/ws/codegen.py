"""Generate WS router classes from the type aliases a module declares in ``ws.py``.

``BarsRouter: TypeAlias = WsRouter[BarsSubscriptionRequest, Bar]`` becomes
``ws_generated/bars_router.py`` holding ``class BarsRouter(WsRouter[...])`` with
``route = "bars"`` and both models, plus ``ws_generated/__init__.py`` exporting every
class. ``ws.py`` is read with :mod:`ast`, never imported, so generation is pure,
fast and safe on broken code. The output is laid out the way ruff formats it.
Each file carries a fingerprint of its declaration, so :func:`check_ws_generated`
spots stale output by reading two lines per file, without rendering anything.
"""

from __future__ import annotations

from pathlib import Path

from trading_api.conventions import name_for
from trading_api.shared.artifacts import header_line, write_if_changed
from trading_api.shared.errors import GeneratedCodeError
from trading_api.shared.ws.declarations import (
    GENERATOR_VERSION,
    Import,
    RouterDeclaration,
    WsDeclarationError,
    digest,
    read_declarations,
)

__all__ = [
    "WsDeclarationError",
    "check_ws_generated",
    "render_ws_routers",
    "write_ws_routers",
]

COMMAND = "trading specs build"
GENERATED_DIR = "ws_generated"
HEADER = header_line(COMMAND)
FINGERPRINT_PREFIX = "# ws.py fingerprint: "
_LINE_LENGTH = 88
_WS_ROUTER = Import("trading_api.shared.ws", "WsRouter")


def render_ws_routers(module_dir: Path) -> dict[Path, str]:
    """Render every file of ``module_dir/ws_generated/`` from ``module_dir/ws.py``.

    Returns:
        The text of each file, keyed by its path: one file per alias plus
        ``__init__.py``.

    Raises:
        WsDeclarationError: ``ws.py`` is missing, does not parse, or declares an
            alias that cannot be generated; the message names the line.
    """
    declarations = read_declarations(module_dir)
    out_dir = module_dir / GENERATED_DIR
    files = {out_dir / d.filename: _render_router(d) for d in declarations}
    files[out_dir / "__init__.py"] = _render_init(declarations)
    return files


def write_ws_routers(module_dir: Path) -> list[Path]:
    """Write ``ws_generated/`` for ``module_dir``; return the paths that changed.

    Unchanged files are not touched; generated files of aliases that no longer
    exist are removed. When rendering fails nothing is written or removed.

    Raises:
        WsDeclarationError: as :func:`render_ws_routers`.
    """
    files = render_ws_routers(module_dir)
    changed = [path for path, text in files.items() if write_if_changed(path, text)]
    for path in _generated_files(module_dir / GENERATED_DIR):
        if path not in files:
            path.unlink()
            changed.append(path)
    return sorted(changed)


def check_ws_generated(module_dir: Path) -> None:
    """Fail unless ``ws_generated/`` matches the declarations in ``ws.py``.

    Parses ``ws.py`` and reads two lines of each generated file; does nothing for
    a module without ``ws.py``.

    Raises:
        GeneratedCodeError: a one-line message naming the module, the problem and
            ``trading specs build``.
    """
    if not (module_dir / "ws.py").is_file():
        return
    try:
        declarations = read_declarations(module_dir)
    except WsDeclarationError as exc:
        raise GeneratedCodeError(f"{exc}; fix it, then run `{COMMAND}`") from None
    problem = _staleness(module_dir / GENERATED_DIR, declarations)
    if problem is not None:
        module = name_for(module_dir.name)
        raise GeneratedCodeError(
            f"module {module!r}: {problem}; run `{COMMAND}` to regenerate it"
        )


def _staleness(out_dir: Path, declarations: list[RouterDeclaration]) -> str | None:
    if not out_dir.is_dir():
        return f"{GENERATED_DIR}/ is missing"
    expected = {out_dir / d.filename: d.fingerprint for d in declarations}
    init = out_dir / "__init__.py"
    for path in _generated_files(out_dir):
        if path not in expected and path != init:
            return f"{GENERATED_DIR}/{path.name} has no declaration left in ws.py"
    expected[init] = _init_fingerprint(declarations)
    for path, fingerprint in expected.items():
        found = _read_fingerprint(path)
        if found is None:
            return f"{GENERATED_DIR}/{path.name} is missing"
        if found != fingerprint:
            return f"{GENERATED_DIR}/{path.name} is out of date with ws.py"
    return None


def _read_fingerprint(path: Path) -> str | None:
    """The fingerprint in a generated file, "" if it has none, None if absent."""
    try:
        with path.open(encoding="utf-8") as handle:
            header, second = handle.readline(), handle.readline()
    except FileNotFoundError:
        return None
    if header.rstrip("\n") != HEADER or not second.startswith(FINGERPRINT_PREFIX):
        return ""
    return second[len(FINGERPRINT_PREFIX) :].strip()


def _generated_files(out_dir: Path) -> list[Path]:
    """Python files in ``out_dir`` that carry the generated header."""
    found = []
    for path in sorted(out_dir.glob("*.py")):
        with path.open(encoding="utf-8") as handle:
            if handle.readline().rstrip("\n") == HEADER:
                found.append(path)
    return found


def _init_fingerprint(declarations: list[RouterDeclaration]) -> str:
    return digest([GENERATOR_VERSION, [(d.alias, d.fingerprint) for d in declarations]])


def _render_router(declaration: RouterDeclaration) -> str:
    d = declaration
    lines = [
        HEADER,
        FINGERPRINT_PREFIX + d.fingerprint,
        f'"""WebSocket route ``{d.route}``, generated from ws.py."""',
        "",
        *_render_imports(
            [*d.imports, *_delivery_import(d), _WS_ROUTER], _first_party(d)
        ),
        "",
        "",
        _class_line(d),
        f'    route = "{d.route}"',
        f"    request_model = {d.request}",
        f"    data_model = {d.data}",
        *([f"    delivery = {d.delivery}"] if d.delivery else []),
    ]
    return "\n".join(lines) + "\n"


def _delivery_import(d: RouterDeclaration) -> list[Import]:
    name = d.delivery_class
    return [] if name is None else [Import("trading_api.shared.ws", name)]


def _class_line(d: RouterDeclaration) -> str:
    """The class statement, wrapped the way ruff format wraps a long one."""
    base = f"WsRouter[{d.request}, {d.data}]"
    line = f"class {d.alias}({base}):"
    if len(line) <= _LINE_LENGTH:
        return line
    if len(base) + 5 <= _LINE_LENGTH:
        return f"class {d.alias}(\n    {base},\n):"
    args = f"        {d.request},\n        {d.data},"
    return f"class {d.alias}(\n    WsRouter[\n{args}\n    ],\n):"


def _render_init(declarations: list[RouterDeclaration]) -> str:
    lines = [
        HEADER,
        FINGERPRINT_PREFIX + _init_fingerprint(declarations),
        '"""WebSocket router classes generated from ws.py."""',
        "",
    ]
    ordered = sorted(declarations, key=lambda d: d.filename)
    for d in ordered:
        lines.append(f"from .{d.filename.removesuffix('.py')} import {d.alias}")
    names = sorted(d.alias for d in declarations)
    quoted = [f'"{name}"' for name in names]
    lines += ["", f"__all__ = [{', '.join(quoted)}]"]
    if len(lines[-1]) > _LINE_LENGTH:
        lines[-1:] = ["__all__ = [", *(f"    {q}," for q in quoted), "]"]
    if not names:
        lines[-1] = "__all__: list[str] = []"
    return "\n".join(lines) + "\n"


def _first_party(declaration: RouterDeclaration) -> frozenset[str]:
    # Like ruff: the project's packages and the one the file itself lives in.
    own = (declaration.package or "").split(".")[0]
    return frozenset({"trading_api", "trading_cli", own} - {""})


def _render_imports(imports: list[Import], first_party: frozenset[str]) -> list[str]:
    """Import lines grouped and ordered as ruff's isort rules expect."""
    sections: dict[int, list[str]] = {}
    plain = sorted({i for i in imports if i.name is None}, key=_module_key)
    for item in plain:
        alias = f" as {item.asname}" if item.asname else ""
        sections.setdefault(item.section(first_party), []).append(
            f"import {item.module}{alias}"
        )
    by_module: dict[str, set[str]] = {}
    for item in imports:
        if item.name is not None:
            spelled = f"{item.name} as {item.asname}" if item.asname else item.name
            by_module.setdefault(item.module, set()).add(spelled)
    for module in sorted(by_module, key=lambda m: _module_key(Import(m))):
        line = _from_import(module, sorted(by_module[module], key=_member_key))
        sections.setdefault(Import(module).section(first_party), []).append(line)
    out: list[str] = []
    for section in sorted(sections):
        out += [*([""] if out else []), *sections[section]]
    return out


def _from_import(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= _LINE_LENGTH:
        return line
    return "\n".join([f"from {module} import (", *(f"    {n}," for n in names), ")"])


def _module_key(item: Import) -> tuple[int, str]:
    # Relative imports go furthest first (`...x` before `..x`), then by name.
    dots = len(item.module) - len(item.module.lstrip("."))
    return (-dots, item.module.lstrip(".").lower())


def _member_key(name: str) -> tuple[int, str]:
    # isort's order-by-type: CONSTANTS, then Classes, then functions/variables.
    bare = name.split(" ")[0]
    kind = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return (kind, bare.lower())
