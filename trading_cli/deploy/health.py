"""Health probes: one short HTTP GET on loopback, no proxy settings involved."""

from __future__ import annotations

from dataclasses import dataclass

from trading_api.conventions import (  # noqa: TID253 (standard library only)
    ALWAYS_ENABLED,
    OPENAPI_PATH,
    mount_path,
)
from trading_cli.deploy.topology import NGINX, Program

HEALTH_PATH = f"{mount_path(ALWAYS_ENABLED)}/health"
DOCS_PATH = OPENAPI_PATH


@dataclass(frozen=True)
class Probe:
    """One GET and what it got."""

    port: int
    path: str
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200

    def describe(self) -> str:
        """``ok``, or what went wrong in a few words."""
        if self.ok:
            return "ok"
        if self.status is not None:
            return f"{self.path} answered {self.status}"
        return f"{self.path}: {self.error}"


def probe(port: int, path: str, timeout: float = 2.0) -> Probe:
    """GET ``http://127.0.0.1:<port><path>``."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return Probe(port, path, response.status)
    except OSError as exc:
        return Probe(port, path, None, exc.strerror or type(exc).__name__)
    except http.client.HTTPException as exc:
        return Probe(port, path, None, type(exc).__name__)
    finally:
        connection.close()


def probe_program(program: Program, timeout: float = 2.0) -> Probe:
    """A program's own health: a server instance's ``/api/v1/core/health`` (every
    server mounts core); for nginx, a document it serves from disk, so its health
    does not depend on any server's."""
    path = DOCS_PATH if program.server == NGINX else HEALTH_PATH
    return probe(program.port, path, timeout)


def gateway_paths(modules: list[str]) -> list[str]:
    """What ``trading up`` checks through the gateway before it reports success:
    core's health, one cheap GET per other module, and the merged docs."""
    return [
        HEALTH_PATH,
        *(
            f"{mount_path(name)}/openapi.json"
            for name in modules
            if name != ALWAYS_ENABLED
        ),
        DOCS_PATH,
    ]
