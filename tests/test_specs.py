"""``trading specs build`` as a developer runs it (in process), on a copy of the
project."""

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trading_cli.build.specs import build_specs
from trading_cli.build.validators import OpenApiValidator, find_parser_root
from trading_cli.project import Project

ROOT = Path(__file__).resolve().parents[1]
CORE = Path("src/trading_api/modules/core")
CORE_SPEC = CORE / "specs_generated" / "core_openapi.json"
MERGED_OPENAPI = Path("src/trading_api/specs_generated/openapi.json")
MERGED_ASYNCAPI = Path("src/trading_api/specs_generated/asyncapi.json")
DATAFEED_SPEC = Path(
    "src/trading_api/modules/datafeed/specs_generated/datafeed_openapi.json"
)
CHECK = ("specs", "build", "--check")
CopyProject = Callable[..., Path]
Cli = Callable[..., Any]


NO_NODE = str(Path(sys.executable).parent)
"""A PATH without Node (nor the AsyncAPI parser it runs)."""


@dataclass
class Validations:
    """``trading specs build --check`` on the unchanged project, twice on one
    validation cache that starts empty: without Node (outside CI), then with
    the AsyncAPI parser (None when it is not installed)."""

    cache: Path
    without_node: Any  # CliOutcome
    with_parser: Any | None
    cached: list[Path]  # the cache's files right after the run with the parser


def parser_installed() -> bool:
    return shutil.which("node") is not None and find_parser_root(ROOT) is not None


@pytest.fixture(scope="module")
def validations(
    unchanged: Path, cli_once: Cli, tmp_path_factory: pytest.TempPathFactory
) -> Validations:
    """The real validation of every committed document, done once for the file:
    its cache then serves every other build here (the documents are the same in
    every copy, so each is validated once, as a developer's cache does)."""
    cache = tmp_path_factory.mktemp("validation-cache")
    env = {"XDG_CACHE_HOME": str(cache), "CI": ""}
    without_node = cli_once(unchanged, *CHECK, env={**env, "PATH": NO_NODE})
    if not parser_installed():
        return Validations(cache, without_node, None, [])
    with_parser = cli_once(unchanged, *CHECK, env=env)
    cached = [path for path in cache.rglob("*") if path.is_file()]
    return Validations(cache, without_node, with_parser, cached)


@pytest.fixture(autouse=True)
def validation_cache(
    validations: Validations, monkeypatch: pytest.MonkeyPatch, remember_verdicts: None
) -> None:
    """Builds remember verdicts, even in CI (see tests/conftest.py), in the cache
    :func:`validations` filled. Node is off the PATH: a build whose AsyncAPI
    documents are all known valid never needs the parser, yet starts it as soon
    as any document is new. The tests about validating set their own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(validations.cache))
    monkeypatch.setenv("PATH", NO_NODE)


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """A copy of the project to build specs in."""
    return project_copy(tmp_path / "project")


@pytest.fixture(scope="module")
def unchanged(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the project for the tests that change nothing in it: its
    modules are imported once for all of them."""
    return project_copy(tmp_path_factory.mktemp("specs") / "project")


def spec_files(project: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.glob("src/trading_api/**/specs_generated/*.json"))
    }


def add_ping_route(project: Path) -> None:
    """Add ``GET /ping`` to the core module, as a developer editing api.py."""
    api = project / CORE / "api.py"
    route = textwrap.indent(
        textwrap.dedent(
            """
            @router.get("/ping", response_model=HealthStatus, summary="Ping")
            async def ping() -> HealthStatus:
                return service.health()
            """
        ),
        "    ",
    )
    source = api.read_text()
    api.write_text(
        source.replace("\n    return router\n", route + "\n    return router\n")
    )


@dataclass
class FromScratch:
    """A project copy whose generated specs were deleted, then built once."""

    root: Path
    first: Any  # the build's CliOutcome
    written: dict[str, bytes]
    stamps: dict[str, int]


@pytest.fixture(scope="module")
def from_scratch(
    project_copy: CopyProject,
    cli_once: Cli,
    validations: Validations,
    remembered: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> FromScratch:
    """One build from scratch for the tests that look at its result."""
    root = project_copy(tmp_path_factory.mktemp("scratch") / "project")
    for folder in root.glob("src/trading_api/**/specs_generated"):
        shutil.rmtree(folder)
    env = {"XDG_CACHE_HOME": str(validations.cache), "PATH": NO_NODE, **remembered}
    first = cli_once(root, "specs", "build", env=env)
    written = spec_files(root)
    stamps = {path: (root / path).stat().st_mtime_ns for path in written}
    return FromScratch(root, first, written, stamps)


def test_build_from_scratch_then_rebuild_writes_nothing(
    from_scratch: FromScratch, cli: Cli
) -> None:
    project, first = from_scratch.root, from_scratch.first
    written = from_scratch.written
    assert first.code == 0, first.err
    assert str(CORE_SPEC) in written and str(MERGED_ASYNCAPI) in written
    assert f"wrote {CORE_SPEC}" in first.out

    second = cli(project, "specs", "build")

    assert second.code == 0, second.err
    assert "nothing written" in second.out
    assert {p: (project / p).stat().st_mtime_ns for p in written} == from_scratch.stamps


def test_build_is_deterministic_and_matches_the_committed_specs(
    from_scratch: FromScratch,
) -> None:
    assert from_scratch.first.code == 0, from_scratch.first.err
    assert from_scratch.written == spec_files(ROOT)


def test_spec_files_are_headed_canonical_json(unchanged: Path) -> None:
    text = (unchanged / MERGED_OPENAPI).read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["x-generated-by"].startswith("Generated by `trading specs build`")
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert str(ROOT) not in text
    assert "/api/v1/core/health" in document["paths"]


def test_check_shows_a_diff_for_a_stale_spec_and_writes_nothing(
    project: Path,
    cli: Cli,
) -> None:
    add_ping_route(project)
    before = spec_files(project)

    result = cli(project, "specs", "build", "--check")

    assert result.code == 1
    assert f"--- a/{CORE_SPEC} (committed)" in result.out
    assert '+    "/ping": {' in result.out
    assert '+    "/api/v1/core/ping": {' in result.out
    # One error line; without the parser a note says its check was skipped.
    errors = [line for line in result.err.splitlines() if line[:5] != "note:"]
    assert len(errors) == 1
    assert "run `trading specs build`" in errors[0]
    assert spec_files(project) == before


def test_check_passes_on_fresh_specs(validations: Validations) -> None:
    result = validations.without_node  # the unchanged project's first check
    assert result.code == 0, result.out + result.err
    assert "specs are up to date" in result.out


def test_build_of_one_module_leaves_other_modules_specs_alone(
    project: Path, cli: Cli
) -> None:
    add_ping_route(project)
    (project / DATAFEED_SPEC).unlink()

    result = cli(project, "specs", "build", "core")

    assert result.code == 0, result.err
    assert "/ping" in json.loads((project / CORE_SPEC).read_text())["paths"]
    assert (
        "/api/v1/core/ping"
        in json.loads((project / MERGED_OPENAPI).read_text())["paths"]
    )
    assert not (project / DATAFEED_SPEC).exists()


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put back the import path a build sets for its project copy."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))


@pytest.mark.usefixtures("in_process")
def test_a_build_of_some_modules_merges_the_others_committed_documents(
    project: Path,
) -> None:
    """How new-, remove- and update-module build: only their modules are
    imported, and the merged documents take every other module's files."""
    add_ping_route(project)  # core's code changes; its committed files do not
    before = spec_files(project)

    result = build_specs(Project(project), ["datafeed"], others_from_disk=True)

    # Byte for byte what the full build committed: core's route is not in.
    assert spec_files(project) == before
    assert result.written == []


@pytest.mark.usefixtures("in_process")
def test_a_module_without_committed_documents_is_imported_instead(
    project: Path,
) -> None:
    add_ping_route(project)
    (project / CORE_SPEC).unlink()

    build_specs(Project(project), ["datafeed"], others_from_disk=True)

    merged = json.loads((project / MERGED_OPENAPI).read_text())
    assert "/api/v1/core/ping" in merged["paths"]
    assert not (project / CORE_SPEC).exists()  # only datafeed's files are written


def test_an_asyncapi_file_no_longer_generated_is_reported_then_removed(
    project: Path,
    cli: Cli,
) -> None:
    orphan = project / CORE / "specs_generated" / "core_asyncapi.json"
    orphan.write_text('{"x-generated-by": "Generated by `trading specs build`."}\n')
    hand_made = project / CORE / "specs_generated" / "notes.json"
    hand_made.write_text("{}\n")

    checked = cli(project, "specs", "build", "--check")
    built = cli(project, "specs", "build")

    assert checked.code == 1
    assert "core_asyncapi.json (no longer generated)" in checked.out
    assert built.code == 0, built.err
    assert f"removed {orphan.relative_to(project)}" in built.out
    assert not orphan.exists()
    assert hand_made.exists()


def test_unknown_module_is_a_usage_error_listing_the_known(
    unchanged: Path, cli: Cli
) -> None:
    before = spec_files(unchanged)

    result = cli(unchanged, "specs", "build", "nope")

    assert result.code == 2
    assert "unknown module 'nope'" in result.err
    assert "core" in result.err and "datafeed" in result.err
    assert "Traceback" not in result.err
    assert spec_files(unchanged) == before


def test_check_reports_a_missing_ws_router(project: Path, cli: Cli) -> None:
    router = project / "src/trading_api/modules/datafeed/ws_generated/bars_router.py"
    router.unlink()

    result = cli(project, "specs", "build", "--check")

    assert result.code == 1
    assert "+class BarsRouter(" in result.out
    assert "ws_generated/bars_router.py" in result.err
    assert not router.exists()


def test_missing_node_is_one_note_outside_ci(validations: Validations) -> None:
    result = validations.without_node
    assert result.code == 0, result.err
    assert result.err.count("note: the AsyncAPI parser is not installed") == 1


@pytest.fixture(scope="module")
def core_only(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the project with ``core`` as its only module."""
    return project_copy(tmp_path_factory.mktemp("core") / "project", modules=["core"])


def test_missing_node_fails_the_build_in_ci(core_only: Path, cli: Cli) -> None:
    result = cli(core_only, *CHECK, env={"PATH": NO_NODE, "CI": "true"})
    assert result.code == 1
    assert "AsyncAPI parser is not installed" in result.err


@pytest.mark.requires("asyncapi-parser")
def test_a_document_passed_once_is_not_validated_again(
    unchanged: Path, validations: Validations, from_scratch: FromScratch
) -> None:
    first = validations.with_parser
    # Built afterwards without Node, from the same cache: the same documents,
    # in another copy of the project.
    second = from_scratch.first

    assert first is not None
    assert first.code == 0, first.err
    assert "note:" not in first.err
    assert len(validations.cached) == len(spec_files(unchanged))
    assert second.code == 0, second.err
    assert "note:" not in second.err


def test_openapi_validator_names_the_problem() -> None:
    broken = {"openapi": "3.1.0", "info": {"title": "t"}, "paths": {}}
    valid = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    problems = OpenApiValidator().validate({Path("a"): valid, Path("b"): broken})
    assert problems == {
        Path("a"): [],
        Path("b"): ['info: "version" is a required property'],
    }
