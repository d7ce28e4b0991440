"""The ``trading`` command: the developer's workbench for the trading backend."""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: it costs the fast help
if TYPE_CHECKING:
    from typing import NoReturn

GC_THRESHOLDS = (50_000, 20, 20)
"""The garbage collector's thresholds in the CLI's processes (Python's
default: 700, 10, 10)."""


def relax_collector() -> None:
    """Make the garbage collector run less often in this process.

    A command imports typer, most also FastAPI, pydantic and SQLAlchemy: tens of
    thousands of long-lived objects that the default thresholds would have the
    collector walk again and again while they are created (8 % of the CPU of
    `trading specs build --check`). mypy raises its thresholds for the same
    reason. Called first thing by the command and by the new-module children
    (not by the dev loop's zygote: the servers it forks keep Python's defaults).
    """
    gc.set_threshold(*GC_THRESHOLDS)


def finish(code: int) -> NoReturn:
    """End this process with ``code`` without the interpreter's tear-down.

    A process that imported the runtime, copier or a validator holds hundreds of
    modules and tens of thousands of objects, which the interpreter would free
    one by one before the process ends: 0.1 to 0.2 s that whoever waits for the
    process (the user, or the command waiting for its child) would wait too.
    The exit handlers still run (``atexit``: logging, temporary files) and the
    standard streams are flushed. Not for a forked process: it would run its
    parent's exit handlers.
    """
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
