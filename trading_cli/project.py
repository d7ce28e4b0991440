"""Finding the project a command works on, from the current directory upwards."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Standard library only, like trading_cli.errors.
from trading_api.conventions import (  # noqa: TID253
    discover_packages,
    module_names,
)
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

    def module_packages(self) -> list[str]:
        """The module packages of this checkout, found without importing them."""
        return discover_packages(self.modules_dir)

    def module_names(self) -> list[str]:
        """The module names of this checkout, ``core`` first."""
        return module_names(self.modules_dir)

    def module_registry(self) -> "ModuleRegistry":
        """This checkout's modules, discovered (none imported yet)."""
        self.activate()
        from trading_api.shared.module_registry import ModuleRegistry

        registry = ModuleRegistry()
        registry.auto_discover(self.modules_dir)
        return registry

    def activate(self) -> None:
        """Make ``import trading_api`` load this checkout's code, in this process
        and in the processes it starts.

        The CLI imports two standard-library-only modules of the installed
        ``trading_api`` when it starts (:mod:`trading_api.conventions` and
        :mod:`trading_api.shared.errors`: the rules and the error root it shares
        with the runtime). When the installed package is another copy than this
        checkout, its package objects are forgotten here so that everything else
        (modules, shared code, grimp's view of the package) comes from the
        checkout; those two modules stay, so an error raised by the checkout's
        code is still the CLI's ``TradingError``.
        """
        src = str(self.src)
        if sys.path[:1] != [src]:
            sys.path.insert(0, src)
        _forget_other_copy(self.package_dir)
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if paths[:1] != [src]:
            os.environ["PYTHONPATH"] = os.pathsep.join([src, *filter(None, paths)])


_SHARED_WITH_THE_CLI = ("trading_api.conventions", "trading_api.shared.errors")
_LOADED_AT_START = {"trading_api", "trading_api.shared", *_SHARED_WITH_THE_CLI}


def _forget_other_copy(package_dir: Path) -> None:
    loaded = [name for name in sys.modules if name.split(".")[0] == "trading_api"]
    origin = getattr(sys.modules.get("trading_api"), "__file__", None)
    if origin is None or Path(origin).resolve().parent == package_dir.resolve():
        return
    # Only at start-up: once the runtime is in use (in-process callers such as
    # tests), swapping its modules would leave two copies of every class alive.
    if set(loaded) <= _LOADED_AT_START:
        for name in loaded:
            if name not in _SHARED_WITH_THE_CLI:
                del sys.modules[name]


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
