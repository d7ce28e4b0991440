"""Rebuilding specs and clients after a reload, off the critical path.

Runs in a process forked by the zygote once the new server is up, so it imports
the project's code as it is on disk now (the long-lived ``trading dev`` process
never imports it). Everything it writes lands in ``*_generated/`` folders, which
the watcher ignores, and only when the content changed.
"""

import os
import signal
import socket
import time
from collections.abc import Sequence

from trading_cli.dev import channel
from trading_cli.dev.failure import Failure, describe_failure
from trading_cli.errors import CliError
from trading_cli.project import Project


def build_artifacts(project: Project, modules: Sequence[str] | None) -> list[str]:
    """Run ``trading specs build`` and ``trading clients build`` for ``modules``
    (None: all), holding the project lock; return the files written or removed,
    relative to the root."""
    from trading_cli.build.clients import build_clients
    from trading_cli.build.specs import build_specs
    from trading_cli.lock import project_lock

    with project_lock(project.root, "trading dev (specs and clients build)"):
        result = build_specs(project, modules)
        result.merge(build_clients(project, modules))
    changed = sorted({*result.written, *result.removed})
    return [str(path.relative_to(project.root)) for path in changed]


def build_order(
    project: Project, channel_end: socket.socket, order: channel.Build
) -> None:
    """Carry out a ``Build`` order in a forked process; report ``Built``.

    A new save stops a build with SIGTERM: it ends by unwinding, so the project
    lock is released in order, not left for the next writer to take over.
    """
    signal.signal(signal.SIGTERM, _stop_building)
    os.nice(10)  # servers first: a build must not slow a reload down
    start = time.perf_counter()
    written: list[str] = []
    failure = None
    try:
        written = build_artifacts(project, order.modules)
    except CliError as exc:
        failure = Failure(summary=str(exc), block="")
    except Exception as exc:
        from trading_api.shared.errors import TradingError

        if isinstance(exc, TradingError):
            failure = Failure(summary=str(exc), block="")
        else:
            failure = describe_failure(exc, project.root)
    channel.send(
        channel_end,
        channel.Built(
            id=order.id,
            modules=order.modules,
            written=written,
            failure=failure,
            seconds=time.perf_counter() - start,
        ),
    )


def _stop_building(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
