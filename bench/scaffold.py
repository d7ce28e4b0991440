"""`trading new-module` end to end, beside `copier copy` of a tiny template.

Works on a git-tracked copy of the project in a temporary folder (never on this
checkout). Each timed run is a fresh `trading new-module` process: render,
format, move into place, WS routers, specs (its own OpenAPI document
validated) and client; between runs the module is dropped with git (not
timed). Also timed, to show where the time goes: `new-module --dry-run`
(render only) and `trading specs build` alone.
Figures are medians of wall time and of CPU time (the process and those it
waited for), which the load of a shared machine distorts less.

Every run starts with an empty spec-validation cache (``XDG_CACHE_HOME`` points
at a folder wiped between runs): a developer's new module has documents no
validator has seen, so the figure includes validating them.

`--before DIR` adds `trading new-module X` run from another checkout (DIR and
DIR/src first on PYTHONPATH, same interpreter), on the same copy, taking turns
with this checkout's run by run, to compare a change side by side.

Run: python bench/scaffold.py [--runs 5] [--before DIR]
Budget (docs/architecture.md): < 1.5 s incl. its specs; anchor: `copier copy` of a tiny
template, 0.6 s on the reference machine.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns("__pycache__", ".git", "node_modules", "*_cache")
TINY_COPIER = "_subdirectory: template\nname:\n  type: str\n  default: tiny\n"
TINY_FILE = '"""The {{ name }} package."""\n'


def copy_project(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", ".copier-answers.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("src", "templates"):
        shutil.copytree(ROOT / name, dest / name, ignore=IGNORED)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        git(dest, *args)
    return dest


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


def tiny_template(dest: Path) -> Path:
    (dest / "template" / "{{ name }}").mkdir(parents=True)
    (dest / "copier.yml").write_text(TINY_COPIER)
    (dest / "template" / "{{ name }}" / "__init__.py.jinja").write_text(TINY_FILE)
    return dest


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_seconds(
    command: list[str],
    cwd: Path,
    runs: int,
    reset: Callable[[], None],
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Median wall and CPU time (the process and the processes it waited for)
    of ``command`` over ``runs`` runs after one warm-up; ``reset`` (not timed)
    runs after each."""
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
    reset()
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = children_cpu(), time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu)
        reset()
    return statistics.median(walls), statistics.median(cpus)


def alternating_medians(
    command: list[str],
    cwd: Path,
    runs: int,
    reset: Callable[[], None],
    variants: dict[str, dict[str, str]],
) -> dict[str, tuple[float, float]]:
    """:func:`median_seconds` of ``command`` under each environment of
    ``variants``, the variants taking turns in every run (a passing load hits
    them alike)."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for env in variants.values():  # warm-up
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
        reset()
    for _ in range(runs):
        for name, env in variants.items():
            cpu, start = children_cpu(), time.perf_counter()
            subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
            samples[name].append((time.perf_counter() - start, children_cpu() - cpu))
            reset()
    return {
        name: (
            statistics.median(wall for wall, _ in values),
            statistics.median(cpu for _, cpu in values),
        )
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", metavar="DIR", default=None)
    arguments = parser.parse_args()
    runs = arguments.runs
    trading = [sys.executable, "-m", "trading_cli.main"]
    with tempfile.TemporaryDirectory(prefix="bench-scaffold-") as scratch:
        project = copy_project(Path(scratch, "project"))
        template = tiny_template(Path(scratch, "tiny"))
        module = project / "src/trading_api/modules/bench_module"

        cache = Path(scratch, "cache")
        fresh_cache = {**os.environ, "XDG_CACHE_HOME": str(cache)}

        def reset_project() -> None:
            shutil.rmtree(module, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            git(project, "checkout", "-q", "--", "src")

        def reset_tiny() -> None:
            shutil.rmtree(Path(scratch, "out"), ignore_errors=True)

        copier = [sys.executable, "-m", "copier", "copy", "--defaults", "--quiet"]
        figures = {
            "copier copy, tiny template (anchor)": median_seconds(
                [*copier, str(template), str(Path(scratch, "out"))],
                project,
                runs,
                reset_tiny,
            ),
            "trading new-module X --dry-run (render)": median_seconds(
                [*trading, "new-module", "bench-module", "--dry-run"],
                project,
                runs,
                reset_project,
                fresh_cache,
            ),
            "trading specs build (all modules)": median_seconds(
                [*trading, "specs", "build"], project, runs, reset_project, fresh_cache
            ),
        }
        end_to_end = {"trading new-module X (end to end)": fresh_cache}
        if arguments.before:
            path = os.pathsep.join([arguments.before, f"{arguments.before}/src"])
            before = {**fresh_cache, "PYTHONPATH": path}
            end_to_end["trading new-module X, before"] = before
        figures.update(
            alternating_medians(
                [*trading, "new-module", "bench-module"],
                project,
                runs,
                reset_project,
                end_to_end,
            )
        )
    anchor, _ = next(iter(figures.values()))
    print(f"{'':42s} {'wall s':>7s} {'cpu s':>6s}  wall / anchor")
    for label, (wall, cpu) in figures.items():
        print(f"{label:42s} {wall:7.2f} {cpu:6.2f}  {wall / anchor:.2f}x")


if __name__ == "__main__":
    main()
