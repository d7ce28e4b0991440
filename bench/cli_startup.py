"""Median start-up of `trading --help`, side by side with `python -c pass`.

Every round runs each command once, in turn, so a load that comes and goes
hits them alike. Wall and CPU (user + system of the child) medians; "own" is
the median minus the floor's, the command's own cost. `copier --help` is an
anchor when installed. The load average is printed with the figures.

`--before DIR` adds `python -m trading_cli.main --help` run from another
checkout (DIR and DIR/src first on PYTHONPATH, same interpreter), to compare a
change side by side in one run.

Run: python bench/cli_startup.py [--runs 20] [--before DIR]
Budget (docs/architecture.md): `trading --help` < 100 ms on this machine.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

Command = tuple[list[str], dict[str, str] | None, str | None]


def measure(command: Command) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command`` (argv, environment,
    working folder)."""
    argv, env, cwd = command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", metavar="DIR", default=None)
    arguments = parser.parse_args()
    runs = arguments.runs
    help_module = [sys.executable, "-m", "trading_cli.main", "--help"]
    commands: dict[str, Command] = {
        "python -c pass": ([sys.executable, "-c", "pass"], None, None),
        "python -m trading_cli.main --help": (help_module, None, None),
    }
    trading = shutil.which("trading")
    if trading:
        commands["trading --help"] = ([trading, "--help"], None, None)
    if arguments.before:
        path = os.pathsep.join(
            [arguments.before, os.path.join(arguments.before, "src")]
        )
        before = {**os.environ, "PYTHONPATH": path}
        # Run from DIR: `python -m` puts the working folder first on the path.
        commands["... --help, before"] = (help_module, before, arguments.before)
    copier = shutil.which("copier")
    if copier:  # an anchor: another Typer-era CLI on the same machine
        commands["copier --help (anchor)"] = ([copier, "--help"], None, None)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for command in commands.values():  # warm-up: file cache, .pyc files
        measure(command)
    load_before = os.getloadavg()[0]
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(measure(command))
    load_after = os.getloadavg()[0]
    print(
        f"{runs} alternating rounds, load average {load_before:.1f} -> {load_after:.1f}"
    )
    floor_wall = floor_cpu = 0.0
    for name, values in samples.items():
        wall = statistics.median(w for w, _ in values) * 1000
        cpu = statistics.median(c for _, c in values) * 1000
        floor_wall, floor_cpu = floor_wall or wall, floor_cpu or cpu
        print(
            f"{name:36s} wall {wall:7.1f} ms ({wall / floor_wall:5.2f}x, own "
            f"{wall - floor_wall:6.1f})  cpu {cpu:7.1f} ms (own {cpu - floor_cpu:6.1f})"
        )


if __name__ == "__main__":
    main()
