"""Where the test suite's CPU goes: CPU seconds per test file, children included.

Runs pytest (by default as `trading test` does: every test folder, its workers,
one file per worker) with this file loaded as a plugin. Each worker records,
for every test, the CPU time of its own process and of the child processes it
waited for (a `trading` subprocess, a pytest it started, a copier render's
tools) from the start of the test's set-up to the end of its teardown, and the
wall time. The report sums them per file, largest first, and lists the
costliest tests. CPU is the figure that holds on a shared machine: on 2 idle
cores the suite cannot take less than its CPU total divided by 2.

Run: python bench/suite_profile.py [--top 30] [PYTEST_ARGS...]
(e.g. `python bench/suite_profile.py tests/test_scaffold.py -n 0`)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_OUT = "SUITE_PROFILE_OUT"
_rows: list[tuple[str, float, float, float]] = []


def _cpu() -> tuple[float, float]:
    times = os.times()
    return times.user + times.system, times.children_user + times.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Time one test: set-up, call and teardown."""
    own, children = _cpu()
    started = time.perf_counter()
    yield
    own_after, children_after = _cpu()
    wall = time.perf_counter() - started
    _rows.append((item.nodeid, own_after - own, children_after - children, wall))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write this process's rows (one file per xdist worker)."""
    folder = os.environ.get(_OUT)
    if not folder:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    own, children = _cpu()
    document = {"rows": _rows, "own": own, "children": children}
    (Path(folder) / f"{worker}.json").write_text(json.dumps(document))


def report(folder: Path, top: int, wall: float, cpu: float) -> None:
    """Print the per-file table and the costliest tests."""
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    tests: list[tuple[float, float, str]] = []
    workers_own = 0.0
    for path in sorted(folder.glob("*.json")):
        document: dict[str, Any] = json.loads(path.read_text())
        if path.stem != "main":
            workers_own += document["own"]
        for nodeid, own, children, seconds in document["rows"]:
            row = files[nodeid.split("::")[0]]
            row[0] += own
            row[1] += children
            row[2] += seconds
            row[3] += 1
            tests.append((own + children, seconds, nodeid))
    tests_own = sum(row[0] for row in files.values())
    print(f"{'cpu s':>7} {'own':>6} {'child':>6} {'wall s':>7} {'tests':>5}  file")
    for name, (own, children, seconds, count) in sorted(
        files.items(), key=lambda item: -(item[1][0] + item[1][1])
    ):
        print(
            f"{own + children:7.1f} {own:6.1f} {children:6.1f} {seconds:7.1f} "
            f"{int(count):5d}  {name}"
        )
    total = sum(row[0] + row[1] for row in files.values())
    print(f"{total:7.1f}  in tests (set-up and teardown included)")
    print(f"{workers_own - tests_own:7.1f}  in the workers outside tests (start-up)")
    print(f"pytest: {wall:.1f} s wall, {cpu:.1f} s CPU (every process)")
    print(f"\nthe {top} costliest tests (CPU s, wall s):")
    for cpu_seconds, seconds, nodeid in sorted(tests, reverse=True)[:top]:
        print(f"{cpu_seconds:7.1f} {seconds:7.1f}  {nodeid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=30)
    options, pytest_args = parser.parse_known_args()
    if not any(not arg.startswith("-") for arg in pytest_args):
        folders = [
            ROOT / "tests",
            *sorted(ROOT.glob("src/trading_api/modules/*/tests")),
        ]
        pytest_args = [*map(str, folders), *pytest_args]
    if "-n" not in pytest_args:
        # Imported here: each worker loads this file as a plugin and needs none of it.
        from trading_cli.testing.steps import parallel_args

        pytest_args += parallel_args(ROOT)
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            _OUT: folder,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
            ),
        }
        command = [sys.executable, "-m", "pytest", "-p", "suite_profile", "-q"]
        before = os.times()
        started = time.perf_counter()
        subprocess.run([*command, *pytest_args], cwd=ROOT, env=env, check=False)
        wall = time.perf_counter() - started
        after = os.times()
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        print(f"\nload average {os.getloadavg()[0]:.1f}")
        report(Path(folder), options.top, wall, cpu)


if __name__ == "__main__":
    main()
