"""The project's pytest plugin: schemathesis's plugin, loaded only when needed,
and one throwaway PostgreSQL cluster per test process.

schemathesis registers a pytest plugin that imports schemathesis and hypothesis
in every pytest process, about a second of CPU before the first test, although
only the files with schemathesis tests need it. The project's pytest settings
turn automatic plugin loading off (``--disable-plugin-autoload``, naming the
plugins they use) and load this one instead, which registers schemathesis's
plugin before the first test file that names ``schemathesis`` is imported (or
as soon as something imported schemathesis). Its hooks then run exactly as if
it had been loaded at start: pytest replays ``pytest_configure`` for a plugin
registered late.

It also keeps the garbage collector out of the way of the tests. A test process
holds every module of the app, of pytest and of hypothesis: each full
collection walks them all, again and again, although none of them is ever
garbage. So the collector is off while pytest starts and collects (imports
make few cycles), and once collection ends the objects alive then are frozen
(``gc.freeze``: collections skip them) and the collector runs again, with a
larger first generation. `trading test broker` spends about half as long in
the collector, 1.5 s less CPU.

And it runs the longest test files first. Every run records how long each
file's tests took (``.run/test-durations.json``, merged with what earlier runs
recorded); the next collection puts the files in that order, longest first,
files never timed before all of them, and a file's own tests keep their order.
pytest-xdist hands out whole files in collection order (``--dist loadfile
--no-loadscope-reorder``, as a full ``trading test`` runs), so a long file,
often one that waits on a server or a deployment, no longer starts last and
keeps one worker busy while the others have nothing left to do.
"""

import contextlib
import gc
import json
import math
import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from trading_cli.testing import DURATIONS_FILE

if TYPE_CHECKING:
    from trading_api.shared.storage.testing import TemporaryPostgres

SCHEMATHESIS_PLUGIN = "schemathesis.pytest.plugin"
GC_THRESHOLDS = (20_000, 10, 10)
"""The collector's thresholds while tests run (Python's default: 700, 10, 10)."""

gc.disable()  # this plugin is imported as pytest starts (``-p`` in the settings)


def _settle_gc() -> None:
    """Freeze what start-up left alive and turn the collector back on, once."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """Settle the collector once collection is over, before the first test; in
    every process, including one that collects nothing (pytest-xdist's
    controller)."""
    _settle_gc()
    return (yield)


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _read_durations(root: Path) -> dict[str, float]:
    """What earlier runs recorded: each file's seconds, a finite number not
    below zero. Nothing when the file is missing or is not what this plugin
    writes (it is only a hint); an entry that is not such a number is left out."""
    try:
        recorded = json.loads((root / DURATIONS_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {
        file: seconds
        for file, value in recorded.items()
        if isinstance(file, str) and (seconds := _seconds(value)) is not None
    }


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Longest files first, by the recorded durations (see the module's text)."""
    durations = _read_durations(config.rootpath)
    if not durations:
        return
    never_timed = float("inf")
    items.sort(key=lambda item: -durations.get(_file_of(item.nodeid), never_timed))


class _Durations:
    """Sums the seconds of every test phase per file, in the process that
    reports the results (pytest-xdist's controller, or the only process), and
    writes them when the session ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[_file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self) -> None:
        if not self.seconds:
            return
        merged = {**_read_durations(self.root), **self.seconds}
        path = self.root / DURATIONS_FILE
        text = json.dumps(
            {file: round(seconds, 2) for file, seconds in sorted(merged.items())},
            indent=1,
        )
        # A hint, never worth failing a run for: a read-only checkout keeps none.
        with contextlib.suppress(OSError):
            path.parent.mkdir(exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}")
            partial.write_text(text + "\n")
            partial.replace(path)


def pytest_configure(config: pytest.Config) -> None:
    """Record durations where results are reported: not in an xdist worker."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Durations(config.rootpath), "trading-durations")


def _needs_schemathesis(collector: pytest.Collector) -> bool:
    if "schemathesis" in sys.modules:
        return True
    if not isinstance(collector, pytest.Module):
        return False
    try:
        return b"schemathesis" in Path(collector.path).read_bytes()
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_collectstart(collector: pytest.Collector) -> None:
    """Register schemathesis's plugin before a file that uses it is collected."""
    manager = collector.config.pluginmanager
    loaded = sys.modules.get(SCHEMATHESIS_PLUGIN)
    if loaded is not None and manager.is_registered(loaded):
        return  # loaded at start after all (``-p schemathesis``)
    if _needs_schemathesis(collector):
        manager.import_plugin(SCHEMATHESIS_PLUGIN)


@pytest.fixture(scope="session")
def postgres() -> Iterator["TemporaryPostgres | None"]:
    """A throwaway PostgreSQL cluster on a free loopback port, started once per
    test process: the storage, access and module tests all make their databases
    in it (``cluster.new_database()``), so a process starts one cluster, not one
    per suite. None when the developer opted out (``TRADING_TEST_SKIP_POSTGRES=1``);
    otherwise a missing PostgreSQL fails the test that asked for it."""
    from trading_api.shared.storage.testing import (
        PostgresUnavailableError,
        TemporaryPostgres,
        skip_requested,
    )

    try:
        cluster = TemporaryPostgres()
    except PostgresUnavailableError as exc:
        if skip_requested():
            yield None
            return
        pytest.fail(str(exc))
    with cluster:
        yield cluster
