"""Finding the project a command works on, from the current directory upwards."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trading_cli.errors import CliError

if TYPE_CHECKING:
    from trading_api.shared.module_registry import ModuleRegistry

MARKER = Path("src/trading_api/modules")


@dataclass(frozen=True)
class Project:
    """A checkout of the trading backend and the paths the CLI works with."""

    root: Path

    @property
    def src(self) -> Path:
        """The folder holding the ``trading_api`` package."""
        return self.root / "src"

    @property
    def package_dir(self) -> Path:
        """The ``trading_api`` package."""
        return self.src / "trading_api"

    @property
    def modules_dir(self) -> Path:
        """The folder of module packages."""
        return self.package_dir / "modules"

    @property
    def templates_dir(self) -> Path:
        """The copier templates."""
        return self.root / "templates"

    def module_registry(self) -> "ModuleRegistry":
        """This checkout's modules, discovered (none imported yet)."""
        self.activate()
        from trading_api.shared.module_registry import ModuleRegistry

        registry = ModuleRegistry()
        registry.auto_discover(self.modules_dir)
        return registry

    def activate(self) -> None:
        """Make ``import trading_api`` load this checkout's code, in this process
        and in the processes it starts."""
        src = str(self.src)
        if sys.path[:1] != [src]:
            sys.path.insert(0, src)
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if paths[:1] != [src]:
            os.environ["PYTHONPATH"] = os.pathsep.join([src, *filter(None, paths)])


def find_project(start: Path | None = None) -> Project:
    """The project containing ``start`` (default: the current directory).

    Raises:
        CliError: no checkout of the trading backend above ``start``.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_dir() and (folder / "pyproject.toml").is_file():
            return Project(folder)
    raise CliError(
        f"no trading backend checkout at or above {here} "
        f"(looked for {MARKER}); cd into the project and retry"
    )
