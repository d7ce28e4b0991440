"""``trading specs build``: WS routers, per-module and merged OpenAPI/AsyncAPI.

Everything is rendered in memory from the project's code, validated (OpenAPI with
openapi-spec-validator, AsyncAPI with the official parser), and only then written,
file by file and only where the content changed. With ``check=True`` nothing is
written: each stale file is reported with a unified diff.
"""

import difflib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_cli.build.result import BuildResult
from trading_cli.build.validators import (
    ASYNCAPI_MISSING,
    AsyncApiParser,
    BatchValidator,
    OpenApiValidator,
    ValidationCache,
    ValidatorMissingError,
    in_ci,
)
from trading_cli.errors import CliError
from trading_cli.project import Project

COMMAND = "trading specs build"
GENERATED_KEY = "x-generated-by"
"""The root key that heads a generated JSON document (JSON has no comments)."""
SPECS_DIR = "specs_generated"
OPENAPI = "openapi"
ASYNCAPI = "asyncapi"


@dataclass
class SpecDocuments:
    """Every document of the project, as plain dicts (not yet headed).

    Attributes:
        openapi: Each module's OpenAPI document, by module name.
        asyncapi: The AsyncAPI document of each module with WS routes.
        merged_openapi: The merged OpenAPI document of every module.
        merged_asyncapi: The merged AsyncAPI document of every module.
    """

    openapi: dict[str, dict[str, Any]]
    asyncapi: dict[str, dict[str, Any]]
    merged_openapi: dict[str, Any]
    merged_asyncapi: dict[str, Any]


def module_spec_path(project: Project, name: str, kind: str) -> Path:
    """``modules/<pkg>/specs_generated/<name>_<kind>.json`` (kind: openapi/asyncapi)."""
    from trading_api.conventions import package_for

    return project.modules_dir / package_for(name) / SPECS_DIR / f"{name}_{kind}.json"


def merged_spec_path(project: Project, kind: str) -> Path:
    """``src/trading_api/specs_generated/<kind>.json`` (kind: openapi/asyncapi)."""
    return project.package_dir / SPECS_DIR / f"{kind}.json"


def spec_text(document: dict[str, Any]) -> str:
    """The committed form of a document: headed, canonical JSON."""
    from trading_api.shared.artifacts import canonical_json, header_line

    header = header_line(COMMAND, comment="").strip()
    return canonical_json({**document, GENERATED_KEY: header})


def build_specs(
    project: Project,
    modules: Sequence[str] | None = None,
    *,
    check: bool = False,
    validators: "SpecValidators | None" = None,
    others_from_disk: bool = False,
) -> BuildResult:
    """Generate (or with ``check`` compare) WS routers and specs.

    ``modules`` limits the WS routers and per-module documents to those modules
    (None: all); the merged documents always cover every module. ``validators``
    started earlier by the caller (:func:`early_validators`) spare the build their
    start-up; the build closes them.

    With ``others_from_disk`` (and ``modules`` given), only ``modules`` are
    imported: the merged documents are built from their fresh documents and the
    committed documents of every other module (see
    :func:`committed_documents`), byte for byte what the full build writes when
    those are up to date, which ``trading specs build --check`` keeps them. Where
    another module has no committed documents, or stale WS routers, every module
    is imported as without it.

    Raises:
        UnknownModuleError: a name in ``modules`` is not a module.
        CliError: a document is invalid, or the AsyncAPI parser is missing in CI.
        TradingError: a module fails to load or its ``ws.py`` is broken.
    """
    if validators is None:
        validators = SpecValidators.for_project(project)
        for validator in _probably_needed(project, validators):
            validator.start()
    try:
        return _build(project, modules, check, validators, others_from_disk)
    finally:
        validators.close()


DocumentSink = Callable[[str, str | None, dict[str, Any]], None]
"""Receives each document as it is rendered: kind, module (None: merged), body."""


def render_documents(
    project: Project, sink: DocumentSink | None = None
) -> SpecDocuments:
    """Build every module's app and return all documents, unvalidated.

    ``sink`` receives each document as soon as it exists, module by module and
    the merged ones last, so validation can run while the rest renders.
    """
    project.activate()
    from trading_api.app_factory import AppFactory

    app = AppFactory(project.modules_dir).create_app()
    send = sink or (lambda kind, name, document: None)
    documents = SpecDocuments({}, {}, {}, {})
    for name, module_app in app.module_apps.items():
        documents.openapi[name] = module_app.openapi()
        send(OPENAPI, name, documents.openapi[name])
        if name in app.ws_apps:
            documents.asyncapi[name] = app.ws_apps[name].asyncapi()
            send(ASYNCAPI, name, documents.asyncapi[name])
    # The AsyncAPI parser is the slower validator: give it its last document first.
    documents.merged_asyncapi = app.asyncapi()
    send(ASYNCAPI, None, documents.merged_asyncapi)
    documents.merged_openapi = app.openapi()
    send(OPENAPI, None, documents.merged_openapi)
    return documents


def render_some_documents(
    project: Project, modules: Sequence[str], sink: DocumentSink | None = None
) -> SpecDocuments | None:
    """Import only ``modules`` and return their documents and the merged ones,
    merged with the committed documents of every other module; None when another
    module's committed documents cannot stand in for its code (see
    :func:`committed_documents`).

    ``sink`` receives the documents of ``modules``, the only new ones: the
    others are the files already on disk, and the merged ones are made of those
    by the merge that every full build validates (``trading specs build
    --check`` in CI validates them all).
    """
    registry = project.module_registry()
    selected = set(registry.select(modules))
    committed: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    for name in registry.names:
        if name not in selected:
            found = committed_documents(project, name, registry.entry(name).package_dir)
            if found is None:
                return None
            committed[name] = found
    from trading_api.app_factory import merged_asyncapi, merged_openapi

    send = sink or (lambda kind, name, document: None)
    documents = SpecDocuments({}, {}, {}, {})
    for name in registry.names:  # registry order, as the app's
        if name in committed:
            openapi, asyncapi = committed[name]
        else:
            module_app, ws_app = registry.create_module(name).create_app()
            # As read back from its file, so that live and committed documents
            # compare alike when merged (tuples become lists, ...).
            openapi = _as_json(module_app.openapi())
            send(OPENAPI, name, openapi)
            asyncapi = None if ws_app is None else _as_json(ws_app.asyncapi())
            if asyncapi is not None:
                send(ASYNCAPI, name, asyncapi)
        documents.openapi[name] = openapi
        if asyncapi is not None:
            documents.asyncapi[name] = asyncapi
    documents.merged_asyncapi = merged_asyncapi(documents.asyncapi)
    documents.merged_openapi = merged_openapi(documents.openapi)
    return documents


def committed_documents(
    project: Project, name: str, package_dir: Path
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """Module ``name``'s committed OpenAPI and AsyncAPI (None: no WS routes)
    documents, without their header; None when they cannot stand in for the
    module's code: its OpenAPI file is missing or not a document we wrote, or
    its ``ws_generated/`` is out of date with its ``ws.py`` (the module could not
    even load).

    Whether a committed document matches the code it was built from is what
    ``trading specs build --check`` checks (in ``trading test`` and CI); the dev
    loop rebuilds them on every save.
    """
    from trading_api.shared.ws.declarations import WsDeclarationError
    from trading_api.shared.ws.generated import staleness

    try:
        if (package_dir / "ws.py").is_file() and staleness(package_dir) is not None:
            return None
    except WsDeclarationError:
        return None
    found: list[dict[str, Any] | None] = []
    for kind in (OPENAPI, ASYNCAPI):
        path = module_spec_path(project, name, kind)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            found.append(None)
            continue
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or GENERATED_KEY not in document:
            return None
        del document[GENERATED_KEY]
        found.append(document)
    openapi, asyncapi = found
    if openapi is None:
        return None
    return openapi, asyncapi


def _as_json(document: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(json.dumps(document))
    return parsed


def _build(
    project: Project,
    modules: Sequence[str] | None,
    check: bool,
    validators: "SpecValidators",
    others_from_disk: bool = False,
) -> BuildResult:
    registry = project.module_registry()
    selected = registry.select(modules)
    result = BuildResult()
    for name in selected:
        _ws_routers(project, registry.entry(name).package_dir, check, result)
    if check and result.stale:
        result.notes.append(
            "specs not compared: their modules cannot load with stale WS routers"
        )
        return result
    sink = validators.sink(project)
    documents = None
    if others_from_disk and modules is not None:
        documents = render_some_documents(project, selected, sink)
    if documents is None:
        documents = render_documents(project, sink)
    files = _spec_files(project, selected, documents)
    _validate(project, validators, result)
    for path, text in files.items():
        if text is None:
            if path.exists() and f'"{GENERATED_KEY}"' in path.read_text("utf-8"):
                _remove(path, check, project.root, result)  # only what we made
        else:
            result.record(path, text, check=check, root=project.root)
    return result


def _ws_routers(
    project: Project, module_dir: Path, check: bool, result: BuildResult
) -> None:
    """Render ``ws_generated/`` of a module with ``ws.py``; drop orphaned files."""
    if not (module_dir / "ws.py").is_file():
        return
    from trading_api.shared.ws.generated import HEADER
    from trading_cli.build.ws_routers import render_ws_routers

    files = render_ws_routers(module_dir)
    for path, text in sorted(files.items()):
        result.record(path, text, check=check, root=project.root)
    for path in sorted((module_dir / "ws_generated").glob("*.py")):
        if path not in files and _first_line(path) == HEADER:
            _remove(path, check, project.root, result)


def _spec_files(
    project: Project, selected: list[str], documents: SpecDocuments
) -> dict[Path, str | None]:
    """Each spec file and its text; None for a file that must go."""
    files: dict[Path, str | None] = {}
    for name in selected:
        files[module_spec_path(project, name, OPENAPI)] = spec_text(
            documents.openapi[name]
        )
        asyncapi = documents.asyncapi.get(name)
        files[module_spec_path(project, name, ASYNCAPI)] = (
            None if asyncapi is None else spec_text(asyncapi)
        )
    files[merged_spec_path(project, OPENAPI)] = spec_text(documents.merged_openapi)
    files[merged_spec_path(project, ASYNCAPI)] = spec_text(documents.merged_asyncapi)
    return files


@contextmanager
def early_validators(
    project: Project, *, asyncapi: bool = True
) -> Iterator["SpecValidators"]:
    """Start the validators now, for a build that will surely have new documents
    (a new module): their start-up overlaps the caller's work. Pass them to
    :func:`build_specs`; they are closed on exit either way. ``asyncapi``: see
    :meth:`SpecValidators.for_project`."""
    validators = SpecValidators.for_project(project, asyncapi=asyncapi)
    validators.start()
    try:
        yield validators
    finally:
        validators.close()


@dataclass
class SpecValidators:
    """Both validator processes, started before the build imports anything.

    ``asyncapi`` is None when AsyncAPI documents are left to the next full
    build (see :meth:`for_project`).
    """

    asyncapi: AsyncApiParser | None
    openapi: OpenApiValidator

    @classmethod
    def for_project(
        cls, project: Project, *, asyncapi: bool = True
    ) -> "SpecValidators":
        """The validators of ``project``, not started yet.

        Without ``asyncapi``, AsyncAPI documents are written unvalidated: the
        module commands leave them to the next ``trading specs build`` or
        ``--check`` (``trading test`` and CI run it), because the official
        parser costs seconds of CPU to start while the documents come from the
        same generator as every validated one.
        """
        return cls(
            AsyncApiParser(project.root) if asyncapi else None, OpenApiValidator()
        )

    def start(self) -> None:
        if self.asyncapi is not None:
            self.asyncapi.start()
        self.openapi.start()

    def sink(self, project: Project) -> DocumentSink:
        """Send each rendered document to its validator, named by its file."""

        def send(kind: str, name: str | None, document: dict[str, Any]) -> None:
            path = (
                merged_spec_path(project, kind)
                if name is None
                else module_spec_path(project, name, kind)
            )
            validator = self.openapi if kind == OPENAPI else self.asyncapi
            if validator is not None:
                validator.send(path, document)

        return send

    def close(self) -> None:
        if self.asyncapi is not None:
            self.asyncapi.close()
        self.openapi.close()


def _probably_needed(
    project: Project, validators: SpecValidators
) -> list[BatchValidator]:
    """The validators worth starting before the build renders anything: those
    of a kind with a committed spec not known to be valid, and both when a
    module has no OpenAPI file yet (a new module: its documents are surely new).

    Only decides which validators start early; a validator left out starts when
    a document turns out new (:meth:`BatchValidator.send`), so a wrong guess
    costs time, not correctness. The AsyncAPI parser is a Node process costing
    seconds of CPU: a build that changed only routes does not start it.
    """
    kinds: dict[str, BatchValidator] = {OPENAPI: validators.openapi}
    if validators.asyncapi is not None:
        kinds[ASYNCAPI] = validators.asyncapi
    caches = {kind: ValidationCache(v.identity) for kind, v in kinds.items()}
    if not all(cache.enabled for cache in caches.values()):
        return list(kinds.values())
    for package in project.module_packages():
        if not any(
            (project.modules_dir / package / SPECS_DIR).glob(f"*_{OPENAPI}.json")
        ):
            return list(kinds.values())
    needed: dict[str, BatchValidator] = {}
    for path in sorted(project.package_dir.glob(f"**/{SPECS_DIR}/*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            document.pop(GENERATED_KEY, None)
        except (ValueError, AttributeError):
            return list(kinds.values())  # not a spec we wrote: the build says so
        kind = ASYNCAPI if path.stem.endswith(ASYNCAPI) else OPENAPI
        if kind not in document:
            continue  # not a document (an orphan the build removes): never sent
        if kind in kinds and kind not in needed and not caches[kind].knows(document):
            needed[kind] = kinds[kind]
    return list(needed.values())


def _validate(
    project: Project, validators: SpecValidators, result: BuildResult
) -> None:
    """Raise on the first invalid document, naming its file and its problems."""
    batches: list[tuple[str, BatchValidator]] = [("OpenAPI", validators.openapi)]
    if validators.asyncapi is not None:
        batches.append(("AsyncAPI", validators.asyncapi))
    for kind, validator in batches:
        try:
            verdicts = validator.results()
        except ValidatorMissingError:
            if kind != "AsyncAPI":
                raise
            if in_ci():
                message = ASYNCAPI_MISSING.replace("skipped", "needed in CI")
                raise CliError(message) from None
            result.notes.append(ASYNCAPI_MISSING)
            continue
        for path, problems in sorted(verdicts.items()):
            _raise_if_invalid(project, path, kind, problems)


def _raise_if_invalid(
    project: Project, path: Path, kind: str, problems: list[str]
) -> None:
    if not problems:
        return
    shown = "; ".join(problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    raise CliError(
        f"the generated {path.relative_to(project.root)} is not valid {kind}: "
        f"{shown}{more}; fix the models or routes it is built from"
    )


def _remove(path: Path, check: bool, root: Path, result: BuildResult) -> None:
    """Delete a generated file that is no longer generated (report it with
    ``check``)."""
    if not path.exists():
        return
    if not check:
        path.unlink()
        result.removed.append(path)
        return
    name = str(path.relative_to(root))
    result.stale[path] = "".join(
        difflib.unified_diff(
            path.read_text(encoding="utf-8").splitlines(keepends=True),
            [],
            fromfile=f"a/{name} (committed)",
            tofile=f"b/{name} (no longer generated)",
        )
    )


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:
        return handle.readline().rstrip("\n")
