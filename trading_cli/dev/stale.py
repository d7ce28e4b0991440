"""Which modules of a package a swap must import again.

A swap replaces a module's package, but a save changes one file: a submodule
whose source is what it was when it ran, and which imports nothing of the
package that is imported again, would be rebuilt identical (a large module's
tables or models are a good part of its import). Such a submodule stays as it
is; everything else of the package is imported again:

- the package's own ``__init__`` (it makes the module's class), every file whose
  source on disk differs from the source it ran (or that was not loaded through
  the dev server's code cache, so its source is unknown), and every file gone;
- a submodule that imports one of those, by the ``import`` statements of its
  source (``from .service import X``, ``from . import tables``,
  ``import pkg.sub``), and every module of a subpackage imported again;
- and so on, until nothing more is to be imported again.

A submodule that imports a sibling by a name computed at run time
(``importlib.import_module``) is not seen to depend on it: keep such imports
inside functions, where they find the sibling imported again.
"""

import ast
import importlib.util
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from types import ModuleType


def stale_modules(import_name: str) -> set[str]:
    """The names of the loaded modules of package ``import_name`` that a swap
    must import again (the package itself always)."""
    below = f"{import_name}."
    loaded = {
        name: module
        for name, module in list(sys.modules.items())
        if module is not None and (name == import_name or name.startswith(below))
    }
    stale = {import_name} | {
        name for name, module in loaded.items() if _changed(module)
    }
    imports = {
        name: _package_imports(name, _ran_source(module) or b"", _is_package(module))
        for name, module in loaded.items()
        if name not in stale
    }
    needs = {
        name: _dependencies(import_name, modules, names, loaded.keys())
        for name, (modules, names) in imports.items()
    }
    grew = True
    while grew:
        grew = False
        for name, needed in needs.items():
            if name in stale:
                continue
            parent = name.rpartition(".")[0]
            if (parent != import_name and parent in stale) or needed & stale:
                stale.add(name)
                grew = True
    return stale


def _dependencies(
    package: str,
    modules: frozenset[str],
    names: frozenset[tuple[str, str]],
    loaded: Iterable[str],
) -> set[str]:
    """What a module of ``package`` uses: the modules it imports, and the
    package itself only for a name defined in its ``__init__``. Importing a
    submodule imports the package first, but uses none of its code."""
    known = set(loaded)
    needed = {module for module in modules if module != package}
    for base, name in names:
        submodule = f"{base}.{name}"
        needed.add(submodule if submodule in known else base)
    return needed


def _ran_source(module: ModuleType) -> bytes | None:
    """The source the module ran, if the code cache loaded it."""
    spec = getattr(module, "__spec__", None)
    source = getattr(getattr(spec, "loader", None), "source", None)
    return source if isinstance(source, bytes) else None


def _changed(module: ModuleType) -> bool:
    ran = _ran_source(module)
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if ran is None or not origin:
        return True
    try:
        return Path(origin).read_bytes() != ran
    except OSError:
        return True


def _is_package(module: ModuleType) -> bool:
    return hasattr(module, "__path__")


@lru_cache(maxsize=512)
def _package_imports(
    name: str, source: bytes, is_package: bool
) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """What the ``import`` statements of ``source`` load, resolved against
    module ``name``: the modules (with the packages above each), and each
    ``from base import name`` as ``(base, name)``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return frozenset(), frozenset()
    package = name if is_package else name.rpartition(".")[0]
    modules: set[str] = set()
    names: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            try:
                base = importlib.util.resolve_name(relative, package)
            except ImportError:
                continue
            modules.update(_with_parents(base))
            names.update((base, alias.name) for alias in node.names)
    return frozenset(modules), frozenset(names)


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
