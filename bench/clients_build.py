"""Median wall time of `trading clients build --check`, 3 modules and 50 modules.

Beside it, as the floor every in-process generator pays: a Python process that
imports the app factory and builds the app with every module. The 50-module
project is a temporary copy with 47 extra copies of the core module.

Run: python bench/clients_build.py [--runs 10]
Target (issue 6): 3 modules well under a second or two.
"""

import argparse
import re
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


def median_seconds(command: list[str], cwd: Path, runs: int) -> float:
    """Median wall time of ``command`` over ``runs`` runs, after one warm-up."""
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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
            floor = median_seconds([sys.executable, "-c", FLOOR], cwd, runs)
            seconds = median_seconds(check, cwd, runs)
            rows.append((count, floor, seconds))
    for count, floor, seconds in rows:
        print(
            f"{count:3d} modules   app import+build (floor) {floor * 1000:5.0f} ms"
            f"   clients build --check {seconds * 1000:5.0f} ms"
            f"   ratio {seconds / floor:.2f}x"
        )


if __name__ == "__main__":
    main()
