"""The ``trading`` command: the developer's workbench for the trading backend."""

import gc

GC_THRESHOLDS = (50_000, 20, 20)
"""The garbage collector's thresholds in the CLI's processes (Python's
default: 700, 10, 10)."""


def relax_collector() -> None:
    """Make the garbage collector run less often in this process.

    A command imports typer, most also FastAPI, pydantic and SQLAlchemy: tens of
    thousands of long-lived objects that the default thresholds would have the
    collector walk again and again while they are created (8 % of the CPU of
    `trading specs build --check`). mypy raises its thresholds for the same
    reason. Called first thing by the command and by the processes it starts.
    """
    gc.set_threshold(*GC_THRESHOLDS)
