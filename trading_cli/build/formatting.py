"""Formatting generated Python with ruff, the formatter the project already runs.

Generators render source from templates without caring about import order or line
layout; :func:`format_python` then sorts the imports (ruff's isort rules) and
formats the code exactly as ``ruff check`` and ``ruff format`` would in the file
the text is written to, with the project's own ruff configuration.
"""

import subprocess
from functools import cache
from pathlib import Path

from trading_api.conventions import ROOT_PACKAGE  # noqa: TID253 (standard library only)
from trading_cli.errors import CliError


@cache
def ruff_binary() -> str:
    """The ruff executable installed with the workbench."""
    from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

    return str(find_ruff_bin())


def format_python(source: str, path: Path, root: Path) -> str:
    """``source`` with sorted imports, formatted as if it were the file ``path``
    of the project at ``root`` (whose ``pyproject.toml`` configures ruff).

    Raises:
        CliError: ruff cannot parse the source (a generator bug: the message
            shows ruff's error).
    """
    # A new module's folder may not exist yet, and ruff tells first-party imports
    # by the folders it finds: name the backend's package as the code does.
    config = [
        "--config",
        str(root / "pyproject.toml"),
        "--config",
        f'lint.isort.known-first-party = ["{ROOT_PACKAGE}"]',
    ]
    check = ["check", *config, "--select", "I", "--fix", "--exit-zero", "--quiet"]
    sorted_imports = _ruff(check, source, path, root)
    return _ruff(["format", *config, "--quiet"], sorted_imports, path, root)


def _ruff(args: list[str], source: str, path: Path, root: Path) -> str:
    result = subprocess.run(
        [ruff_binary(), *args, "--stdin-filename", str(path), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if result.returncode != 0:
        raise CliError(
            f"ruff could not format the generated {path.name}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout
