"""Discovery of feature modules by convention, and their lazy loading.

Convention: every ``<modules_dir>/<package>/__init__.py`` is a module whose name is
the package in kebab-case and whose ``__init__`` exports ``<Pascal>Module``.
Discovery only looks at folders; a module is imported when it is first loaded, so a
server that enables two modules never imports the others.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from trading_api.conventions import (
    MODULES_PACKAGE,
    class_name_for,
    collision,
    discover_packages,
    name_for,
    name_problem,
    registry_order,
)
from trading_api.shared.errors import ModuleDiscoveryError, UnknownModuleError

if TYPE_CHECKING:
    # FastAPI comes with it: discovery and name checks stay free of it, so a
    # command that only needs module names (``trading test MODULE``) starts fast.
    from trading_api.shared.module_interface import Module

DEFAULT_MODULES_DIR = Path(__file__).resolve().parent.parent / "modules"
DEFAULT_IMPORT_PREFIX = MODULES_PACKAGE


@dataclass(frozen=True)
class ModuleEntry:
    """A discovered module that may not be imported yet."""

    name: str
    package: str
    package_dir: Path
    import_name: str

    @property
    def class_name(self) -> str:
        """The class the package's ``__init__`` must export."""
        return class_name_for(self.name)


class ModuleRegistry:
    """Discovered modules by name; classes are imported on first use."""

    def __init__(self) -> None:
        self._entries: dict[str, ModuleEntry] = {}
        self._classes: dict[str, type[Module]] = {}

    def auto_discover(self, modules_dir: Path = DEFAULT_MODULES_DIR) -> list[str]:
        """Register every module package under ``modules_dir``; return their names.

        Raises:
            ModuleDiscoveryError: a package name breaks the convention, or a name is
                registered already. The message says how to fix it.
        """
        modules_dir = modules_dir.resolve()
        prefix = _import_prefix(modules_dir)
        found = []
        for package in discover_packages(modules_dir):
            self.register(
                ModuleEntry(
                    name=_name_of_package(package, modules_dir / package),
                    package=package,
                    package_dir=modules_dir / package,
                    import_name=f"{prefix}.{package}",
                )
            )
            found.append(name_for(package))
        return found

    def register(self, entry: ModuleEntry) -> None:
        """Register one module entry; a second entry under one name is an error."""
        existing = self._entries.get(entry.name)
        if existing is not None:
            raise ModuleDiscoveryError(
                f"module {entry.name!r} is already registered from "
                f"{existing.package_dir}; rename or remove {entry.package_dir}"
            )
        clash = collision(entry.name, self._entries)
        if clash is not None:
            raise ModuleDiscoveryError(f"module package {entry.package_dir}: {clash}")
        self._entries[entry.name] = entry

    def clear(self) -> None:
        """Forget every registered module."""
        self._entries.clear()
        self._classes.clear()

    @property
    def names(self) -> list[str]:
        """Registered module names, ``core`` first, then alphabetical."""
        return registry_order(self._entries)

    def entry(self, name: str) -> ModuleEntry:
        """The discovery record of ``name``.

        Raises:
            UnknownModuleError: no such module; the message lists the known ones.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownModuleError([name], self.names) from None

    def check_known(self, names: list[str]) -> None:
        """Raise :class:`UnknownModuleError` naming every unknown name at once."""
        unknown = [name for name in names if name not in self._entries]
        if unknown:
            raise UnknownModuleError(unknown, self.names)

    def select(self, names: Sequence[str] | None) -> list[str]:
        """``names`` in registry order (``core`` first), or every name for None.

        Raises:
            UnknownModuleError: naming every unknown name and the known ones.
        """
        if names is None:
            return self.names
        wanted = {name.strip() for name in names if name.strip()}
        self.check_known(sorted(wanted))
        return [name for name in self.names if name in wanted]

    def module_class(self, name: str) -> type[Module]:
        """Import the module's package (once) and return its validated class."""
        if name not in self._classes:
            self._classes[name] = _load_class(self.entry(name))
        return self._classes[name]

    def create_module(self, name: str) -> Module:
        """A fresh instance of module ``name``."""
        return self.module_class(name)()


def _name_of_package(package: str, package_dir: Path) -> str:
    name = name_for(package)
    if package != package.lower() or "-" in package or "__" in package:
        raise ModuleDiscoveryError(
            f"module package {package_dir} is not a snake_case name; "
            f"rename the folder to {package.lower().replace('-', '_')!r}"
        )
    problem = name_problem(name)
    if problem is not None:
        raise ModuleDiscoveryError(f"module package {package_dir}: {problem}")
    return name


def _import_prefix(modules_dir: Path) -> str:
    if modules_dir == DEFAULT_MODULES_DIR:
        return DEFAULT_IMPORT_PREFIX
    # Modules outside the package (tests, tools) get a private namespace per folder
    # so two folders never share an import name.
    digest = hashlib.sha1(str(modules_dir).encode()).hexdigest()[:12]
    return f"_trading_modules_{digest}"


def _import_package(entry: ModuleEntry) -> ModuleType:
    if entry.import_name in sys.modules:
        return sys.modules[entry.import_name]
    if entry.import_name.startswith(DEFAULT_IMPORT_PREFIX + "."):
        return importlib.import_module(entry.import_name)
    spec = importlib.util.spec_from_file_location(
        entry.import_name,
        entry.package_dir / "__init__.py",
        submodule_search_locations=[str(entry.package_dir)],
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[entry.import_name] = package
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules[entry.import_name]
        raise
    return package


def _load_class(entry: ModuleEntry) -> type[Module]:
    from trading_api.shared.module_interface import Module

    if (entry.package_dir / "ws.py").exists():
        from trading_api.shared.ws.generated import check_ws_generated

        check_ws_generated(entry.package_dir)
    try:
        package = _import_package(entry)
    except Exception as exc:
        raise ModuleDiscoveryError(
            f"module {entry.name!r} failed to import: {_describe(exc, entry)}"
        ) from exc
    cls = getattr(package, entry.class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        exported = sorted(
            attr
            for attr, value in vars(package).items()
            if isinstance(value, type) and issubclass(value, Module)
        )
        found = f" (found {', '.join(exported)})" if exported else ""
        raise ModuleDiscoveryError(
            f"module {entry.name!r} must export a Module subclass named "
            f"{entry.class_name!r} from {entry.package_dir / '__init__.py'}{found}"
        )
    declared = getattr(cls, "name", None)
    if declared != entry.name:
        raise ModuleDiscoveryError(
            f"{entry.class_name}.name is {declared!r} but its package "
            f"{entry.package!r} means {entry.name!r}; set name = {entry.name!r}"
        )
    return cls


def _describe(exc: Exception, entry: ModuleEntry) -> str:
    """One line: the exception and the innermost frame inside the module."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(str(entry.package_dir)):
            where = f" at {frame.filename}:{frame.lineno}"
            break
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" at {exc.filename}:{exc.lineno}"
    return f"{type(exc).__name__}: {exc}{where}"
