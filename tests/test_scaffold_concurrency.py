"""Writers of the tree take turns: the project lock, between real processes."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .forked import Forked, Forker

pytestmark = pytest.mark.usefixtures("remember_verdicts")  # see tests/conftest.py
MERGED_OPENAPI = Path("src/trading_api/specs_generated/openapi.json")
CopyProject = Callable[..., Path]
Cli = Callable[..., Any]

HOLDER = """
import sys
from pathlib import Path
from typing import Any
from trading_cli.lock import project_lock

with project_lock(Path(sys.argv[1]), "trading new-module held"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture(scope="module")
def pristine(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A git-tracked project copy that tests copy again before changing it."""
    return project_copy(tmp_path_factory.mktemp("lock") / "project", git=True)


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    subprocess.run(["cp", "-a", str(pristine), str(root)], check=True)
    return root


@pytest.fixture
def holder(project: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the project lock until it reads a line."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def finish(process: Forked) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode is not None
    return process.returncode, out, err


def start_all(
    forker: Forker, project: Path, *commands: tuple[str, ...]
) -> list[Forked]:
    """Start every command at once, each ``trading`` in a process of its own
    (see tests/forked.py)."""
    env = {**os.environ, "NO_COLOR": "1"}
    return [
        forker.start(project, args, env, project.parent / f"command-{number}")
        for number, args in enumerate(commands)
    ]


def merged_paths(project: Path) -> set[str]:
    document = json.loads((project / MERGED_OPENAPI).read_text())
    return {path.split("/")[3] for path in document["paths"]}


def test_a_writer_that_cannot_wait_names_the_holder_and_exits_1(
    project: Path, holder: subprocess.Popen[str], cli: Cli
) -> None:
    result = cli(project, "specs", "build", env={"TRADING_LOCK_TIMEOUT": "0"})
    assert result.code == 1
    assert f"locked by pid {holder.pid} (trading new-module held)" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_second_writer_says_whom_it_waits_for_then_runs(
    project: Path, holder: subprocess.Popen[str], forker: Forker
) -> None:
    [waiting] = start_all(forker, project, ("clients", "build"))
    line = waiting.first_line_of_stderr(timeout=60)  # printed before it blocks
    assert line == (
        f"note: waiting for pid {holder.pid} (trading new-module held) "
        "to finish writing the project\n"
    )
    assert waiting.poll() is None
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    code, out, _ = finish(waiting)
    assert code == 0
    assert "clients are up to date" in out


def test_checks_that_write_nothing_do_not_wait_for_the_lock(
    project: Path, holder: subprocess.Popen[str], cli: Cli
) -> None:
    result = cli(
        project, "clients", "build", "--check", env={"TRADING_LOCK_TIMEOUT": "0"}
    )
    assert result.code == 0, result.err


def test_a_lock_left_by_a_killed_process_is_taken_over(
    project: Path, holder: subprocess.Popen[str], cli: Cli
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    result = cli(project, "clients", "build", env={"TRADING_LOCK_TIMEOUT": "0"})
    assert result.code == 0, result.err
    assert (
        f"took over the project lock left by pid {holder.pid} "
        "(trading new-module held), which is no longer running" in result.err
    )


def test_two_new_modules_at_once_both_land_in_the_merged_openapi(
    project: Path, forker: Forker, cli: Cli
) -> None:
    runs = start_all(forker, project, ("new-module", "alpha"), ("new-module", "beta"))
    results = [finish(run) for run in runs]

    assert [code for code, _, _ in results] == [0, 0], results
    assert {"alpha", "beta"} <= merged_paths(project)
    # The check after the race needs no process of its own.
    check = cli(project, "specs", "build", "--check", its_modules=True)
    assert check.code == 0, check.out + check.err


def test_the_same_new_module_twice_at_once_makes_one_whole_module(
    project: Path, forker: Forker, cli: Cli
) -> None:
    runs = start_all(forker, project, *[("new-module", "gamma")] * 2)
    results = sorted(finish(run) for run in runs)

    assert [code for code, _, _ in results] == [0, 2], results
    assert "already exists" in results[1][2]
    assert "gamma" in merged_paths(project)
    # Exactly the files new-module renders: remove-module finds nothing hand-made.
    check = cli(project, "specs", "build", "--check", its_modules=True)
    assert check.code == 0, check.out + check.err
    # Removing imports no module, the merged specs come from files.
    removed = cli(project, "remove-module", "gamma", "--yes")
    assert removed.code == 0, removed.err


FORKER = """
import os, sys
from pathlib import Path
from typing import Any
from trading_cli.lock import LockBusyError, project_lock, read_holder

root = Path(sys.argv[1])
with project_lock(root, "trading dev (parent)"):
    child = os.fork()
    if child == 0:
        try:
            with project_lock(root, "child", timeout=0, on_wait=None):
                print("child took the lock", flush=True)
        except LockBusyError:
            print("child waits for the parent", flush=True)
        os._exit(0)
    os.waitpid(child, 0)
    print("parent holds:", read_holder(root).command, flush=True)
"""


def test_a_process_forked_while_the_lock_is_held_does_not_hold_it(
    project: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORKER, str(project)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == [
        "child waits for the parent",
        "parent holds: trading dev (parent)",
    ], result.stderr
