"""Wall time of `trading specs build` and `--check` as a project grows to 50 modules.

Works on a temporary copy of the project (see scaled_project.py). For each size it
times, as medians:

- `--check`, the everyday gate: nothing changed, every document rendered and
  compared; documents validated before are remembered, so no validator starts;
- `--check` with CI=true, as CI runs it: nothing remembered, every document
  validated (openapi-spec-validator and the Node AsyncAPI parser);
- a build that rewrites every spec file (all specs_generated/ folders deleted),
  validating only what it has not seen (nothing new here);
- the floor: a bare Python process importing the project and building its app
  and both merged documents, no CLI, no files, no validation.

Run: python bench/specs_scale.py [--sizes 3,10,25,50] [--runs 5]
Budget (docs/architecture.md): 3 modules < 1 s, 50 modules < 5 s, growing linearly.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scaled_project import grow_to, median_seconds, project_copy, trading

APP_ONLY = (
    "from trading_api.app_factory import AppFactory; "
    "app = AppFactory().create_app(); app.openapi(); app.asyncapi()"
)
CHECK = ["specs", "build", "--check"]


def rebuild_seconds(project: Path, runs: int) -> float:
    """Median of a build that has to write every spec file again."""
    samples = []
    for _ in range(runs):
        for folder in project.glob("src/trading_api/**/specs_generated"):
            shutil.rmtree(folder)
        started = time.perf_counter()
        trading(project, "specs", "build")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def floor_seconds(project: Path, runs: int) -> float:
    """Median of importing the project and building its app and both specs."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", APP_ONLY], env=env, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


def parser_startup_seconds(runs: int) -> float:
    """Median of Node loading the AsyncAPI parser and compiling its schema (the
    validator's fixed cost, paid by every CI run), with no document to check."""
    root = Path(__file__).resolve().parents[1]
    script = root / "trading_cli" / "build" / "asyncapi_parser.mjs"
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(
            ["node", str(script), str(root)],
            input="",
            text=True,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,10,25,50")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    runs = options.runs
    rows = []
    with project_copy() as project:
        for size in [int(size) for size in options.sizes.split(",")]:
            grow_to(project, size)
            trading(project, "specs", "build")
            check = median_seconds(project, CHECK, runs)
            ci = median_seconds(project, CHECK, runs, env={"CI": "true"})
            rebuild = rebuild_seconds(project, runs)
            floor = floor_seconds(project, runs)
            rows.append((size, check, ci))
            print(
                f"{size:3d} modules  --check {check:5.2f} s"
                f"  --check CI=true {ci:5.2f} s"
                f"  build (writes all) {rebuild:5.2f} s  floor {floor:5.2f} s"
                f"  (--check / floor {check / floor:.2f}x)",
                flush=True,
            )
    if shutil.which("node"):
        node = parser_startup_seconds(runs)
        print(f"anchor: Node + AsyncAPI parser start-up, no document {node:5.2f} s")
    (first, check0, ci0), (last, check1, ci1) = rows[0], rows[-1]
    if last > first:
        added = last - first
        print(
            f"per added module: --check {(check1 - check0) / added * 1000:.0f} ms, "
            f"--check CI=true {(ci1 - ci0) / added * 1000:.0f} ms "
            f"({first} -> {last} modules)"
        )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
