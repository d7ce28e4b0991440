"""Median wall time of `trading --help`, beside `python -c pass` as the floor.

Also times `copier --help` as an anchor when it is installed.

Run: python bench/cli_startup.py [--runs 20]
Budget (docs/architecture.md): < 100 ms.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], runs: int) -> float:
    """Median wall time of ``command`` over ``runs`` runs, after one warm-up."""
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    trading = shutil.which("trading")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -m trading_cli.main --help": [
            sys.executable,
            "-m",
            "trading_cli.main",
            "--help",
        ],
    }
    if trading:
        commands["trading --help"] = [trading, "--help"]
    copier = shutil.which("copier")
    if copier:  # an anchor: another Typer-era CLI on the same machine
        commands["copier --help (anchor)"] = [copier, "--help"]
    floor = None
    for label, command in commands.items():
        seconds = median_seconds(command, runs)
        floor = floor or seconds
        ratio = seconds / floor
        print(f"{label:40s} median {seconds * 1000:7.1f} ms  ({ratio:.2f}x floor)")


if __name__ == "__main__":
    main()
