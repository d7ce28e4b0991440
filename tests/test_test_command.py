"""``trading test``: one module's tests, the affected modules', the CI run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = Path("src/trading_api/modules")
IGNORED = shutil.ignore_patterns(
    "__pycache__", ".git", "node_modules", ".mypy_cache", ".ruff_cache"
)
IGNORED_NOT_CACHE = shutil.ignore_patterns("__pycache__", ".git", "node_modules")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}
PROBE = """import pytest


def test_core_probe() -> None:
    assert {outcome}


@pytest.mark.integration
def test_core_probe_integration() -> None:
    assert True
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project whose core module has one probe test."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(ROOT / "src", root / "src", ignore=IGNORED)
    write_probe(root, outcome="True")
    return root


@pytest.fixture
def repo(project: Path) -> Path:
    """The copy as a git repository with one commit."""
    git(project, "init", "-q", "-b", "main")
    commit(project, "start")
    return project


def write_probe(project: Path, outcome: str) -> None:
    tests = project / MODULES / "core" / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "test_probe.py").write_text(PROBE.format(outcome=outcome))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, env={**os.environ, **GIT_ENV})


def commit(root: Path, message: str) -> None:
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", message)


def touch(project: Path, relative: str) -> None:
    """Edit a file the way a developer would: append a comment."""
    path = project / "src/trading_api" / relative
    path.write_text(path.read_text() + "# edited\n")


def trading(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trading_cli.main", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )


def affected_line(result: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in result.stdout.splitlines() if "since" in line).strip()


def test_unknown_module_is_a_usage_error_listing_the_known() -> None:
    result = trading(ROOT, "test", "no-such-module")
    assert result.returncode == 2
    assert "unknown module 'no-such-module'" in result.stderr
    assert "core" in result.stderr and "broker" in result.stderr


def test_a_module_runs_only_its_own_tests(project: Path) -> None:
    result = trading(project, "test", "core", "--", "-v")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "core/tests/test_probe.py::test_core_probe PASSED" in result.stdout
    assert "1 passed, 1 deselected" in result.stdout
    assert "datafeed" not in result.stdout and "broker" not in result.stdout


def test_integration_tests_run_with_the_flag(project: Path) -> None:
    result = trading(project, "test", "core", "--integration", "--", "-v")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_core_probe_integration PASSED" in result.stdout
    assert "2 passed" in result.stdout


def test_a_failing_module_test_fails_the_command(project: Path) -> None:
    write_probe(project, outcome="1 + 1 == 3")

    result = trading(project, "test", "core")

    assert result.returncode == 1
    assert "1 failed" in result.stdout
    assert "tests of core failed" in result.stderr


def test_collecting_no_test_is_a_failure(project: Path) -> None:
    result = trading(project, "test", "core", "--", "-k", "no_such_test")
    assert result.returncode == 1
    assert "pytest collected no tests for core" in result.stderr


def test_affected_picks_the_module_changed_in_the_last_commit(repo: Path) -> None:
    touch(repo, "modules/core/service.py")
    commit(repo, "change core")

    result = trading(repo, "test", "--affected", "--", "--collect-only", "-q")

    assert result.returncode == 0, result.stdout + result.stderr
    assert affected_line(result) == "affected since HEAD~1: core"
    assert "core/tests/test_probe.py::test_core_probe" in result.stdout
    assert "datafeed/tests" not in result.stdout


@pytest.mark.parametrize(
    ("changed", "modules"),
    [
        ("shared/naming.py", "core, broker, datafeed"),
        ("models/bars.py", "datafeed"),
        ("models/broker.py", "broker"),
        ("app_factory.py", "core, broker, datafeed"),
    ],
)
def test_affected_follows_the_imports_of_shared_code(
    repo: Path, changed: str, modules: str
) -> None:
    touch(repo, changed)

    # pytest --version answers at once: only the selection matters here.
    result = trading(repo, "test", "--affected", "--base", "HEAD", "--", "--version")

    assert result.returncode == 0, result.stdout + result.stderr
    assert affected_line(result) == f"affected since HEAD: {modules}"


def test_nothing_affected_runs_nothing(repo: Path) -> None:
    result = trading(repo, "test", "--affected", "--base", "HEAD")
    assert result.returncode == 0
    assert "no module changed since HEAD; nothing to test" in result.stdout


def test_affected_with_an_unknown_base_is_a_usage_error(repo: Path) -> None:
    result = trading(repo, "test", "--affected", "--base", "nope")
    assert result.returncode == 2
    assert "'nope' is not a commit" in result.stderr


def test_a_full_run_reports_every_step_and_fails_on_a_broken_one(
    tmp_path: Path,
) -> None:
    project = small_project(tmp_path)
    service = project / MODULES / "core" / "service.py"
    service.write_text(
        service.read_text() + "\nimport trading_api.app_factory  # noqa: E402, F401\n"
    )

    result = trading(project, "test")

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
        "pytest",
    ]
    assert steps["boundaries"] == "FAILED"
    assert steps["pytest"] == "ok"
    assert "--- boundaries: FAILED ---" in result.stdout
    assert "core/service.py" in result.stdout
    assert "boundaries" in result.stderr


def small_project(tmp_path: Path) -> Path:
    """A copy with only the core module and one cross-cutting test, so the
    whole CI run stays quick; its generated files are rebuilt to match."""
    root = tmp_path / "small"
    root.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    for name in ("src", "trading_cli", ".mypy_cache"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, root / name, ignore=IGNORED_NOT_CACHE)
    if (ROOT / "node_modules").is_dir():  # the AsyncAPI parser, as after npm ci
        (root / "node_modules").symlink_to(ROOT / "node_modules")
    for name in ("broker", "datafeed"):
        shutil.rmtree(root / MODULES / name, ignore_errors=True)
    (root / "tests").mkdir()
    (root / "tests" / "test_ok.py").write_text("def test_ok() -> None:\n    pass\n")
    for command in (("specs", "build"), ("clients", "build")):
        built = trading(root, *command)
        assert built.returncode == 0, built.stderr
    return root
