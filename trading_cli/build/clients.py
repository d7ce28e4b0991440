"""``trading clients build``: each module's typed Python client package.

For every selected module this imports the module, builds its FastAPI app (no
server, no lifespan), reads its operations and WebSocket routes and renders
``modules/<pkg>/client_generated/``. Files are written only when their content
changed; with ``check=True`` nothing is written and each stale file is reported
with a unified diff.
"""

import difflib
from collections.abc import Sequence
from pathlib import Path

from trading_cli.build.client_operations import describe_client
from trading_cli.build.client_render import COMMAND, render_client_package
from trading_cli.build.result import BuildResult
from trading_cli.errors import CliError
from trading_cli.project import Project

CLIENT_DIR = "client_generated"


def client_dir(package_dir: Path) -> Path:
    """Where a module's generated client lives."""
    return package_dir / CLIENT_DIR


def build_clients(
    project: Project, modules: Sequence[str] | None = None, *, check: bool = False
) -> BuildResult:
    """Generate (or with ``check`` compare) the client of each module.

    ``modules`` limits the build to those modules (None: all). Every name is
    checked and every client rendered before anything is written.

    Raises:
        UnknownModuleError: a name in ``modules`` is not a module.
        TradingError: a module fails to load (its message names the fix).
        CliError: an endpoint uses something a client cannot express.
    """
    registry = project.module_registry()
    rendered: dict[Path, dict[str, str]] = {}
    for name in registry.select(modules):
        module = registry.create_module(name)
        try:
            out = client_dir(registry.entry(name).package_dir)
            rendered[out] = render_client_package(
                describe_client(module), out, project.root
            )
        except CliError as exc:
            raise CliError(f"client of module {name!r}: {exc}") from exc
    # Everything rendered before anything is written: a module that cannot be
    # rendered leaves every client as it was.
    result = BuildResult()
    for out, files in rendered.items():
        for filename, text in files.items():
            result.record(out / filename, text, check=check, root=project.root)
        _drop_leftovers(out, set(files), check=check, root=project.root, into=result)
    return result


def _drop_leftovers(
    out: Path, fresh: set[str], *, check: bool, root: Path, into: BuildResult
) -> None:
    """Remove generated files the generator no longer makes; keep any other file."""
    from trading_api.shared.artifacts import header_line

    header = header_line(COMMAND)
    for path in sorted(out.glob("*.py")):
        if path.name in fresh:
            continue
        text = path.read_text(encoding="utf-8")
        if text.splitlines()[:1] != [header]:
            continue
        if check:
            name = str(path.relative_to(root))
            into.stale[path] = "".join(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    [],
                    fromfile=f"a/{name} (committed)",
                    tofile=f"b/{name} (removed)",
                )
            )
        else:
            path.unlink()
            into.removed.append(path)
