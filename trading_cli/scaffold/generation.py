"""The generated code of scaffolded modules: the same builders as the CLI's own.

``new-module``, ``update-module`` and ``remove-module`` call the library functions
behind ``trading specs build`` and ``trading clients build``, so a scaffolded
module's ``ws_generated/``, specs and client are exactly what those commands make.
"""

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trading_cli.build.result import BuildResult
from trading_cli.project import Project

if TYPE_CHECKING:
    from trading_cli.build.specs import SpecValidators

PRELOADED = (
    "trading_api.app_factory",
    "trading_api.models.common",
    "trading_api.shared.storage",
    "trading_api.shared.ws.asyncapi",
    "sqlalchemy.orm",  # the template's tables.py; storage imports it lazily
    "trading_cli.build.clients",
    "trading_cli.build.specs",
    "trading_cli.build.ws_routers",
)
"""The modules :func:`preload_generation` imports."""

CLIENT_FILES = ("__init__.py", "client.py")
"""The files ``trading clients build`` writes into ``client_generated/``."""


def generate(
    project: Project,
    modules: Sequence[str],
    validators: "SpecValidators | None" = None,
) -> BuildResult:
    """Build the WS routers, specs and clients of ``modules``, and the merged specs.

    An empty ``modules`` rebuilds only the merged specs (after a removal).
    ``validators`` already started spare the spec build their start-up; by
    default only the OpenAPI documents are validated (see
    :meth:`~trading_cli.build.specs.SpecValidators.for_project`). Only
    ``modules`` are imported: the merged specs take every other module's
    committed documents (see :func:`trading_cli.build.specs.build_specs`).
    """
    from trading_cli.build.clients import build_clients
    from trading_cli.build.specs import SpecValidators, build_specs

    importlib.invalidate_caches()  # module folders may have just appeared
    if validators is None:
        validators = SpecValidators.for_project(project, asyncapi=False)
    result = build_specs(
        project, list(modules), validators=validators, others_from_disk=True
    )
    if modules:
        result.merge(build_clients(project, list(modules)))
    return result


def preload_generation(project: Project) -> None:
    """Import what :func:`generate` will need for a module made from the
    template (the builders, and the runtime every such module imports: the app
    factory, the WebSocket and storage code), while something else runs."""
    project.activate()
    for name in PRELOADED:
        importlib.import_module(name)


def notes_of(result: BuildResult) -> list[str]:
    """What a builder wants the user to know (e.g. a validation it skipped)."""
    notes = result.notes
    return [str(note) for note in notes]


def merged_spec_paths(project: Project) -> list[Path]:
    """The merged OpenAPI and AsyncAPI files every module change rewrites."""
    from trading_cli.build.specs import ASYNCAPI, OPENAPI, merged_spec_path

    return [merged_spec_path(project, kind) for kind in (OPENAPI, ASYNCAPI)]


def predicted_files(
    project: Project, name: str, module_dir: Path, staged: Path, with_ws: bool
) -> list[Path]:
    """The generated files a module rendered into ``staged`` will get at
    ``module_dir``, worked out without importing it."""
    from trading_cli.build.clients import client_dir
    from trading_cli.build.specs import ASYNCAPI, OPENAPI, module_spec_path

    files = [module_spec_path(project, name, OPENAPI)]
    files += [client_dir(module_dir) / filename for filename in CLIENT_FILES]
    if with_ws:
        from trading_cli.build.ws_routers import ws_router_paths

        rendered = ws_router_paths(staged)
        files += [module_dir / path.relative_to(staged) for path in rendered]
        files.append(module_spec_path(project, name, ASYNCAPI))
    return files
