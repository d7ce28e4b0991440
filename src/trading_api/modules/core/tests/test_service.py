"""The core service on its own: health, versions and the module list."""

import platform

from trading_api import __version__
from trading_api.modules.core.service import CoreService
from trading_api.shared.module_interface import ModuleInfo

MODULES = [
    ModuleInfo("core", "/api/v1/core", "1.0.0", has_websocket=False),
    ModuleInfo("broker", "/api/v1/broker", "2.1.0", has_websocket=True),
]


def test_health_is_ok_with_a_growing_uptime() -> None:
    service = CoreService()
    first = service.health()
    second = service.health()
    assert first.status == "ok"
    assert 0 <= first.uptime_seconds <= second.uptime_seconds


def test_versions_name_the_api_server_python_and_each_module() -> None:
    versions = CoreService().versions(MODULES)
    assert versions.api_version == "v1"
    assert versions.server_version == __version__
    assert versions.python_version == platform.python_version()
    assert versions.modules == {"core": "1.0.0", "broker": "2.1.0"}


def test_modules_lists_mount_paths_and_websocket_support_in_order() -> None:
    listed = CoreService().modules(MODULES)
    assert [(m.name, m.mount_path, m.websocket) for m in listed] == [
        ("core", "/api/v1/core", False),
        ("broker", "/api/v1/broker", True),
    ]
