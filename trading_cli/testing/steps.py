"""The steps of a full ``trading test``, and how they share the machine.

pytest runs once for every test path (module tests and ``tests/``) in the
foreground, so its progress streams to the terminal. Meanwhile ruff, ruff format
and mypy run as subprocesses and the in-process checks (boundaries, specs,
clients) run in a worker thread; their output is kept and shown after pytest,
for the steps that failed.
"""

import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trading_cli.errors import TradingError
from trading_cli.project import Project
from trading_cli.testing import DURATIONS_FILE

OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"
PYTEST_NO_TESTS = 5
INTEGRATION_MARKER = "integration"


@dataclass
class StepResult:
    """How one step went."""

    name: str
    status: str
    seconds: float
    output: str = ""

    @property
    def failed(self) -> bool:
        """Whether the step failed."""
        return self.status == FAILED


def pytest_command(
    paths: Sequence[Path], *, integration: bool, extra: Sequence[str]
) -> list[str]:
    """The pytest command line for ``paths``; without ``integration`` the tests
    marked ``integration`` are deselected."""
    command = [sys.executable, "-m", "pytest", *map(str, paths)]
    if not integration:
        command += ["-m", f"not {INTEGRATION_MARKER}"]
    return [*command, *extra]


def run_pytest(project: Project, command: list[str]) -> int:
    """Run pytest with its output on this terminal; return its exit code."""
    project.activate()
    return subprocess.run(command, cwd=project.root, check=False).returncode


def test_paths(project: Project) -> list[Path]:
    """Every test folder: ``tests/`` and each module's ``tests/``."""
    folders = [project.root / "tests"]
    folders += sorted(project.modules_dir.glob("*/tests"))
    return [folder for folder in folders if folder.is_dir()]


def run_ci(project: Project, pytest_args: Sequence[str]) -> list[StepResult]:
    """Run every CI step; return their results in a fixed order."""
    project.activate()
    python = sys.executable
    commands = {
        "ruff check": [python, "-m", "ruff", "check", "."],
        # Python only: ruff would also format the code blocks of Markdown files.
        "ruff format": [
            *(python, "-m", "ruff", "format", "--check"),
            *("--extend-exclude", "*.md", "."),
        ],
        "mypy": [python, "-m", "mypy"],
    }
    with ThreadPoolExecutor(max_workers=len(commands) + 1) as pool:
        futures: list[Future[list[StepResult]]] = [
            pool.submit(_run_command, project, name, command)
            for name, command in commands.items()
        ]
        futures.append(pool.submit(_run_in_process, project))
        pytest_step = _pytest_step(project, pytest_args)
        results = [result for future in futures for result in future.result()]
    return [*results, pytest_step]


def parallel_args(root: Path) -> list[str]:
    """pytest-xdist's options for a full run of the project at ``root``: one
    worker more than this process may use cores, each test file on one worker
    (its module-scoped fixtures are built once); none when the plugin is not
    installed. ``-- -n 0`` after them turns it off.

    Once a run has recorded how long each file took, files are handed out in
    collection order, in which the project's pytest plugin puts the longest
    first; before that, in pytest-xdist's own order (most tests first).

    The extra worker keeps the cores busy while a test waits on a server, a
    deployment or a child process: on 2 cores, 3 workers finished the suite in
    about 0.87 of the time 2 took, and 4 no sooner than 3 (BENCHMARKS.md).
    """
    import importlib.util

    if importlib.util.find_spec("xdist") is None:
        return []
    args = ["-n", str(available_cores() + 1), "--dist", "loadfile"]
    if (root / DURATIONS_FILE).is_file():
        args.append("--no-loadscope-reorder")
    return args


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pytest_step(project: Project, pytest_args: Sequence[str]) -> StepResult:
    extra = [*parallel_args(project.root), *pytest_args]
    command = pytest_command(test_paths(project), integration=True, extra=extra)
    started = time.perf_counter()
    code = run_pytest(project, command)
    seconds = time.perf_counter() - started
    if code == PYTEST_NO_TESTS:
        return StepResult("pytest", FAILED, seconds, "pytest collected no tests")
    return StepResult("pytest", OK if code == 0 else FAILED, seconds)


def _run_command(project: Project, name: str, command: list[str]) -> list[StepResult]:
    started = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
        env=_plain_env(),
    )
    seconds = time.perf_counter() - started
    status = OK if result.returncode == 0 else FAILED
    output = (result.stdout + result.stderr).strip()
    return [StepResult(name, status, seconds, output)]


def _run_in_process(project: Project) -> list[StepResult]:
    return [
        _timed("boundaries", lambda: _boundaries(project)),
        _timed("specs --check", lambda: _specs(project)),
        _timed("clients --check", lambda: _clients(project)),
        _timed("db check", lambda: _db_check(project)),
    ]


def _timed(name: str, step: Callable[[], str]) -> StepResult:
    """Run ``step``; a returned text means failure, an exception too."""
    started = time.perf_counter()
    try:
        problem = step()
    except TradingError as exc:
        problem = str(exc)
    except Exception as exc:  # a step's crash is its failure, not the run's
        problem = "".join(traceback.format_exception(exc)).strip()
    seconds = time.perf_counter() - started
    return StepResult(name, FAILED if problem else OK, seconds, problem)


def _boundaries(project: Project) -> str:
    from trading_cli.boundaries import check_boundaries

    report = check_boundaries(project)
    return "\n".join(
        f"{v.file}:{v.line}: {v.importer} imports {v.imported} [{v.rule}]"
        for v in report.violations
    )


def _specs(project: Project) -> str:
    from trading_cli.build.specs import build_specs

    return _stale_report(build_specs(project, check=True).stale, "trading specs build")


def _clients(project: Project) -> str:
    from trading_cli.build.clients import build_clients

    return _stale_report(
        build_clients(project, check=True).stale, "trading clients build"
    )


def _db_check(project: Project) -> str:
    from trading_cli.db import check

    problems = check(project)
    if not problems:
        return ""
    return "\n".join(
        [*problems, "write them with `trading db revision MODULE -m TEXT`"]
    )


def _stale_report(stale: dict[Path, str], command: str) -> str:
    if not stale:
        return ""
    diffs = "".join(
        diff if diff.endswith("\n") else diff + "\n" for diff in stale.values()
    )
    return f"{diffs}{len(stale)} generated file(s) are stale; run `{command}`"


def _plain_env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}
