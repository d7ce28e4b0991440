"""Median wall time of `trading clients build --check`, 3 modules and 50 modules.

Beside it, alternating run by run, the floor every in-process generator pays: a
Python process that imports the app factory and builds the app with every module.
The 50-module project is a temporary copy with 47 extra copies of the core module.

Run: python bench/clients_build.py [--runs 10]
Target: 3 modules well under a second or two.
"""

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns("__pycache__", ".git", "node_modules", ".*_cache")
FLOOR = (
    "import sys; sys.path.insert(0, 'src'); "
    "from trading_api.app_factory import AppFactory; AppFactory().create_app()"
)


def medians(
    commands: list[list[str]], cwd: Path, runs: int
) -> list[tuple[float, float]]:
    """Median wall and CPU (user + system) seconds of each command.

    The commands alternate within each round, after a warm-up round, so load on
    a shared machine hits them alike; CPU time is the figure load disturbs least.
    """
    samples: list[list[tuple[float, float]]] = [[] for _ in commands]
    for round_number in range(runs + 1):
        for command, times in zip(commands, samples, strict=True):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (
                after.ru_stime - before.ru_stime
            )
            if round_number:  # round 0 warms the caches
                times.append((wall, cpu))
    return [
        (
            statistics.median(wall for wall, _ in times),
            statistics.median(cpu for _, cpu in times),
        )
        for times in samples
    ]


def copy_project(dest: Path, extra_modules: int) -> Path:
    """A copy of the project with ``extra_modules`` renamed copies of ``core``."""
    dest.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(ROOT / "src", dest / "src", ignore=IGNORED)
    modules = dest / "src/trading_api/modules"
    for number in range(extra_modules):
        package = modules / f"extra{number:02d}"
        shutil.copytree(modules / "core", package, ignore=IGNORED)
        shutil.rmtree(package / "client_generated", ignore_errors=True)
        init = package / "__init__.py"
        text = re.sub(r'name = "core"', f'name = "extra{number:02d}"', init.read_text())
        init.write_text(text.replace("CoreModule", f"Extra{number:02d}Module"))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    check = [sys.executable, "-m", "trading_cli.main", "clients", "build", "--check"]
    build = check[:-1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count, extra in ((3, 0), (50, 47)):
            project = copy_project(Path(tmp) / f"p{count}", extra) if extra else None
            cwd = project or ROOT
            if project is not None:
                subprocess.run(build, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
            floor, ours = medians([[sys.executable, "-c", FLOOR], check], cwd, runs)
            rows.append((count, floor, ours))
    print("modules  what                          wall ms   cpu ms")
    for count, floor, ours in rows:
        for label, (wall, cpu) in (
            ("app import+build (floor)", floor),
            ("clients build --check", ours),
        ):
            print(f"{count:7d}  {label:28s} {wall * 1000:7.0f}  {cpu * 1000:7.0f}")
        print(
            f"{count:7d}  {'ratio to the floor':28s} {ours[0] / floor[0]:7.2f}"
            f"  {ours[1] / floor[1]:7.2f}"
        )


if __name__ == "__main__":
    main()
