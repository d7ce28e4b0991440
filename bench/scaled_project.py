"""A temporary copy of the project grown to N modules, for the scale benchmarks.

The first extra module is made by `trading new-module bench-00` (the real
template); the others are textual copies of it under new names, since scaffolding
fifty modules one by one would take minutes and measure the scaffolder, not the
build. Their generated folders are dropped so the next build makes them.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = Path("src/trading_api/modules")
GENERATED = ("ws_generated", "specs_generated", "client_generated")
IGNORED = shutil.ignore_patterns(
    "__pycache__", ".git", "node_modules", ".mypy_cache", ".ruff_cache"
)


def trading(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``project``; fail loudly if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "trading_cli.main", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"trading {' '.join(args)} failed:\n{result.stderr}")
    return result


def median_seconds(
    project: Path, args: list[str], runs: int, env: dict[str, str] | None = None
) -> float:
    """Median wall time of ``trading ARGS`` in ``project`` (after one warm-up)."""
    trading(project, *args, env=env)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        trading(project, *args, env=env)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def module_count(project: Path) -> int:
    """How many modules the project has."""
    return len(list((project / MODULES).glob("*/__init__.py")))


@contextmanager
def project_copy() -> Iterator[Path]:
    """A git-initialised copy of the project in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="trading-bench-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        for name in ("pyproject.toml", ".copier-answers.yml"):
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, root / name)
        for name in ("src", "templates"):
            shutil.copytree(ROOT / name, root / name, ignore=IGNORED)
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@b",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@b",
        }
        for command in (
            ["init", "-q", "-b", "main"],
            ["add", "."],
            ["commit", "-q", "-m", "bench"],
        ):
            subprocess.run(["git", *command], cwd=root, env=env, check=True)
        yield root


def grow_to(project: Path, total: int) -> None:
    """Add modules named bench-NN until the project has ``total`` modules."""
    modules = project / MODULES
    if not (modules / "bench_00").exists():
        trading(
            project,
            "new-module",
            "bench-00",
            "--description",
            "Bench module.",
            "--json",
        )
    index = 1
    while module_count(project) < total:
        if not (modules / f"bench_{index:02d}").exists():
            _clone(modules / "bench_00", modules / f"bench_{index:02d}", index)
        index += 1


def _clone(source: Path, target: Path, index: int) -> None:
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__")
    )
    spellings = {
        "bench-00": f"bench-{index:02d}",
        "bench_00": f"bench_{index:02d}",
        "Bench00": f"Bench{index:02d}",
    }
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for old, new in spellings.items():
                text = text.replace(old, new)
            path.write_text(text, encoding="utf-8")
