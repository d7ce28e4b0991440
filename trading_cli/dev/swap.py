"""Swapping one module inside a running dev server.

Runs in the server process, on its event loop, one swap at a time:

1. regenerate the module's WS routers from its ``ws.py``;
2. take the module's package out of ``sys.modules`` with every submodule whose
   source changed or that imports one that did (its generated packages
   included; see :mod:`~trading_cli.dev.stale`), and import it again from disk;
   a submodule whose source and imports are as they were stays as it is;
3. build the new module's app and run its start-up beside the old one
   (:meth:`~trading_api.app_factory.ModularFastAPI.swap_module`); new requests
   and connections go to it from then on. Steps 1 and 2, and the building of the
   new module and its app, run in a worker thread, so the other modules go on
   serving meanwhile: only the start-up runs on the event loop;
4. close the old module's WebSocket connections with the reloading code, then
   stop the old app: its background jobs are cancelled, its hub releases its
   topics, its shutdown hook runs.

Last, the libraries' caches are cleared: FastAPI, for one, remembers every
endpoint function it classified, which would keep the old module's code alive.

A failure in steps 1 to 3 puts the old package back in ``sys.modules`` and
leaves the old app serving: the error is reported as a full reload's is. The
swapper keeps weak references to what it retired, so the server can tell
whether anything still holds an old module (:meth:`Swapper.retired_alive`).
"""

import asyncio
import gc
import importlib
import sys
import typing
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from trading_cli.dev.adapters import AdapterCache
from trading_cli.dev.failure import Failure, describe_failure
from trading_cli.dev.sessions import Sessions
from trading_cli.dev.stale import stale_modules
from trading_cli.dev.timeline import Timeline
from trading_cli.project import Project

if TYPE_CHECKING:
    from trading_api.app_factory import ModularFastAPI
    from trading_api.shared.hot_swap import BuiltApp
    from trading_api.shared.module_interface import Module
    from trading_api.shared.module_registry import ModuleEntry, ModuleRegistry


@dataclass
class SwapResult:
    """What a swap did: the files it regenerated, or why it failed; when the new
    code started serving, and where the time went."""

    written: list[str] = field(default_factory=list)
    failure: Failure | None = None
    served_at: float = 0.0
    timeline: Timeline = field(default_factory=Timeline)


class Swapper:
    """Replaces modules of a running :class:`ModularFastAPI`, one at a time."""

    def __init__(
        self,
        project: Project,
        app: "ModularFastAPI",
        sessions: Sessions,
        adapters: AdapterCache | None = None,
    ) -> None:
        self.project = project
        self.app = app
        self.sessions = sessions
        self.adapters = adapters
        self.swaps = 0
        self._retired: list[weakref.ref[object]] = []

    async def swap(self, name: str, result: SwapResult | None = None) -> SwapResult:
        """Serve module ``name`` from the code on disk now, in place of the old.

        ``result`` may carry a timeline with earlier marks (the order's arrival).
        """
        from trading_api.shared.module_registry import ModuleRegistry

        result = result or SwapResult()
        timeline = result.timeline
        old = self.app.module_apps.get(name)
        if old is None:
            result.failure = Failure(f"module {name!r} is not served", "")
            return result
        old_module = old.state.module
        registry = ModuleRegistry()
        try:
            registry.auto_discover(self.project.modules_dir)
            entry = registry.entry(name)
        except Exception as exc:
            result.failure = describe_failure(exc, self.project.root)
            return result
        # Generating, importing and building run in a worker thread: the event
        # loop goes on serving the other modules meanwhile.
        staged = _Staged()
        try:
            load = partial(
                staged.load, self.project, registry, entry, timeline, self.adapters
            )
            with _collection_paused():
                await asyncio.to_thread(load)
                assert staged.module is not None and staged.built is not None
                stop_old = await self.app.swap_module(staged.module, staged.built)
        except Exception as exc:
            if staged.purged is not None:
                _restore(entry.import_name, staged.purged, staged.kept)
            result.failure = describe_failure(exc, self.project.root)
            return result
        finally:
            result.written = [
                str(path.relative_to(self.project.root)) for path in staged.written
            ]
        result.served_at = timeline.mark("start")
        purged = staged.purged or {}
        del staged
        # Nothing awaited since the new app took over: these are all the
        # connections the old one serves, and no new one reaches it.
        await self.sessions.evict(self.sessions.of_module(name), f"reloading {name}")
        timeline.mark("close")
        await stop_old()
        timeline.mark("stop old")
        # In a worker thread: the event loop serves meanwhile.
        await asyncio.to_thread(clear_library_caches)
        timeline.mark("caches")
        self.swaps += 1
        for retired in (old_module, type(old_module), old, *purged.values()):
            self._retired.append(weakref.ref(retired))
        return result

    def retired_alive(self) -> int:
        """How many retired modules, module apps and module classes are still
        referenced from somewhere, after a full garbage collection."""
        gc.collect()
        self._retired = [ref for ref in self._retired if ref() is not None]
        return len(self._retired)


@dataclass
class _Staged:
    """The new code of a module, loaded off the event loop."""

    written: list[Path] = field(default_factory=list)
    purged: dict[str, ModuleType] | None = None
    kept: set[str] = field(default_factory=set)
    module: "Module | None" = None
    built: "BuiltApp | None" = None

    def load(
        self,
        project: Project,
        registry: "ModuleRegistry",
        entry: "ModuleEntry",
        timeline: Timeline,
        adapters: AdapterCache | None,
    ) -> None:
        """Regenerate the module's WS routers, take its old code out of
        ``sys.modules``, import it again, create the module and build its app
        (its fields' adapters from ``adapters`` where they are equal)."""
        from trading_api.shared.hot_swap import warm_up
        from trading_cli.dev.ws_routers import write_ws_routers

        with timeline.phase("ws routers"):
            self.written = write_ws_routers(project, entry.package_dir)
        recording = (
            nullcontext() if adapters is None else adapters.recording(entry.name)
        )
        with recording:
            with timeline.phase("import"):
                self.purged = _purge(entry.import_name)
                self.kept = set(_below(entry.import_name))
                module_class = registry.module_class(entry.name)
                _bind(self.kept)
            with timeline.phase("build"):
                self.module = module_class()
                self.built = self.module.create_app()
                warm_up(self.built[0])


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection until the new code serves.

    Building an app allocates enough to set off a full collection now and then,
    and a full collection of a dev server (every module, FastAPI, pydantic,
    SQLAlchemy) takes longer than the rest of the swap. Paused, it runs after
    the switch instead: the same work, off the way to the new code.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


CACHING_LIBRARIES = ("fastapi.", "starlette.", "pydantic.", "pydantic_core.")
"""Libraries whose module-level ``functools`` caches may key on a module's
functions or classes (FastAPI classifies each endpoint once and remembers it)."""


_found_caches: dict[str, tuple[ModuleType, int, list[Callable[[], None]]]] = {}
"""Each library module's caches, as found when it had as many globals as noted:
a library's modules do not change once imported, so each is searched once."""


def clear_library_caches() -> None:
    """Drop what the libraries remember about the old module's code.

    Their caches would keep the old functions, hence the old modules' globals,
    alive long after the swap: each clears in microseconds and refills on
    demand. ``typing`` keeps its own list of caches to clear.
    """
    for name, module in list(sys.modules.items()):
        if not name.startswith(CACHING_LIBRARIES) or module is None:
            continue
        found = _found_caches.get(name)
        names = len(vars(module))
        if found is None or found[0] is not module or found[1] != names:
            found = _found_caches[name] = (module, names, _caches_of(module))
        for clear in found[2]:
            clear()
    for clear_typing_cache in getattr(typing, "_cleanups", []):
        clear_typing_cache()


def _caches_of(module: ModuleType) -> list[Callable[[], None]]:
    """The ``cache_clear`` of every ``functools`` cache among ``module``'s
    globals."""
    found = []
    for value in list(vars(module).values()):
        clear = getattr(value, "cache_clear", None)
        if callable(clear) and hasattr(value, "cache_info"):
            found.append(clear)
    return found


def _purge(import_name: str) -> dict[str, ModuleType]:
    """Take the stale modules of a package out of ``sys.modules`` (see
    :func:`~trading_cli.dev.stale.stale_modules`); return them."""
    stale = stale_modules(import_name)
    purged = {name: sys.modules[name] for name in stale if name in sys.modules}
    for name in purged:
        del sys.modules[name]
    importlib.invalidate_caches()
    return purged


def _below(import_name: str) -> list[str]:
    """The names of the loaded modules of package ``import_name``."""
    prefix = f"{import_name}."
    return [n for n in sys.modules if n == import_name or n.startswith(prefix)]


def _bind(names: set[str]) -> None:
    """Make each module of ``names`` an attribute of its package, as an import
    does: a submodule kept by a swap, of the package imported again."""
    for name in names:
        parent = sys.modules.get(name.rpartition(".")[0])
        if parent is not None:
            setattr(parent, name.rpartition(".")[2], sys.modules[name])


def _restore(import_name: str, purged: dict[str, ModuleType], kept: set[str]) -> None:
    """Put back what :func:`_purge` took out, dropping a half-done import."""
    for name in _below(import_name):
        if name not in kept:
            del sys.modules[name]
    sys.modules.update(purged)
    _bind({*purged, *kept} - {import_name})
    parent_name, _, attribute = import_name.rpartition(".")
    parent = sys.modules.get(parent_name)
    if parent is not None and import_name in purged:
        setattr(parent, attribute, purged[import_name])
