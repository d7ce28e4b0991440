"""What the project lock and the crash journal add to a command that writes the tree.

On a copy of the project in a temporary folder, in one process, side by side:

* the project lock taken and released (uncontended), and the check every
  ``trading`` command makes at start for a journal left by a killed command;
* ``new-module``'s install step without generation, as it is (a journal in
  ``.run/``, the merged specs backed up, the module folder moved into place and
  the journal deleted) beside the same moves and backups with no journal on disk.

Medians of ``--runs`` alternating runs. Run: python bench/tree_safety.py [--runs 50]
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from trading_cli.journal import recover_at_start, transaction
from trading_cli.lock import project_lock

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "src/trading_api/modules/core"
MERGED = ("openapi.json", "asyncapi.json")


def median_ms(action: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as folder:
        root = Path(folder)
        specs = root / "src/trading_api/specs_generated"
        specs.mkdir(parents=True)
        for name in MERGED:
            shutil.copy2(ROOT / "src/trading_api/specs_generated" / name, specs)
        merged = [specs / name for name in MERGED]
        source = root / "rendered"
        shutil.copytree(MODULE, source, ignore=shutil.ignore_patterns("__pycache__"))
        target = root / "src/trading_api/modules/bench_module"
        target.parent.mkdir(parents=True, exist_ok=True)

        def lock() -> None:
            with project_lock(root, "bench", on_wait=None):
                pass

        def start_check() -> None:
            recover_at_start(root)

        def journaled() -> None:
            with transaction(root, "bench") as journal:
                journal.keep_files(merged)
                journal.move(source, target)
            os.rename(target, source)  # not timed apart: the same in both

        def plain() -> None:
            saved = [path.read_bytes() for path in merged]
            os.rename(source, target)
            del saved
            os.rename(target, source)

        figures: dict[str, list[float]] = {
            "lock": [],
            "check": [],
            "journaled": [],
            "plain": [],
        }
        for _ in range(runs):
            figures["lock"].append(median_ms(lock, 1))
            figures["check"].append(median_ms(start_check, 1))
            figures["journaled"].append(median_ms(journaled, 1))
            figures["plain"].append(median_ms(plain, 1))
    median = {key: statistics.median(values) for key, values in figures.items()}
    print(f"runs: {runs}, medians in ms")
    print(f"project lock, take and release           {median['lock']:7.3f}")
    print(f"start-of-command check for a journal     {median['check']:7.3f}")
    print(f"install step, no journal                 {median['plain']:7.3f}")
    print(f"install step, journaled                  {median['journaled']:7.3f}")
    extra = median["journaled"] - median["plain"] + median["lock"]
    print(f"added to new-module (journal + lock)     {extra:7.3f}")


if __name__ == "__main__":
    main()
