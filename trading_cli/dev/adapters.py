"""Pydantic type adapters of FastAPI's fields, kept in a dev server across swaps.

FastAPI makes a field (a pydantic ``TypeAdapter``) for every parameter, request
body and response model of every route, and makes them twice for a route of an
included router: once for the router's own route, once for the route as the app
includes it. Making an adapter generates its pydantic core schema: two thirds of
building a large module's app. A module's fields are mostly the same from one
swap to the next (the query parameters, the response models of the shared
``models/``), so a swap reuses the adapter of a field it made before, when the
field's type, constraints and attributes are equal.

The cache holds what the latest swap of each module used, nothing more: after a
swap's build, an entry that swap did not use is dropped (unless another
module's latest swap used it). A class of the old module is used only by the
old build, so the cache never keeps an old module alive. It serves only the
thread of the swap that records; everything else makes its fields as FastAPI
does. A field whose attributes cannot be compared by value (an unhashable
default, a ``dict`` of JSON schema extras) is made as usual.

The cache wraps the ``__post_init__`` of FastAPI's field class, which makes the
adapter; if FastAPI no longer has it, :func:`install` leaves FastAPI alone and
swaps make their fields as usual.
"""

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

Key = tuple[Hashable, ...]


@dataclass
class _Entry:
    state: dict[str, Any]  # what the field's __post_init__ set: its adapter
    users: set[str] = field(default_factory=set)  # modules whose latest swap used it


class AdapterCache:
    """The adapters of the fields the latest swap of each module made."""

    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._lock = threading.Lock()
        self._recording: tuple[int, str, set[Key]] | None = None
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """How many adapters the cache holds."""
        return len(self._entries)

    @contextmanager
    def recording(self, module: str) -> Iterator[None]:
        """Serve and record the fields made by this thread for ``module``'s swap.

        When the block ends (raised or not), the entries ``module``'s previous
        swap used and this one did not are given up.
        """
        used: set[Key] = set()
        with self._lock:
            self._recording = (threading.get_ident(), module, used)
        try:
            yield
        finally:
            with self._lock:
                self._recording = None
                for key, entry in list(self._entries.items()):
                    if key in used:
                        entry.users.add(module)
                        continue
                    entry.users.discard(module)
                    if not entry.users:
                        del self._entries[key]

    def post_init(self, model_field: Any, make: Callable[[Any], None]) -> None:
        """Give ``model_field`` its adapter: a recorded one, or ``make`` it."""
        recording = self._recording
        if recording is None or recording[0] != threading.get_ident():
            make(model_field)
            return
        key = _key(model_field)
        if key is None:
            make(model_field)
            return
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            declared = {each.name for each in fields(model_field)}
            make(model_field)
            state = {
                name: value
                for name, value in vars(model_field).items()
                if name not in declared
            }
            entry = self._entries[key] = _Entry(state)
        else:
            self.hits += 1
            vars(model_field).update(entry.state)
        recording[2].add(key)


def _key(model_field: Any) -> Key | None:
    """What the adapter of ``model_field`` is made of, as a hashable value; None
    when a part of it cannot be compared by value."""
    from fastapi._compat.v2 import asdict

    info = asdict(model_field.field_info)
    config = model_field.config
    try:
        key = (
            info["annotation"],
            tuple(info["metadata"]),
            # The type too: ``1 == True``, but a default of 1 is no default of True.
            tuple(
                (name, type(value), value)
                for name, value in sorted(info["attributes"].items())
            ),
            None if config is None else tuple(sorted(config.items())),
        )
        hash(key)
    except TypeError:
        return None
    return key


def install(cache: AdapterCache) -> bool:
    """Make FastAPI's fields through ``cache``; False if FastAPI has no place
    for it (another version) or a cache is installed already, in which case
    nothing changed."""
    try:
        from fastapi._compat.v2 import ModelField, asdict  # noqa: F401
    except ImportError:
        return False
    original = ModelField.__dict__.get("__post_init__")
    if not callable(original) or hasattr(original, "adapter_cache"):
        return False

    def __post_init__(self: Any) -> None:
        cache.post_init(self, original)

    __post_init__.adapter_cache = cache  # type: ignore[attr-defined]
    __post_init__.__wrapped__ = original  # type: ignore[attr-defined]
    ModelField.__post_init__ = __post_init__  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    """Make FastAPI's fields as FastAPI does again."""
    from fastapi._compat.v2 import ModelField

    installed = ModelField.__dict__.get("__post_init__")
    if hasattr(installed, "adapter_cache"):
        ModelField.__post_init__ = installed.__wrapped__  # type: ignore[method-assign,union-attr]
