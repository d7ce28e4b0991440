"""Terminal output: rich on a terminal, plain text for pipes, logs and NO_COLOR."""

import json
import os
import sys
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def is_interactive() -> bool:
    """Whether stdout is a terminal that may get colour and live status."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


@cache
def console() -> "Console":
    """The stdout console (rich is imported on first use, not at CLI start)."""
    from rich.console import Console

    return Console(no_color="NO_COLOR" in os.environ, highlight=False)


@cache
def error_console() -> "Console":
    """The stderr console."""
    from rich.console import Console

    return Console(stderr=True, no_color="NO_COLOR" in os.environ, highlight=False)


def print_json(document: Any) -> None:
    """Print a stable JSON document for scripts (sorted keys, no colour)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    """Print rows as a table: boxed on a terminal, tab-separated otherwise."""
    if not is_interactive():
        for row in [columns, *rows]:
            sys.stdout.write("\t".join(row) + "\n")
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console().print(table)


def print_error(message: str) -> None:
    """One red line on stderr."""
    if "NO_COLOR" in os.environ or not sys.stderr.isatty():
        sys.stderr.write(f"error: {message}\n")
    else:
        error_console().print(
            f"[bold red]error:[/] {message}", markup=True, soft_wrap=True
        )
