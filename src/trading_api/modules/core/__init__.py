"""The core module: health, versions and the list of enabled modules.

Always enabled; every deployment's health checks go through it.
"""

from collections.abc import Sequence

from fastapi import APIRouter

from trading_api.shared.module_interface import Module

from .api import create_router
from .service import CoreService

__all__ = ["CoreModule"]


class CoreModule(Module):
    """Health, versions and the module list, at ``/api/v1/core``."""

    name = "core"
    description = "Server health, versions and the modules this process serves."

    def __init__(self) -> None:
        self._service = CoreService()
        self._routers = [create_router(self._service)]

    @property
    def service(self) -> CoreService:
        """The core service."""
        return self._service

    @property
    def api_routers(self) -> Sequence[APIRouter]:
        """The core REST routes."""
        return self._routers
