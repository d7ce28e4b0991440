"""The project's pytest plugin: schemathesis's plugin, loaded only when needed.

schemathesis registers a pytest plugin that imports schemathesis and hypothesis
in every pytest process, about a second of CPU before the first test, although
only the files with schemathesis tests need it. The project's pytest settings
turn automatic plugin loading off (``--disable-plugin-autoload``, naming the
plugins they use) and load this one instead, which registers schemathesis's
plugin before the first test file that names ``schemathesis`` is imported (or
as soon as something imported schemathesis). Its hooks then run exactly as if
it had been loaded at start: pytest replays ``pytest_configure`` for a plugin
registered late.
"""

import sys
from pathlib import Path

import pytest

SCHEMATHESIS_PLUGIN = "schemathesis.pytest.plugin"


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
