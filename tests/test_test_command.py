"""``trading test``: one module's tests, the affected modules', the CI run.

The command runs in process (Typer's ``CliRunner``); the pytest it starts is a
real subprocess writing straight to the terminal, so what a user sees is the
command's own output followed by pytest's, read from the file descriptors. The
full CI run is run once as the console script, in a process of its own.
"""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = Path("src/trading_api/modules")
CopyProject = Callable[..., Path]
Git = Callable[..., str]
Trading = Callable[..., subprocess.CompletedProcess[str]]
Cli = Callable[..., Any]
RunTest = Callable[..., "Seen"]
PROBE = """import pytest


def test_core_probe() -> None:
    assert {outcome}


@pytest.mark.integration
def test_core_probe_integration() -> None:
    assert True
"""


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """A copy of the project whose core module has only a probe test (so the
    pytest that `trading test core` starts collects two tests, not a server)."""
    root = project_copy(tmp_path / "project")
    for test_file in (root / MODULES / "core" / "tests").glob("test_*.py"):
        test_file.unlink()
    write_probe(root, outcome="True")
    return root


@pytest.fixture
def repo(project: Path, git: Git) -> Path:
    """The copy as a git repository with one commit."""
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    return project


def write_probe(project: Path, outcome: str) -> None:
    tests = project / MODULES / "core" / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "test_probe.py").write_text(PROBE.format(outcome=outcome))


def touch(project: Path, relative: str) -> None:
    """Edit a file the way a developer would: append a comment."""
    path = project / "src/trading_api" / relative
    path.write_text(path.read_text() + "# edited\n")


@dataclass
class Seen:
    """What a user sees from ``trading test``: its exit code, everything on
    stdout (the command's lines, then pytest's) and on stderr."""

    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_test(cli: Cli, capfd: pytest.CaptureFixture[str]) -> RunTest:
    """``trading test ARGS`` in folder ``cwd``, in process, with the output of
    the pytest it starts."""

    def run(cwd: Path, *args: str) -> Seen:
        capfd.readouterr()  # only this run's output
        result = cli(cwd, "test", *args)
        child = capfd.readouterr()
        return Seen(result.code, result.out + child.out, result.err + child.err)

    return run


def affected_line(result: Seen) -> str:
    return next(line for line in result.stdout.splitlines() if "since" in line).strip()


def test_unknown_module_is_a_usage_error_listing_the_known(cli: Cli) -> None:
    result = cli(ROOT, "test", "no-such-module")
    assert result.code == 2
    assert "unknown module 'no-such-module'" in result.err
    assert "core" in result.err and "broker" in result.err


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--base", "HEAD"], "--base only makes sense with --affected"),
        (["core", "--affected"], "give MODULE names or --affected, not both"),
    ],
)
def test_contradictory_options_are_usage_errors(
    args: list[str], problem: str, cli: Cli
) -> None:
    result = cli(ROOT, "test", *args)
    assert result.code == 2
    assert result.err == f"error: {problem}\n"


def test_a_module_runs_only_its_own_tests(project: Path, run_test: RunTest) -> None:
    result = run_test(project, "core", "--", "-v")

    assert result.code == 0, result.stdout + result.stderr
    assert "core/tests/test_probe.py::test_core_probe PASSED" in result.stdout
    assert " 1 deselected" in result.stdout
    assert "test_core_probe_integration" not in result.stdout
    assert "datafeed" not in result.stdout and "broker" not in result.stdout


def test_integration_tests_run_with_the_flag(project: Path, run_test: RunTest) -> None:
    result = run_test(project, "core", "--integration", "--", "-v")

    assert result.code == 0, result.stdout + result.stderr
    assert "test_core_probe_integration PASSED" in result.stdout
    assert "deselected" not in result.stdout


def test_a_failing_module_test_fails_the_command(
    project: Path, run_test: RunTest
) -> None:
    write_probe(project, outcome="1 + 1 == 3")

    result = run_test(project, "core")

    assert result.code == 1
    assert "1 failed" in result.stdout
    assert "tests of core failed" in result.stderr


def test_collecting_no_test_is_a_failure(project: Path, run_test: RunTest) -> None:
    result = run_test(project, "core", "--", "-k", "no_such_test")
    assert result.code == 1
    assert "pytest collected no tests for core" in result.stderr


def test_affected_picks_the_module_changed_in_the_last_commit(
    repo: Path, run_test: RunTest, git: Git
) -> None:
    touch(repo, "modules/core/service.py")
    git(repo, "commit", "-q", "-am", "change core")

    result = run_test(repo, "--affected", "--", "--collect-only", "-q")

    assert result.code == 0, result.stdout + result.stderr
    assert affected_line(result) == "affected since HEAD~1: core"
    assert "core/tests/test_probe.py::test_core_probe" in result.stdout
    assert "datafeed/tests" not in result.stdout


@pytest.mark.parametrize(
    ("changed", "modules"),
    [
        ("shared/module_interface.py", "core, auth, broker, datafeed"),
        ("models/bars.py", "datafeed"),
        ("models/broker.py", "broker"),
        ("app_factory.py", "core, auth, broker, datafeed"),
    ],
)
def test_affected_follows_the_imports_of_shared_code(
    repo: Path, changed: str, modules: str, run_test: RunTest
) -> None:
    touch(repo, changed)

    # pytest --version answers at once: only the selection matters here.
    result = run_test(repo, "--affected", "--base", "HEAD", "--", "--version")

    assert result.code == 0, result.stdout + result.stderr
    assert affected_line(result) == f"affected since HEAD: {modules}"


def test_nothing_affected_runs_nothing(repo: Path, cli: Cli) -> None:
    result = cli(repo, "test", "--affected", "--base", "HEAD")
    assert result.code == 0
    assert "no module changed since HEAD; nothing to test" in result.out


def test_affected_with_an_unknown_base_is_a_usage_error(repo: Path, cli: Cli) -> None:
    result = cli(repo, "test", "--affected", "--base", "nope")
    assert result.code == 2
    assert "'nope' is not a commit" in result.err


@pytest.mark.usefixtures("remember_verdicts")  # see tests/conftest.py
def test_a_full_run_reports_every_step_and_fails_on_a_broken_one(
    small_project: Path,
    trading: Trading,
) -> None:
    project = small_project
    service = project / MODULES / "core" / "service.py"
    service.write_text(
        service.read_text() + "\nimport trading_api.app_factory  # noqa: E402, F401\n"
    )

    # One pytest process is enough here: the test is about the steps' table.
    result = trading(project, "test", "--", "-n", "0")

    assert result.returncode == 1
    steps = dict(
        line.split("\t")[:2] for line in result.stdout.splitlines() if "\t" in line
    )
    assert list(steps) == [
        "step",
        "ruff check",
        "ruff format",
        "mypy",
        "boundaries",
        "specs --check",
        "clients --check",
        "db check",
        "pytest",
    ]
    assert steps["boundaries"] == "FAILED"
    assert steps["mypy"] == steps["pytest"] == "ok"
    assert "--- boundaries: FAILED ---" in result.stdout
    assert "core/service.py" in result.stdout
    assert "boundaries" in result.stderr


@pytest.fixture
def small_project(project_copy: CopyProject, cli: Cli, tmp_path: Path) -> Path:
    """A copy with only the core module, whose tests are the probe's, and one
    cross-cutting test, so the whole CI run stays quick (pytest still collects
    from both kinds of test folder); its generated files are rebuilt to match."""
    root = project_copy(
        tmp_path / "small",
        parts=("pyproject.toml", "src"),
        modules=["core"],
        node_modules=True,  # the AsyncAPI parser, as after npm ci
    )
    for test_file in (root / MODULES / "core" / "tests").glob("test_*.py"):
        test_file.unlink()
    write_probe(root, outcome="True")
    (root / "tests").mkdir()
    (root / "tests" / "test_ok.py").write_text("def test_ok() -> None:\n    pass\n")
    # The project's own mypy settings decide what the mypy step checks: here
    # the core module alone, without analysing what it imports (what it
    # imports is then Any, which strict mode would otherwise report).
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'files = ["src", "trading_cli"]',
            'files = ["src/trading_api/modules/core"]\n'
            'follow_imports = "skip"\n'
            "disallow_subclassing_any = false\n"
            "disallow_untyped_decorators = false\n"
            "warn_return_any = false",
        )
    )
    for command in (("specs", "build"), ("clients", "build")):
        built = cli(root, *command)
        assert built.code == 0, built.err
    return root
