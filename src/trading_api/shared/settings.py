"""Runtime settings, read from the environment in this one place."""

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What a server process is configured to do.

    Attributes:
        enabled_modules: Module names to serve (``core`` is added anyway), or None
            for every discovered module. From ``ENABLED_MODULES``, a comma list.
    """

    enabled_modules: list[str] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read settings from ``environ``; unset or empty means the defaults."""
        raw = environ.get("ENABLED_MODULES", "").strip()
        modules = [name.strip() for name in raw.split(",") if name.strip()]
        return cls(enabled_modules=modules or None)
