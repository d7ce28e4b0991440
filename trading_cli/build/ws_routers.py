"""Generate WS router classes from the type aliases a module declares in ``ws.py``.

``BarsRouter: TypeAlias = WsRouter[BarsSubscriptionRequest, Bar]`` becomes
``ws_generated/bars_router.py`` holding ``class BarsRouter(WsRouter[...])`` with
``route = "bars"``, both models and the declared delivery class, plus
``ws_generated/__init__.py`` exporting every class. ``ws.py`` is read with
:mod:`ast`, never imported, so generation is safe on broken code.

Each file is rendered from a :class:`string.Template`, then ruff sorts its imports
and formats it with the project's own settings (as if the file were saved where
it goes), so the output is exactly what the project's lint and format checks
want, and deterministic for a given ruff version. Each file carries a
fingerprint of its declaration; the server's staleness check
(:func:`trading_api.shared.ws.generated.check_ws_generated`) compares only those.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from trading_cli.errors import TradingError

if TYPE_CHECKING:
    from trading_api.shared.ws.declarations import RouterDeclaration

__all__ = [
    "RuffMissingError",
    "format_python",
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


class RuffMissingError(TradingError):
    """ruff, which formats generated code, cannot be run."""


def render_ws_routers(module_dir: Path) -> dict[Path, str]:
    """Render every file of ``module_dir/ws_generated/`` from ``module_dir/ws.py``.

    Returns:
        The text of each file, keyed by its path: one file per alias plus
        ``__init__.py``.

    Raises:
        WsDeclarationError: ``ws.py`` is missing, does not parse, or declares an
            alias that cannot be generated; the message names the line.
        RuffMissingError: ruff cannot be run.
    """
    from trading_api.shared.ws.declarations import read_declarations
    from trading_api.shared.ws.generated import GENERATED_DIR

    declarations = read_declarations(module_dir)
    out_dir = module_dir / GENERATED_DIR
    files = {out_dir / d.filename: _render_router(d) for d in declarations}
    files[out_dir / "__init__.py"] = _render_init(declarations)
    return format_python(files)


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
        RuffMissingError: ruff cannot be run.
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


def format_python(files: dict[Path, str]) -> dict[Path, str]:
    """Sort the imports of each file and format it, as ruff would on save.

    Each text goes through ``ruff check --select I --fix`` and ``ruff format``
    on standard input, named after its path, so ruff applies the settings (line
    length, first-party packages) of the project the path is in. The paths are
    files of a generated folder inside a package, like ``ws_generated/``.

    Raises:
        RuffMissingError: ruff cannot be run.
    """
    ruff = _ruff_binary()
    out = {}
    for path, text in files.items():
        # Named as if in the folder above: it exists (the output folder may not
        # yet), so ruff finds the same package, hence the same import sections,
        # on the first run as on the next.
        name = ["--stdin-filename", str(path.parent.parent / path.name)]
        text = _run(ruff, ["check", "--select", "I", "--fix", "--quiet", *name], text)
        out[path] = _run(ruff, ["format", "--quiet", *name], text)
    return out


def _ruff_binary() -> str:
    try:
        from ruff import find_ruff_bin  # type: ignore[import-untyped]
    except ImportError:
        raise RuffMissingError(
            "ruff is not installed; it formats generated code: pip install ruff"
        ) from None
    try:
        return str(find_ruff_bin())
    except FileNotFoundError:
        raise RuffMissingError(
            "the ruff package has no binary; reinstall it: pip install ruff"
        ) from None


def _run(ruff: str, args: list[str], text: str) -> str:
    done = subprocess.run(
        [ruff, *args, "-"], input=text, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        problem = (done.stderr or done.stdout).strip().splitlines()
        raise RuffMissingError(
            f"ruff {args[0]} failed on generated code: "
            f"{problem[-1] if problem else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


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
