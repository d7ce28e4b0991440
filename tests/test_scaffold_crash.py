"""``kill -9`` at any point of new-, remove- and update-module leaves the old tree,
the new tree, or a journal that the next ``trading`` command rolls back and
reports. Each command is paused at a named point (``TRADING_FAILPOINT``) and
killed there, so the instants are exact rather than timed."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .forked import Forker

pytestmark = pytest.mark.usefixtures("remember_verdicts")  # see tests/conftest.py
MODULE = Path("src/trading_api/modules/market_data")
SKIPPED = {".git", ".run", "__pycache__", "node_modules", ".pytest_cache"}
SKIPPED |= {".mypy_cache", ".ruff_cache"}
CopyProject = Callable[..., Path]
Git = Callable[..., str]
Cli = Callable[..., Any]


def snapshot(project: Path) -> dict[str, bytes]:
    files = {}
    for folder, dirs, names in os.walk(project):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in names:
            path = Path(folder, name)
            files[path.relative_to(project).as_posix()] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def pristine(market_data_project: Path) -> Path:
    """A git project copy where new-module made market-data, committed (only
    ever copied, never changed)."""
    return market_data_project


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    subprocess.run(["cp", "-a", str(pristine), str(root)], check=True)
    return root


def kill_at(forker: Forker, project: Path, point: str, *args: str) -> int:
    """Run ``trading ARGS`` (a process of its own, see tests/forked.py) until it
    reaches ``point``, then ``kill -9`` it; return its pid."""
    marker = project.parent / "failpoint"
    marker.unlink(missing_ok=True)
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "TRADING_FAILPOINT": point,
        "TRADING_FAILPOINT_FILE": str(marker),
    }
    process = forker.start(project, args, env, project.parent / "command")
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, f"never reached {point}"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        # Children it started (e.g. a spec validator) go with their session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return process.pid


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (an unreaped zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def leftovers(project: Path) -> list[str]:
    return sorted(p.name for p in (project / ".run").glob("txn-*"))


@pytest.mark.parametrize(
    "point", ["new-module:rendered", "new-module:moved", "new-module:generated"]
)
def test_new_module_killed_before_its_commit_point_is_rolled_back(
    project: Path, forker: Forker, cli: Cli, point: str
) -> None:
    before = snapshot(project)
    pid = kill_at(forker, project, point, "new-module", "omega")

    # The next command, whichever it is, rolls back first (here in process):
    # this one lists every module made from the template.
    result = cli(project, "update-module", "--all", "--check")

    assert result.code == 0, result.err
    if point != "new-module:rendered":  # nothing in the tree had changed yet
        assert (
            f"note: rolled back `trading new-module omega` (pid {pid}), which was "
            "interrupted: the tree is as it was before it" in result.err
        )
    assert result.out == "market-data: up to date with templates/module\n"
    assert snapshot(project) == before
    assert leftovers(project) == []


def test_a_render_outlives_its_killed_command_by_no_more_than_a_moment(
    project: Path, forker: Forker, cli: Cli
) -> None:
    """new-module renders the template in a child process; killing the command
    alone (not its process group) must not leave that child writing."""
    before = snapshot(project)
    marker = project.parent / "failpoint"
    env = {
        **os.environ,
        "TRADING_FAILPOINT": "new-module:rendering",
        "TRADING_FAILPOINT_FILE": str(marker),
    }
    command = forker.start(project, ["new-module", "omega"], env, marker)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the child is paused in its render
            assert command.poll() is None
            assert time.monotonic() < deadline, "the render never started"
            time.sleep(0.02)
        tasks = Path(f"/proc/{command.pid}/task/{command.pid}/children")
        children = [int(pid) for pid in tasks.read_text().split()]
        assert len(children) >= 1
    finally:
        command.kill()
        command.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in children):
        assert time.monotonic() < deadline, "the render went on without its command"
        time.sleep(0.02)

    result = cli(project, "update-module", "--all", "--check")

    assert result.code == 0, result.err
    assert result.out == "market-data: up to date with templates/module\n"
    assert snapshot(project) == before
    assert leftovers(project) == []


def test_new_module_killed_after_its_commit_point_keeps_the_module(
    project: Path, forker: Forker, cli: Cli
) -> None:
    kill_at(forker, project, "committed", "new-module", "omega")

    # In process, importing omega as the copy's own runtime would.
    result = cli(project, "specs", "build", "--check", its_modules=True)

    assert result.code == 0, result.out + result.err
    assert (project / "src/trading_api/modules/omega/__init__.py").is_file()
    assert leftovers(project) == []


@pytest.mark.parametrize("point", ["remove-module:moved", "remove-module:generated"])
def test_remove_module_killed_midway_puts_the_module_back(
    project: Path, forker: Forker, cli: Cli, point: str
) -> None:
    before = snapshot(project)
    pid = kill_at(forker, project, point, "remove-module", "market-data", "--yes")
    assert not (project / MODULE).exists() or point == "remove-module:generated"

    result = cli(project, "update-module", "--all", "--check")

    assert result.code == 0, result.out + result.err
    assert result.out == "market-data: up to date with templates/module\n"
    assert f"rolled back `trading remove-module market-data` (pid {pid})" in (
        result.err
    )
    assert snapshot(project) == before
    assert leftovers(project) == []


def test_update_module_killed_after_writing_restores_the_module(
    project: Path, forker: Forker, cli: Cli, git: Git
) -> None:
    template = project / "templates/module/template/service.py.jinja"
    template.write_text(
        template.read_text().replace("oldest first", "oldest first, by id")
    )
    git(project, "commit", "-q", "-am", "Reword the template")
    before = snapshot(project)
    pid = kill_at(
        forker, project, "update-module:written", "update-module", "market-data"
    )
    assert "by id" in (project / MODULE / "service.py").read_text()

    # The next command, whichever it is, rolls back first (here in process).
    result = cli(project, "update-module", "market-data", "--check")

    assert f"rolled back `trading update-module market-data` (pid {pid})" in (
        result.err
    )
    assert result.code == 1  # still behind the template, as before
    assert snapshot(project) == before
    assert leftovers(project) == []
