"""Runtime settings, read from the environment in this one place."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_CORS_ORIGINS = tuple(
    f"http://{host}:{port}"
    for host in ("localhost", "127.0.0.1")
    for port in (3000, 5173, 8080)
)
"""Local front-end dev servers: Create React App/Next (3000), Vite (5173), 8080."""


@dataclass(frozen=True)
class Settings:
    """What a server process is configured to do.

    Attributes:
        enabled_modules: Module names to serve (``core`` is added anyway), or None
            for every discovered module. From ``ENABLED_MODULES``, a comma list.
        cors_origins: Browser origins allowed to call the API (``*`` for any).
            From ``CORS_ORIGINS``, a comma list; unset means the local dev
            servers of :data:`DEFAULT_CORS_ORIGINS`, empty means none.
    """

    enabled_modules: list[str] | None = None
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read settings from ``environ``; unset or empty means the defaults."""
        raw = environ.get("ENABLED_MODULES", "").strip()
        modules = [name.strip() for name in raw.split(",") if name.strip()]
        origins = environ.get("CORS_ORIGINS")
        return cls(
            enabled_modules=modules or None,
            cors_origins=DEFAULT_CORS_ORIGINS
            if origins is None
            else tuple(o.strip() for o in origins.split(",") if o.strip()),
        )
