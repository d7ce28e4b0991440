"""Generate WS router classes from the type aliases a module declares in ``ws.py``.

``BarsRouter: TypeAlias = WsRouter[BarsSubscriptionRequest, Bar]`` becomes
``ws_generated/bars_router.py`` holding ``class BarsRouter(WsRouter[...])`` with
``route = "bars"``, both models and the declared delivery class, plus
``ws_generated/__init__.py`` exporting every class. ``ws.py`` is read with
:mod:`ast`, never imported, so generation is safe on broken code.

Each file is rendered from a :class:`string.Template`, then ruff sorts its imports
and formats it with the project's own settings
(:func:`trading_cli.build.formatting.format_python`), so the output is exactly
what the project's lint and format checks want, and deterministic for a given
ruff version. Each file carries a fingerprint of its declaration; the server's
staleness check (:func:`trading_api.shared.ws.generated.check_ws_generated`)
compares only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from trading_cli.errors import TradingError

if TYPE_CHECKING:
    from trading_api.shared.ws.declarations import RouterDeclaration

__all__ = [
    "render_ws_routers",
    "write_ws_routers",
    "ws_router_paths",
]

_ROUTER = Template('''$header
$fingerprint
"""WebSocket route ``$route``, generated from ws.py."""

$imports


class $alias(WsRouter[$request, $data]):
    route = "$route"
    request_model = $request
    data_model = $data
$delivery''')

_INIT = Template('''$header
$fingerprint
"""WebSocket router classes generated from ws.py."""

$imports

__all__$all_annotation = [$names]
''')

_WS_IMPORTS = "trading_api.shared.ws"


def render_ws_routers(module_dir: Path) -> dict[Path, str]:
    """Render every file of ``module_dir/ws_generated/`` from ``module_dir/ws.py``.

    Returns:
        The text of each file, keyed by its path: one file per alias plus
        ``__init__.py``.

    Raises:
        WsDeclarationError: ``ws.py`` is missing, does not parse, or declares an
            alias that cannot be generated; the message names the line.
        TradingError: ruff cannot format the output.
    """
    from trading_api.shared.ws.declarations import read_declarations
    from trading_api.shared.ws.generated import GENERATED_DIR

    declarations = read_declarations(module_dir)
    out_dir = module_dir / GENERATED_DIR
    files = {out_dir / d.filename: _render_router(d) for d in declarations}
    files[out_dir / "__init__.py"] = _render_init(declarations)
    return _formatted(files, module_dir)


def ws_router_paths(module_dir: Path) -> list[Path]:
    """The files :func:`render_ws_routers` makes, without rendering them.

    Raises:
        WsDeclarationError: as :func:`render_ws_routers`.
    """
    from trading_api.shared.ws.declarations import read_declarations
    from trading_api.shared.ws.generated import GENERATED_DIR

    out_dir = module_dir / GENERATED_DIR
    names = [d.filename for d in read_declarations(module_dir)] + ["__init__.py"]
    return [out_dir / name for name in names]


def write_ws_routers(module_dir: Path, *, force: bool = False) -> list[Path]:
    """Write ``ws_generated/`` for ``module_dir``; return the paths that changed.

    Does nothing while the generated files' fingerprints match ``ws.py`` (unless
    ``force``), so the dev loop pays for rendering only after a real change.
    Unchanged files are not touched; generated files of aliases that no longer
    exist are removed. When rendering fails nothing is written or removed.

    Raises:
        WsDeclarationError: as :func:`render_ws_routers`.
        TradingError: ruff cannot format the output.
    """
    from trading_api.shared.artifacts import write_if_changed
    from trading_api.shared.ws.generated import (
        GENERATED_DIR,
        generated_files,
        staleness,
    )

    if not force and staleness(module_dir) is None:
        return []
    files = render_ws_routers(module_dir)
    changed = [path for path, text in files.items() if write_if_changed(path, text)]
    for path in generated_files(module_dir / GENERATED_DIR):
        if path not in files:
            path.unlink()
            changed.append(path)
    return sorted(changed)


def _formatted(files: dict[Path, str], module_dir: Path) -> dict[Path, str]:
    from trading_cli.build.formatting import format_python

    root = _project_root(module_dir)
    # Named as if in the module's folder: it exists (ws_generated/ may not yet),
    # so ruff finds the same package, hence the same import sections, on the
    # first run as on the next.
    return {
        path: format_python(text, module_dir / path.name, root)
        for path, text in files.items()
    }


def _project_root(module_dir: Path) -> Path:
    """The nearest folder above ``module_dir`` with a ``pyproject.toml``."""
    for folder in module_dir.resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise TradingError(
        f"{module_dir} is not inside a project: no pyproject.toml above it"
    )


def _import_lines(imports: Sequence[tuple[str, str | None, str | None]]) -> str:
    lines = []
    for module, name, asname in imports:
        alias = f" as {asname}" if asname else ""
        lines.append(
            f"import {module}{alias}"
            if name is None
            else f"from {module} import {name}{alias}"
        )
    return "\n".join(lines)


def _render_router(d: RouterDeclaration) -> str:
    from trading_api.shared.ws.generated import FINGERPRINT_PREFIX, HEADER

    imports: list[tuple[str, str | None, str | None]]
    imports = [(i.module, i.name, i.asname) for i in d.imports]
    imports.append((_WS_IMPORTS, "WsRouter", None))
    if d.delivery_class is not None:
        imports.append((_WS_IMPORTS, d.delivery_class, None))
    return _ROUTER.substitute(
        header=HEADER,
        fingerprint=FINGERPRINT_PREFIX + d.fingerprint,
        route=d.route,
        imports=_import_lines(imports),
        alias=d.alias,
        request=d.request,
        data=d.data,
        delivery=f"    delivery = {d.delivery}\n" if d.delivery else "",
    )


def _render_init(routers: list[RouterDeclaration]) -> str:
    from trading_api.shared.ws.generated import (
        FINGERPRINT_PREFIX,
        HEADER,
        init_fingerprint,
    )

    imports = [("." + d.filename.removesuffix(".py"), d.alias, None) for d in routers]
    names = sorted(d.alias for d in routers)
    return _INIT.substitute(
        header=HEADER,
        fingerprint=FINGERPRINT_PREFIX + init_fingerprint(routers),
        imports=_import_lines(imports),
        all_annotation="" if names else ": list[str]",
        names=", ".join(f'"{name}"' for name in names),
    )
