"""A validated config resolved into what runs: programs, routes, run folder."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_api.conventions import RUN_DIR  # noqa: TID253 (standard library only)
from trading_cli.deploy.config import DeployConfig

RUN_SUBDIR = Path(RUN_DIR) / "deploy"
NGINX = "nginx"
# AF_UNIX socket paths are limited to 108 bytes on Linux; keep a margin.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Program:
    """One process supervisord runs: a server instance or nginx.

    Attributes:
        name: ``<server>-<port>`` for a server instance, ``nginx`` for the gateway.
        server: The server it belongs to (``nginx`` for the gateway).
        port: The port it listens on.
        modules: The modules it serves (empty for nginx).
    """

    name: str
    server: str
    port: int
    modules: tuple[str, ...] = ()

    @property
    def rpc_name(self) -> str:
        """The name supervisord's XML-RPC interface knows it by: ``group:name``."""
        return f"{self.server}:{self.name}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {
            "name": self.name,
            "server": self.server,
            "port": self.port,
            "modules": list(self.modules),
        }


@dataclass(frozen=True)
class RunDir:
    """The git-ignored folder a deployment keeps its configs, logs and state in:
    ``.run/deploy/`` beside the config file."""

    root: Path

    @classmethod
    def for_config(cls, config_path: Path) -> RunDir:
        """The run folder of the deployment described by ``config_path``."""
        return cls(config_path.resolve().parent / RUN_SUBDIR)

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def supervisord_conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def state(self) -> Path:
        """What ``trading up`` started, for ``status``, ``logs`` and ``down``."""
        return self.root / "state.json"

    @property
    def docs(self) -> Path:
        """The merged OpenAPI and AsyncAPI documents nginx serves."""
        return self.root / "docs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def nginx_prefix(self) -> Path:
        """nginx's prefix: its pid file and temporary folders."""
        return self.root / "nginx"

    @property
    def pidfile(self) -> Path:
        return self.root / "supervisord.pid"

    @property
    def supervisord_err(self) -> Path:
        """supervisord's own stderr: start-up errors before its log is open."""
        return self.logs / "supervisord.err"

    @property
    def socket(self) -> Path:
        """supervisord's XML-RPC socket; in the temp folder when the run folder's
        path is too long for a unix socket."""
        path = self.root / "supervisor.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"trading-deploy-{digest}.sock"

    def log_of(self, program: str) -> Path:
        """The log file of one program (stdout and stderr together)."""
        return self.logs / f"{program}.log"


@dataclass(frozen=True)
class Topology:
    """What a deployment runs and routes.

    Attributes:
        config: The validated ``deploy.yaml``.
        ws_modules: Served modules that have WebSocket routes (from the modules
            themselves, never listed by hand).
    """

    config: DeployConfig
    ws_modules: tuple[str, ...]

    @property
    def programs(self) -> list[Program]:
        """Every server instance, then nginx."""
        programs = [
            Program(f"{server.name}-{port}", server.name, port, server.modules)
            for server in self.config.servers
            for port in server.ports
        ]
        return [*programs, Program(NGINX, NGINX, self.config.nginx.port)]

    @property
    def docs_server(self) -> str:
        """The server that serves ``core``, and with it the Swagger UI page."""
        from trading_api.conventions import ALWAYS_ENABLED

        return self.config.server_of(ALWAYS_ENABLED).name

    def state(self, config_path: Path, *, database: str) -> dict[str, Any]:
        """The record ``status``, ``logs`` and ``down`` read back; ``database``
        is the servers' ``DATABASE_URL``, password hidden."""
        return {
            "api_base_url": self.config.api_base_url,
            "config": str(config_path.resolve()),
            "database": database,
            "nginx_port": self.config.nginx.port,
            "programs": [program.as_dict() for program in self.programs],
            "servers": [server.name for server in self.config.servers],
        }


@dataclass(frozen=True)
class State:
    """The deployment ``trading up`` last started in a run folder."""

    api_base_url: str
    nginx_port: int
    servers: list[str]
    programs: list[Program]
    database: str | None = None
    """The servers' database, password hidden (None in older records)."""

    @classmethod
    def read(cls, run: RunDir) -> State | None:
        """The recorded state, or None when nothing was ever started there."""
        try:
            raw = json.loads(run.state.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return cls(
            api_base_url=raw["api_base_url"],
            nginx_port=raw["nginx_port"],
            servers=list(raw["servers"]),
            programs=[
                Program(p["name"], p["server"], p["port"], tuple(p["modules"]))
                for p in raw["programs"]
            ],
            database=raw.get("database"),
        )

    def program(self, name: str) -> Program | None:
        """The program called ``name``, if any."""
        return next((p for p in self.programs if p.name == name), None)
