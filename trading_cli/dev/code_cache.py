"""Compiled code of the module packages, kept in a dev server across swaps.

A swap imports every file of the module again, though a save changes one. With
bytecode caching off (``PYTHONDONTWRITEBYTECODE``, a read-only tree) each import
compiles its source again: a third of a large module's swap. The dev server
keeps each module file's last source and code object in memory and compiles
only a file whose source differs from what it compiled last (compared byte for
byte, so a save within the file time's resolution is never missed).

A code object holds no module state (``exec`` makes fresh functions and classes
from it each time), so reusing one keeps nothing of an old module alive.
"""

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType, ModuleType


class CodeCache:
    """The last source and code of each file, by path."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, CodeType]] = {}
        self.compiled = 0

    def code(self, loader: SourceFileLoader, path: str, source: bytes) -> CodeType:
        """The code of ``source``, compiled only if it changed since last time."""
        entry = self._entries.get(path)
        if entry is not None and entry[0] == source:
            return entry[1]
        code = loader.source_to_code(source, path)
        self.compiled += 1
        self._entries[path] = (source, code)
        return code


class _CachingLoader(SourceFileLoader):
    """A source loader that asks the cache before compiling."""

    def __init__(self, fullname: str, path: str, cache: CodeCache) -> None:
        super().__init__(fullname, path)
        self.cache = cache

    source: bytes | None = None
    """The source this loader's module ran (see :mod:`trading_cli.dev.stale`)."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        self.source = self.get_data(path)
        return self.cache.code(self, path, self.source)


class CachingFinder:
    """A ``sys.meta_path`` finder for the packages under ``prefix``: it finds
    them as the path finder does, and loads their source through the cache."""

    def __init__(self, prefix: str, cache: CodeCache) -> None:
        self.prefix = prefix
        self.cache = cache

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if not fullname.startswith(self.prefix):
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader:
            return spec
        assert spec.origin is not None
        spec.loader = _CachingLoader(fullname, spec.origin, self.cache)
        return spec

    def invalidate_caches(self) -> None:
        """Nothing of its own to forget: the cache compares sources."""


def install(prefix: str) -> CodeCache:
    """Load the packages under ``prefix`` (``trading_api.modules.``) through a
    cache of their code, in this process; return the cache."""
    cache = CodeCache()
    sys.meta_path.insert(0, CachingFinder(prefix, cache))
    return cache
