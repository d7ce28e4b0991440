"""``deploy.yaml``: the topology of a multi-process deployment, validated.

Every error is one line that names the field and says the fix, and nothing is
started when the file is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_api.conventions import ALWAYS_ENABLED  # noqa: TID253 (standard library only)
from trading_cli.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

DEFAULT_CONFIG = "deploy.yaml"
REQUIRED_MODULE = ALWAYS_ENABLED
RESERVED_SERVER_NAMES = frozenset({"nginx", "supervisord"})
_SERVER_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MAX_SERVER_NAME = 40
"""Server names become program names, log file names and URL-free labels."""


@dataclass(frozen=True)
class NginxSettings:
    """The gateway: the port it listens on and its worker settings."""

    port: int
    worker_processes: int | str
    worker_connections: int


@dataclass(frozen=True)
class ServerSettings:
    """One server: ``instances`` uvicorn processes on ``port``, ``port + 1``, ..."""

    name: str
    port: int
    instances: int
    modules: tuple[str, ...]

    @property
    def ports(self) -> list[int]:
        """The port of each instance."""
        return [self.port + i for i in range(self.instances)]


@dataclass(frozen=True)
class DeployConfig:
    """A validated ``deploy.yaml``."""

    api_base_url: str
    nginx: NginxSettings
    servers: tuple[ServerSettings, ...]

    @property
    def served_modules(self) -> list[str]:
        """Every module some server serves."""
        return [name for server in self.servers for name in server.modules]

    def server_of(self, module: str) -> ServerSettings:
        """The server that serves ``module``."""
        return next(s for s in self.servers if module in s.modules)


def load_config(
    path: Path,
    known_modules: Sequence[str],
    *,
    stateful_modules: Sequence[str] = (),
    on_sqlite: bool = False,
) -> DeployConfig:
    """Read and validate ``path`` against the project's ``known_modules``.

    ``stateful_modules`` store tables; ``on_sqlite`` says the database is SQLite,
    where such a module cannot run as several instances.

    Raises:
        UsageError: the file is missing, not YAML, or invalid; the message names
            the field and the fix.
    """
    from trading_cli.yaml_file import load_yaml_file

    if not path.exists():
        raise UsageError(
            f"no deployment config at {path}; write one (see the README's "
            "'Multi-process deployment') or pass --config FILE"
        )
    raw = load_yaml_file(path, label=path.name)
    return parse_config(
        raw,
        known_modules,
        source=path.name,
        stateful_modules=stateful_modules,
        on_sqlite=on_sqlite,
    )


def parse_config(
    raw: Any,
    known_modules: Sequence[str],
    *,
    source: str = DEFAULT_CONFIG,
    stateful_modules: Sequence[str] = (),
    on_sqlite: bool = False,
) -> DeployConfig:
    """Validate an already parsed document (see :func:`load_config`)."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise UsageError(
            f"{source} must be a mapping with api_base_url, nginx and servers"
        )
    try:
        model = _schema().model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{source}: {_describe(exc)}") from None
    config = _to_config(model)
    problem = _topology_problem(config, known_modules) or (
        _storage_problem(config, stateful_modules) if on_sqlite else None
    )
    if problem:
        raise UsageError(f"{source}: {problem}")
    return config


def unserved_modules(config: DeployConfig, known_modules: Sequence[str]) -> list[str]:
    """Known modules no server serves: their URLs answer 404 at the gateway."""
    served = set(config.served_modules)
    return [name for name in known_modules if name not in served]


def _topology_problem(config: DeployConfig, known: Sequence[str]) -> str | None:
    return (
        _server_name_problem(config)
        or _module_problem(config, known)
        or _port_problem(config)
        or _base_url_problem(config)
    )


def _storage_problem(config: DeployConfig, stateful: Sequence[str]) -> str | None:
    for server in config.servers:
        shared = [name for name in server.modules if name in stateful]
        if server.instances > 1 and shared:
            return (
                f"servers.{server.name}.instances: module {shared[0]!r} stores its "
                f"state in SQL, and {server.instances} instances cannot share the "
                "embedded SQLite database; set instances: 1, or set DATABASE_URL "
                "to a PostgreSQL database (postgresql://user:password@host/db)"
            )
    return None


def _server_name_problem(config: DeployConfig) -> str | None:
    for server in config.servers:
        shown = server.name if len(server.name) <= 40 else server.name[:37] + "..."
        if len(server.name) > MAX_SERVER_NAME:
            return (
                f"servers.{shown}: a server name has at most {MAX_SERVER_NAME} "
                f"characters (this one has {len(server.name)}); shorten it"
            )
        if not _SERVER_NAME.fullmatch(server.name):
            return (
                f"servers.{shown!r}: a server name is kebab-case "
                "(lowercase letters, digits, single hyphens); rename it"
            )
        if server.name in RESERVED_SERVER_NAMES:
            return (
                f"servers.{server.name}: {server.name!r} names a program the "
                "deployment runs itself; rename the server"
            )
    return None


def _module_problem(config: DeployConfig, known: Sequence[str]) -> str | None:
    owner: dict[str, str] = {}
    for server in config.servers:
        for module in server.modules:
            where = f"servers.{server.name}.modules"
            if module not in known:
                return (
                    f"{where}: unknown module {_shown(module)}; known modules: "
                    f"{', '.join(known)}"
                )
            if module in owner:
                return (
                    f"{where}: module {module!r} is also in servers."
                    f"{owner[module]}.modules; a module runs in one server, "
                    "remove it from one of them"
                )
            owner[module] = server.name
    if REQUIRED_MODULE not in owner:
        first = config.servers[0].name
        return (
            f"servers: no server serves {REQUIRED_MODULE!r} (the health checks go "
            f"through /api/v1/{REQUIRED_MODULE}/health); add it to servers."
            f"{first}.modules"
        )
    return None


def _port_problem(config: DeployConfig) -> str | None:
    taken: dict[int, str] = {config.nginx.port: "nginx.port"}
    for server in config.servers:
        if server.ports[-1] > 65535:
            return (
                f"servers.{server.name}: instances use ports {server.port}-"
                f"{server.ports[-1]}, past 65535; lower port or instances"
            )
        for index, port in enumerate(server.ports):
            field = f"servers.{server.name}.port"
            label = field if index == 0 else f"{field} (+{index}, instance {index})"
            if port in taken:
                return (
                    f"{label}: port {port} clashes with {taken[port]}; "
                    "instances use port, port+1, ...: pick ports that do not overlap"
                )
            taken[port] = label
    return None


def _base_url_problem(config: DeployConfig) -> str | None:
    from urllib.parse import urlsplit

    url = urlsplit(config.api_base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        return (
            f"api_base_url: {config.api_base_url!r} is not an http(s) URL; write "
            f"it like http://127.0.0.1:{config.nginx.port}"
        )
    local = url.hostname in ("127.0.0.1", "localhost", "::1")
    port = url.port or (443 if url.scheme == "https" else 80)
    if local and port != config.nginx.port:
        return (
            f"api_base_url: {config.api_base_url} points at port {port} of this "
            f"machine but nginx.port is {config.nginx.port}; make them agree"
        )
    return None


def _to_config(model: Any) -> DeployConfig:
    nginx = model.nginx
    port = nginx.port
    return DeployConfig(
        api_base_url=(model.api_base_url or f"http://127.0.0.1:{port}").rstrip("/"),
        nginx=NginxSettings(
            port=port,
            worker_processes=nginx.worker_processes,
            worker_connections=nginx.worker_connections,
        ),
        servers=tuple(
            ServerSettings(
                name=name,
                port=server.port,
                instances=server.instances,
                modules=tuple(dict.fromkeys(server.modules)),
            )
            for name, server in model.servers.items()
        ),
    )


_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it (a typo?)",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "int_from_float": "use a whole number",
    "string_type": "use a text value",
    "list_type": "use a list, e.g. [core, broker]",
    "dict_type": "use a mapping",
    "model_type": "use a mapping",
    "too_short": "add at least one entry",
    "literal_error": "use a whole number or 'auto'",
}


def _describe(exc: Any) -> str:
    errors = exc.errors()
    fields = list(dict.fromkeys(_field(error["loc"]) for error in errors))
    first = errors[0]
    field = fields[0]
    kind = first["type"]
    value = first.get("input")
    fix = _FIXES.get(kind)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than"):
        fix = f"use a value {first['msg'].split('be ', 1)[-1]}"
    if field == "nginx.worker_processes":
        fix = "use a whole number from 1 to 64, or 'auto'"
    got = (
        ""
        if kind in ("missing",) or isinstance(value, dict)
        else f" (got {_shown(value)})"
    )
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    detail = first["msg"][0].lower() + first["msg"][1:]
    return f"{field}: {detail}{got}; {fix or 'fix it'}{more}"


def _shown(value: object) -> str:
    """``repr(value)``, cut to fit in a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(loc: Sequence[int | str]) -> str:
    parts = [
        str(part) if len(str(part)) <= 40 else str(part)[:37] + "..." for part in loc
    ]
    if parts[:2] == ["nginx", "worker_processes"]:
        parts = parts[:2]  # drop the union branch pydantic names ("int", ...)
    return ".".join(parts) or "(top)"


@cache
def _schema() -> type[BaseModel]:
    # Built on first use so that importing this module does not import pydantic.
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field

    class _Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

    class Nginx(_Strict):
        port: int = Field(8000, ge=1, le=65535)
        worker_processes: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = 1
        worker_connections: int = Field(1024, ge=16, le=65536)

    class Server(_Strict):
        port: int = Field(ge=1, le=65535)
        instances: int = Field(1, ge=1, le=32)
        modules: list[str] = Field(min_length=1)

    class Deploy(_Strict):
        api_base_url: str | None = None
        nginx: Nginx = Field(default_factory=Nginx)
        servers: dict[str, Server] = Field(min_length=1)

    return Deploy
