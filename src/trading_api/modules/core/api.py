"""Core REST routes: ``/health``, ``/versions``, ``/modules``.

All public: load balancers, monitors and front-ends read them before anyone
signs in, and they name nothing that belongs to a user.
"""

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from trading_api.models.core import HealthStatus, MountedModule, VersionInfo
from trading_api.shared.auth import public
from trading_api.shared.module_interface import ModuleInfo

from .service import CoreService


def _enabled_modules(request: Request) -> Sequence[ModuleInfo]:
    # The factory stores the list of mounted modules on every module app.
    modules: Sequence[ModuleInfo] = getattr(request.app.state, "modules", [])
    return modules


def create_router(service: CoreService) -> APIRouter:
    """The core routes, bound to ``service``."""
    router = APIRouter()

    @router.get(
        "/health",
        response_model=HealthStatus,
        summary="Health check",
        responses={
            503: {
                "model": HealthStatus,
                "description": "A module's background job keeps failing.",
            }
        },
    )
    @public
    async def health(request: Request) -> JSONResponse:
        """200 while every module is healthy, 503 naming the failing jobs."""
        status = service.health(_enabled_modules(request))
        code = 200 if status.status == "ok" else 503
        return JSONResponse(status.model_dump(mode="json"), status_code=code)

    @router.get("/versions", response_model=VersionInfo, summary="Versions in use")
    @public
    async def versions(request: Request) -> VersionInfo:
        """The API's URL version, the server package's, Python's and each module's."""
        return service.versions(_enabled_modules(request))

    @router.get(
        "/modules", response_model=list[MountedModule], summary="Enabled modules"
    )
    @public
    async def modules(request: Request) -> list[MountedModule]:
        """The modules this process serves: name, mount path, version, WebSocket."""
        return service.modules(_enabled_modules(request))

    return router
