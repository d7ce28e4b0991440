"""Fixtures for cross-cutting tests: throwaway module folders, copies of the
project and the ``trading`` command run in them."""

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .projects import (
    PROJECT_PARTS,
    REMEMBERED,
    ROOT,
    CliOutcome,
    as_its_runtime,
    copy_made,
    copy_project,
    made_once,
    run_git,
    run_trading,
    template_files_before,
    warm_mypy_cache,
)

if TYPE_CHECKING:
    from .forked import Forker

MODULE_TEMPLATE = """
from fastapi import APIRouter

from trading_api.shared.module_interface import Module

router = APIRouter()


@router.get("/ping")
async def {function}() -> dict[str, str]:
    return {{"module": "{name}"}}


class {class_name}(Module):
    name = "{name}"
    description = "{name} module for tests"

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return [router]
"""

WriteModule = Callable[..., Path]


# Optional tools: tests that need one say so with ``@pytest.mark.requires(TOOL)``.
# Without the tool such a test is skipped, with a note at the end of the run, so a
# fresh clone passes; in CI (any non-empty CI variable) it fails instead, so a
# missing tool can never hide a test there.
def _asyncapi_parser() -> str | None:
    from trading_cli.build.validators import find_parser_root

    node = shutil.which("node")
    if node is None or find_parser_root(ROOT) is None:
        return None
    return node


def _binary(*names: str, extra_path: str = "") -> Callable[[], str | None]:
    def find() -> str | None:
        search = os.pathsep.join(filter(None, [os.environ.get("PATH"), extra_path]))
        return next(filter(None, (shutil.which(n, path=search) for n in names)), None)

    return find


def _node_tool(name: str) -> Callable[[], str | None]:
    """A Node tool that ``npm ci`` installs into node_modules/.bin."""

    def find() -> str | None:
        tool = ROOT / "node_modules" / ".bin" / name
        return str(tool) if shutil.which("node") and tool.is_file() else None

    return find


def _postgresql() -> str | None:
    from trading_api.shared.storage.testing import postgres_bindir

    bindir = postgres_bindir()
    return None if bindir is None else str(bindir / "initdb")


OPTIONAL_TOOLS: dict[str, tuple[Callable[[], str | None], str]] = {
    "asyncapi-parser": (
        _asyncapi_parser,
        "Node.js >= 18, then `npm ci --ignore-scripts` at the project root",
    ),
    "chromium": (_binary("chromium", "chromium-browser"), "apt-get install chromium"),
    "nginx": (
        _binary("nginx", extra_path="/usr/sbin:/usr/local/sbin"),
        "apt-get install nginx-light",
    ),
    "postgresql": (_postgresql, "apt-get install postgresql"),
    "openapi-python-client": (
        _binary("openapi-python-client", extra_path=str(Path(sys.executable).parent)),
        'pip install -e ".[dev]"',
    ),
    "openapi-typescript": (
        _node_tool("openapi-typescript"),
        "Node.js >= 18, then `npm ci --ignore-scripts` at the project root",
    ),
    "spectral": (
        _node_tool("spectral"),
        "Node.js >= 18, then `npm ci --ignore-scripts` at the project root",
    ),
    "redocly": (
        _node_tool("redocly"),
        "Node.js >= 18, then `npm ci --ignore-scripts` at the project root",
    ),
}
"""Each optional tool: how to find it (its path, or None) and how to install it."""

_NOT_INSTALLED = " is not installed ("


def in_ci() -> bool:
    """Whether the tests run in CI: the CI variable is set to anything."""
    return bool(os.environ.get("CI"))


def require_tool(tool: str) -> str:
    """The path of optional ``tool``; skip the calling test without it (fail in CI).

    Prefer the marker ``@pytest.mark.requires(tool)``; call this where a test
    needs the path.
    """
    find, install = OPTIONAL_TOOLS[tool]
    found = find()
    if found is not None:
        return found
    message = f"{tool}{_NOT_INSTALLED}{install})"
    if in_ci():
        pytest.fail(f"{message}; CI must have every optional tool", pytrace=False)
    pytest.skip(message)


# Every test runs on a throwaway database: an SQLite file with every module's
# tables, made by their migrations once per run (before test modules are
# imported: some build apps at import) and copied per test, named by
# DATABASE_URL (servers started by the test inherit it). Never the checkout's
# .run/ database.
_DATABASE_DIR: Path | None = None


def _open_test_database(config: pytest.Config) -> None:
    global _DATABASE_DIR
    import tempfile

    from trading_api.shared.storage.migrations import upgrade
    from trading_cli.db import migrated_modules
    from trading_cli.project import Project

    _DATABASE_DIR = Path(tempfile.mkdtemp(prefix="trading-test-db-"))
    template = _DATABASE_DIR / "migrated.db"
    for migrations in migrated_modules(Project(ROOT)):
        upgrade(f"sqlite:///{template}", migrations)
    shutil.copyfile(template, _DATABASE_DIR / "session.db")
    config.stash[_PREVIOUS_URL] = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = f"sqlite:///{_DATABASE_DIR / 'session.db'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS_URL, None)
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous
    if _DATABASE_DIR is not None:
        shutil.rmtree(_DATABASE_DIR, ignore_errors=True)


_PREVIOUS_URL = pytest.StashKey[str | None]()


@pytest.fixture(scope="session")
def migrated_database() -> Path:
    """The migrated template database (each test's DATABASE_URL is a copy)."""
    assert _DATABASE_DIR is not None
    return _DATABASE_DIR / "migrated.db"


@pytest.fixture(autouse=True)
def test_database(
    migrated_database: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """DATABASE_URL of this test: a fresh copy of the migrated database."""
    path = tmp_path_factory.mktemp("db", numbered=True) / "trading.db"
    shutil.copyfile(migrated_database, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture(scope="session")
def optional_tool() -> Callable[[str], str]:
    """:func:`require_tool` for fixtures that need a tool only for some params."""
    return require_tool


def _hands_tests_to_workers(config: pytest.Config) -> bool:
    """Whether this process is pytest-xdist's controller, which runs no test
    (its workers, each a pytest of its own, make their own database)."""
    option = config.option
    return (
        not hasattr(config, "workerinput")
        and getattr(option, "dist", "no") != "no"
        and bool(getattr(option, "tx", None))
        and not option.collectonly
    )


def pytest_configure(config: pytest.Config) -> None:
    if not _hands_tests_to_workers(config):
        _open_test_database(config)
    config.addinivalue_line(
        "markers",
        "requires(tool): needs an optional tool ("
        + ", ".join(OPTIONAL_TOOLS)
        + "); skipped without it, a failure in CI",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        for tool in marker.args:
            require_tool(tool)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One note per missing optional tool, from the skip reports (so it works
    with test workers too)."""
    missing: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        tool = reason.removeprefix("Skipped: ").split(_NOT_INSTALLED, 1)[0]
        if _NOT_INSTALLED in reason and tool in OPTIONAL_TOOLS:
            missing[tool] = missing.get(tool, 0) + 1
    for tool, count in sorted(missing.items()):
        install = OPTIONAL_TOOLS[tool][1]
        terminalreporter.write_line(
            f"note: {count} test(s) skipped: {tool} is not installed; "
            f"install {install} to run them",
            yellow=True,
        )


@pytest.fixture
def modules_dir(tmp_path: Path) -> Path:
    """An empty folder to put throwaway module packages in."""
    folder = tmp_path / "modules"
    folder.mkdir()
    return folder


@pytest.fixture
def write_module(modules_dir: Path) -> WriteModule:
    """Write a module package ``package`` into ``modules_dir``.

    ``name`` and ``class_name`` default to what the convention expects; ``body``
    replaces the whole ``__init__.py``.
    """

    def write(
        package: str,
        *,
        name: str | None = None,
        class_name: str | None = None,
        body: str | None = None,
    ) -> Path:
        name = name or package.replace("_", "-")
        class_name = class_name or (
            "".join(part.capitalize() for part in name.split("-")) + "Module"
        )
        package_dir = modules_dir / package
        package_dir.mkdir()
        source = body or MODULE_TEMPLATE.format(
            name=name, class_name=class_name, function=f"{package}_ping"
        )
        (package_dir / "__init__.py").write_text(textwrap.dedent(source))
        return package_dir

    return write


@pytest.fixture(scope="session")
def mypy_cache() -> Callable[[Path], Path]:
    """:func:`warm_mypy_cache`: ``mypy --cache-dir`` for a project copy."""
    return warm_mypy_cache


TemplateBefore = Callable[[str, str, Sequence[str]], dict[str, str]]


@pytest.fixture(scope="session")
def template_before() -> TemplateBefore:
    """``(marker, file, names) -> {name: text}``: the module template's ``names``
    as they were just before the first commit that added ``marker`` to ``file``
    (paths relative to ``templates/module/template``), read from git history.

    Without that history (a shallow clone) the test skips, or fails in CI.
    """

    def read(marker: str, file: str, names: Sequence[str]) -> dict[str, str]:
        found = template_files_before(marker, file, names)
        if found is None:
            message = "needs the git history of templates/module (a full clone)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        return found

    return read


UpdateFromOlder = Callable[..., tuple[Path, "CliOutcome"]]


@pytest.fixture
def update_from_older(
    project_copy: Callable[..., Path],
    template_before: TemplateBefore,
    cli: "Cli",
    tmp_path: Path,
) -> UpdateFromOlder:
    """``(marker, file, names, *, before=None) -> (project, result)``: a git
    project copy whose module ``market-data`` was made by ``new-module`` from
    the template's ``names`` as they were before ``marker`` came into ``file``
    (see ``template_before``); the template's current ``names`` are then
    committed and ``update-module market-data`` run, its result returned.
    ``before(project)`` runs once the older module is committed. Both commands
    run in process (see :func:`cli`)."""
    template = Path("templates/module/template")

    def write(project: Path, files: dict[str, str]) -> None:
        for name, text in files.items():
            (project / template / name).write_text(text)

    def update(
        marker: str,
        file: str,
        names: Sequence[str],
        *,
        before: Callable[[Path], None] | None = None,
    ) -> tuple[Path, CliOutcome]:
        old = template_before(marker, file, names)
        project = project_copy(tmp_path / "project", git=True)
        new = {name: (project / template / name).read_text() for name in names}
        write(project, old)
        run_git(project, "commit", "-q", "-am", "The template before the change")
        made = cli(
            project, "new-module", "market-data", env=REMEMBERED, its_modules=True
        )
        assert made.code == 0, made.err
        run_git(project, "add", "-A")
        run_git(project, "commit", "-q", "-m", "Add market-data")
        if before is not None:
            before(project)
        write(project, new)
        run_git(project, "commit", "-q", "-am", "The template changes")
        updated = cli(
            project, "update-module", "market-data", env=REMEMBERED, its_modules=True
        )
        return project, updated

    return update


@pytest.fixture(scope="session")
def git() -> Callable[..., str]:
    """Run ``git ARGS`` in a project copy as a developer named Dev; return stdout."""
    return run_git


@pytest.fixture(scope="session")
def project_copy() -> Callable[..., Path]:
    """Copy this checkout's project files to a new folder ``dest``.

    Session-scoped so module-scoped fixtures can copy too: the caller picks the
    folder (``tmp_path`` or ``tmp_path_factory``). ``parts`` are the top-level
    files and folders to copy (missing ones are skipped), caches and git data
    left out; ``modules`` keeps only those module packages; ``git`` makes the
    copy a repository with everything committed; ``node_modules`` links the
    checkout's node_modules (the AsyncAPI parser, as after ``npm ci``).
    """

    def copy(
        dest: Path,
        *,
        parts: Sequence[str] = PROJECT_PARTS,
        modules: Sequence[str] | None = None,
        git: bool = False,
        node_modules: bool = False,
    ) -> Path:
        copy_project(dest, parts=parts, modules=modules, node_modules=node_modules)
        if git:
            run_git(dest, "init", "-q", "-b", "main")
            run_git(dest, "add", "-A")
            run_git(dest, "commit", "-q", "-m", "start")
        return dest

    return copy


@pytest.fixture(scope="session")
def remembered() -> dict[str, str]:
    """:data:`REMEMBERED`, for a fixture to pass as ``env`` to ``trading``."""
    return REMEMBERED


@pytest.fixture
def remember_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """:data:`REMEMBERED` in the environment of the test and of every command it
    runs; a test file opts in with ``pytest.mark.usefixtures``."""
    for name, value in REMEMBERED.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def private_copy() -> Callable[[Path, Path], Path]:
    """:func:`copy_made`: ``(shared, dest) -> dest``, a copy to change freely."""
    return copy_made


@pytest.fixture(scope="session")
def market_data_project(
    tmp_path_factory: pytest.TempPathFactory,
    project_copy: Callable[..., Path],
    cli_once: "Cli",
) -> Path:
    """A git copy of the project where ``new-module market-data`` made a module,
    committed. Shared by every test of the run: copy it (:func:`private_copy`)
    before changing anything."""

    def make(root: Path) -> None:
        project_copy(root, git=True)
        made = cli_once(
            root, "new-module", "market-data", env=REMEMBERED, its_modules=True
        )
        assert made.code == 0, made.err
        run_git(root, "add", "-A")
        run_git(root, "commit", "-q", "-m", "Add market-data")

    return made_once(tmp_path_factory, "market-data-project", make)


@pytest.fixture(scope="session")
def notes_project(
    tmp_path_factory: pytest.TempPathFactory,
    project_copy: Callable[..., Path],
    cli_once: "Cli",
) -> Path:
    """A git copy of the project with ``core`` as its only module (and the
    checkout's node_modules), where ``new-module notes --no-ws`` made a module
    born with a table and its first migration, not committed. Shared by every
    test of the run: copy it (:func:`private_copy`) before changing anything."""

    def make(root: Path) -> None:
        project_copy(root, modules=["core"], git=True, node_modules=True)
        made = cli_once(
            root, "new-module", "notes", "--no-ws", env=REMEMBERED, its_modules=True
        )
        assert made.code == 0, made.err

    return made_once(tmp_path_factory, "notes-project", make)


@pytest.fixture(scope="module")
def forker() -> Iterator["Forker"]:
    """A :class:`~tests.forked.Forker`: ``forker.start(cwd, args, env, output)``
    runs ``trading ARGS`` in a process of its own without paying for its
    libraries' imports again; for tests where the process is the point. One
    per test file, so the CPU of the commands it forked counts for that file."""
    from .forked import Forker

    started = Forker()
    yield started
    started.close()


@pytest.fixture(scope="session")
def trading() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_trading`: ``trading ARGS`` in a folder, as a subprocess."""
    return run_trading


Cli = Callable[..., CliOutcome]


def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the runtime and have ``monkeypatch`` put back the import path and
    ``PYTHONPATH`` a command sets for its project."""
    # The runtime is in use in this process, so activating a project copy adds
    # its folder to the path but never swaps the loaded runtime for the copy's.
    import trading_api.shared.module_registry  # noqa: F401
    from trading_cli.main import options

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr(options, "debug", False)


def _invoke(
    monkeypatch: pytest.MonkeyPatch,
    cwd: Path,
    args: Sequence[str],
    env: dict[str, str] | None,
    its_modules: bool = False,
) -> CliOutcome:
    from typer.testing import CliRunner

    from trading_cli.main import app

    monkeypatch.chdir(cwd)
    with as_its_runtime(cwd) if its_modules else nullcontext():
        result = CliRunner().invoke(
            app, list(args), env={"NO_COLOR": "1", **(env or {})}
        )
    # The root command turns a TradingError into its line and exit code;
    # anything else escaping is a bug the test should show.
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        raise error
    return CliOutcome(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``trading ARGS`` in this process with Typer's CliRunner, from folder
    ``cwd``, with the exit code and the one error line the console script gives.

    ``env`` adds to the environment for the run. The import path and
    ``PYTHONPATH`` a command sets for the project are put back after the test.
    With ``its_modules`` the copy's module packages import as its own runtime
    imports them (see :func:`as_its_runtime`): needed by a command that
    imports a module only the copy has (new-module, update-module, a build).
    """
    _in_process(monkeypatch)

    def run(
        cwd: Path,
        *args: str,
        env: dict[str, str] | None = None,
        its_modules: bool = False,
    ) -> CliOutcome:
        return _invoke(monkeypatch, cwd, args, env, its_modules)

    return run


@pytest.fixture(scope="session")
def its_runtime() -> Callable[[Path], AbstractContextManager[None]]:
    """:func:`as_its_runtime`: ``with its_runtime(project):`` imports the
    module packages of a project copy as its own runtime would, e.g. to build
    and serve an app with a module only the copy has."""
    return as_its_runtime


@pytest.fixture(scope="session")
def cli_once() -> Cli:
    """:func:`cli` for module- and session-scoped fixtures: each run puts the
    working folder, the import path and ``PYTHONPATH`` back as soon as it ends."""

    def run(
        cwd: Path,
        *args: str,
        env: dict[str, str] | None = None,
        its_modules: bool = False,
    ) -> CliOutcome:
        with pytest.MonkeyPatch.context() as monkeypatch:
            _in_process(monkeypatch)
            return _invoke(monkeypatch, cwd, args, env, its_modules)

    return run
