"""Wall time of `trading boundaries` as a project grows to 100 modules.

Beside it, as the anchor, import-linter's own `lint-imports` checks the same
contracts (written to an INI file from `trading_cli.boundaries.contracts`) on the
same copy, caching off like ours. Both are whole processes, start-up included.

Run: python bench/boundaries_scale.py [--sizes 3,50,100] [--runs 7]
Budget (docs/architecture.md): 50 modules < 1 s (import-linter alone 0.14 s for 100).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from scaled_project import MODULES, grow_to, median_seconds, project_copy, trading

from trading_cli.boundaries import ROOT, SESSION, contracts


def write_config(project: Path) -> Path:
    """The contracts `trading boundaries` generates, as an import-linter INI."""
    packages = sorted(
        f"{ROOT}.modules.{init.parent.name}"
        for init in (project / MODULES).glob("*/__init__.py")
    )
    top = sorted(
        f"{ROOT}.{path.stem}"
        for path in (project / "src" / ROOT).iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path / "__init__.py").exists()
    )
    lines = [
        "[importlinter]",
        "root_packages =",
        *(f"    {name}" for name in SESSION["root_packages"]),
        f"include_external_packages = {SESSION['include_external_packages']}",
    ]
    for contract in contracts(packages, top):
        lines += ["", f"[importlinter:contract:{contract['name']}]"]
        for key, value in contract.items():
            shown = "\n    ".join(value) if isinstance(value, list) else value
            lines.append(
                f"{key} =\n    {shown}"
                if isinstance(value, list)
                else f"{key} = {shown}"
            )
    config = project / "bench-importlinter.ini"
    config.write_text("\n".join(lines) + "\n")
    return config


def lint_imports_seconds(project: Path, config: Path, runs: int) -> float:
    command = [
        shutil.which("lint-imports") or "lint-imports",
        str(config),
        "--no-cache",
        "--no-logo",
    ]
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(
            command, cwd=project, env=env, stdout=subprocess.DEVNULL, check=True
        )
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,50,100")
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    with project_copy() as project:
        for size in [int(size) for size in options.sizes.split(",")]:
            grow_to(project, size)
            trading(project, "specs", "build")  # generated code is checked too
            ours = median_seconds(project, ["boundaries"], options.runs)
            anchor = lint_imports_seconds(project, write_config(project), options.runs)
            print(
                f"{size:3d} modules  trading boundaries {ours * 1000:6.0f} ms"
                f"  lint-imports (anchor) {anchor * 1000:6.0f} ms"
                f"  ratio {ours / anchor:.2f}",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
