"""Models of the core module: health, versions, the module list."""

from typing import Literal

from pydantic import BaseModel, Field

from trading_api.shared.jobs import ModuleHealth


class HealthStatus(BaseModel):
    """The server is up; ``unhealthy`` while a module's background job keeps failing."""

    status: Literal["ok", "unhealthy"] = "ok"
    uptime_seconds: float = Field(description="Seconds since this process started.")
    modules: dict[str, ModuleHealth] = Field(
        default_factory=dict,
        description="Each enabled module's health, naming its failing jobs.",
    )


class VersionInfo(BaseModel):
    """Versions of the API, the server package and the Python running it."""

    api_version: str = Field(description="URL version of the API, e.g. 'v1'.")
    server_version: str
    python_version: str
    modules: dict[str, str] = Field(description="Version of each enabled module.")


class MountedModule(BaseModel):
    """One module enabled in this process."""

    name: str
    mount_path: str
    version: str
    websocket: bool = Field(description="Whether the module serves <mount>/ws.")
