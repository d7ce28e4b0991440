"""Runtime settings, read from the environment in this one place.

Every variable is optional; unset or empty means the default.

================================  ==================================================
``ENABLED_MODULES``               comma list of modules to serve (default: all)
``CORS_ORIGINS``                  comma list of browser origins allowed (``*``: any;
                                  unset: the local dev servers; empty: none)
``MAX_BODY_BYTES``                largest REST request body; larger is a 413
                                  (1048576)
``WS_MAX_FRAME_BYTES``            largest incoming WS frame (65536)
``WS_MAX_NESTING_DEPTH``          deepest nesting in an incoming WS frame (32)
``WS_MAX_TOPICS``                 topics per WS connection (128)
``WS_QUEUE_SOFT_MESSAGES``        queued messages from which updates conflate (256)
``WS_QUEUE_HARD_MESSAGES``        queued messages past which 4008 closes (4096)
``WS_QUEUE_SOFT_BYTES``           queued bytes from which updates conflate (1 MiB)
``WS_QUEUE_HARD_BYTES``           queued bytes past which 4008 closes (4 MiB)
``JOB_FAILURES_BEFORE_UNHEALTHY``  consecutive job failures that make a module
                                  unhealthy (3)
``DATABASE_URL``                  where modules store their tables (SQLite or
                                  PostgreSQL; default: ``.run/trading.db``)
``AUTH_*``                        how bearer tokens are verified (see
                                  :mod:`trading_api.shared.auth._settings`)
================================  ==================================================
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from trading_api.shared.auth._settings import AuthSettings
from trading_api.shared.errors import EXIT_USAGE, TradingError
from trading_api.shared.jobs import JobPolicy
from trading_api.shared.ws.limits import WsLimits

DEFAULT_CORS_ORIGINS = tuple(
    f"http://{host}:{port}"
    for host in ("localhost", "127.0.0.1")
    for port in (3000, 5173, 8080)
)
"""Local front-end dev servers: Create React App/Next (3000), Vite (5173), 8080."""

DEFAULT_MAX_BODY_BYTES = 1_048_576
"""1 MiB: far above any body the API takes (nginx's default too)."""

_WS_LIMITS = {
    "WS_MAX_FRAME_BYTES": "max_frame_bytes",
    "WS_MAX_NESTING_DEPTH": "max_nesting_depth",
    "WS_MAX_TOPICS": "max_topics_per_connection",
    "WS_QUEUE_SOFT_MESSAGES": "send_queue_soft_limit",
    "WS_QUEUE_HARD_MESSAGES": "send_queue_hard_limit",
    "WS_QUEUE_SOFT_BYTES": "send_queue_soft_bytes",
    "WS_QUEUE_HARD_BYTES": "send_queue_hard_bytes",
}


class SettingsError(TradingError, ValueError):
    """An environment variable holds a value the server cannot use."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Settings:
    """What a server process is configured to do.

    Attributes:
        enabled_modules: Module names to serve (``core`` is added anyway), or None
            for every discovered module. From ``ENABLED_MODULES``, a comma list.
        cors_origins: Browser origins allowed to call the API (``*`` for any).
            From ``CORS_ORIGINS``, a comma list; unset means the local dev
            servers of :data:`DEFAULT_CORS_ORIGINS`, empty means none.
        max_body_bytes: The largest REST request body read, from
            ``MAX_BODY_BYTES``; a larger one is answered 413 unread.
        ws_limits: Limits of every module's WebSocket connections.
        job_policy: When failing background jobs make a module unhealthy.
        database_url: Where modules store their tables, from ``DATABASE_URL``; None
            for the embedded SQLite file ``.run/trading.db``.
        auth: How bearer tokens are verified, from the ``AUTH_*`` variables.
    """

    enabled_modules: list[str] | None = None
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ws_limits: WsLimits = field(default_factory=WsLimits)
    job_policy: JobPolicy = field(default_factory=JobPolicy)
    database_url: str | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read settings from ``environ``; unset or empty means the defaults.

        Raises:
            SettingsError: a variable is not a whole number, or the limits do
                not fit together; the message names the variable.
        """
        raw = environ.get("ENABLED_MODULES", "").strip()
        modules = [name.strip() for name in raw.split(",") if name.strip()]
        limits = {
            attr: _whole_number(environ, var)
            for var, attr in _WS_LIMITS.items()
            if environ.get(var, "").strip()
        }
        try:
            ws_limits = WsLimits(**limits)
        except ValueError as exc:
            raise SettingsError(f"WS_* environment variables: {exc}") from None
        policy = JobPolicy()
        if environ.get("JOB_FAILURES_BEFORE_UNHEALTHY", "").strip():
            failures = _whole_number(environ, "JOB_FAILURES_BEFORE_UNHEALTHY")
            try:
                policy = JobPolicy(failures_before_unhealthy=failures)
            except ValueError as exc:
                raise SettingsError(f"JOB_FAILURES_BEFORE_UNHEALTHY: {exc}") from None
        origins = environ.get("CORS_ORIGINS")
        max_body = DEFAULT_MAX_BODY_BYTES
        if environ.get("MAX_BODY_BYTES", "").strip():
            max_body = _whole_number(environ, "MAX_BODY_BYTES")
            if max_body < 1:
                message = f"MAX_BODY_BYTES must be at least 1, got {max_body}"
                raise SettingsError(message)
        return cls(
            enabled_modules=modules or None,
            cors_origins=DEFAULT_CORS_ORIGINS
            if origins is None
            else tuple(o.strip() for o in origins.split(",") if o.strip()),
            max_body_bytes=max_body,
            ws_limits=ws_limits,
            job_policy=policy,
            database_url=environ.get("DATABASE_URL", "").strip() or None,
            auth=AuthSettings.from_env(environ),
        )


def _whole_number(environ: Mapping[str, str], name: str) -> int:
    value = environ[name].strip()
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
