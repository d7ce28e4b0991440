"""Core service: process health and version facts. No web framework here."""

import platform
import time
from collections.abc import Sequence

from trading_api import __version__
from trading_api.models.core import HealthStatus, MountedModule, VersionInfo
from trading_api.shared.module_interface import API_PREFIX, ModuleInfo


class CoreService:
    """Answers what every deployment needs: is it up, what runs, which versions."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def health(self, modules: Sequence[ModuleInfo] = ()) -> HealthStatus:
        """Report that the process is up, with its uptime and each module's health.

        Unhealthy when one module is: one of its background jobs keeps failing.
        """
        healths = {module.name: module.health() for module in modules}
        bad = any(health.status != "ok" for health in healths.values())
        return HealthStatus(
            status="unhealthy" if bad else "ok",
            uptime_seconds=round(time.monotonic() - self._started, 3),
            modules=healths,
        )

    def versions(self, modules: Sequence[ModuleInfo]) -> VersionInfo:
        """Versions of the API, the server and each enabled module."""
        return VersionInfo(
            api_version=API_PREFIX.rsplit("/", 1)[-1],
            server_version=__version__,
            python_version=platform.python_version(),
            modules={module.name: module.version for module in modules},
        )

    def modules(self, modules: Sequence[ModuleInfo]) -> list[MountedModule]:
        """The modules enabled in this process, with their mount paths."""
        return [
            MountedModule(
                name=module.name,
                mount_path=module.mount_path,
                version=module.version,
                websocket=module.has_websocket,
            )
            for module in modules
        ]
