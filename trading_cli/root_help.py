"""``trading --help`` without typer: the root's help laid out as typer lays it.

Typer (through its bundled click) would import itself and turn the root's
signature into click objects only to print a fixed text; this module writes the
same text from :data:`trading_cli.main.COMMANDS` and
:data:`trading_cli.main.ROOT_OPTIONS` with the same layout rules (width from
the terminal, capped at 80 columns; two-column definition lists; short help
cut at the first sentence that fits). A test compares it with typer's own
output at many widths.
"""

import os
import sys
import textwrap
from collections.abc import Sequence

from trading_cli.main import COMMANDS, HELP, PROG, ROOT_OPTIONS

USAGE_EXIT = 2
"""What typer (click) exits with on a usage error, bare ``trading`` included."""
MAX_WIDTH = 80
COLUMN_MAX = 30
COLUMN_SPACING = 2
INDENT = 2


def root_help(width: int | None = None) -> str:
    """The text of ``trading --help`` (without its final newline) for a terminal
    of ``width`` columns (default: this one's)."""
    if width is None:
        width = max(min(terminal_columns(), MAX_WIDTH) - 2, 50)
    usage = f"Usage: {PROG} "
    lines = [_wrap("[OPTIONS] COMMAND [ARGS]...", width, usage, " " * len(usage))]
    lines += ["", _wrap(HELP, width, " " * INDENT, " " * INDENT)]
    lines += ["", "Options:", *_definitions(ROOT_OPTIONS, width)]
    names_width = max(len(name) for name in COMMANDS)
    limit = width - 6 - names_width
    commands = [
        (name, _short_help(entry.short_help, limit)) for name, entry in COMMANDS.items()
    ]
    lines += ["", "Commands:", *_definitions(commands, width)]
    return "\n".join(lines)


def print_root_help(*, no_args: bool) -> int:
    """Print the root help as typer does; return the exit code.

    With ``--help`` it goes to stdout (exit 0); with no arguments at all, to
    stderr as a usage error (exit 2).
    """
    stream = sys.stderr if no_args else sys.stdout
    stream.write(root_help() + "\n")
    stream.flush()
    return USAGE_EXIT if no_args else 0


def terminal_columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` gives it (``COLUMNS``
    first, then the terminal of stdout, else 80), without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
    return size.columns or 80


def _definitions(rows: Sequence[tuple[str, str]], width: int) -> list[str]:
    first = min(max(len(term) for term, _ in rows), COLUMN_MAX) + COLUMN_SPACING
    text_width = max(width - first - 2, 10)
    out = []
    for term, text in rows:
        wrapped = _wrap(text, text_width).splitlines()
        if len(term) <= first - COLUMN_SPACING:
            head = f"{' ' * INDENT}{term}{' ' * (first - len(term))}"
        else:
            out.append(f"{' ' * INDENT}{term}")
            head = " " * (first + INDENT)
        out.append(head + wrapped[0])
        out += [" " * (first + INDENT) + line for line in wrapped[1:]]
    return out


def _wrap(text: str, width: int, initial: str = "", subsequent: str = "") -> str:
    wrapper = _Wrapper(
        width,
        initial_indent=initial,
        subsequent_indent=subsequent,
        replace_whitespace=False,
    )
    return wrapper.fill(text)


class _Wrapper(textwrap.TextWrapper):
    """Words longer than a line are cut where the line ends (click's rule)."""

    def _handle_long_word(
        self,
        reversed_chunks: list[str],
        cur_line: list[str],
        cur_len: int,
        width: int,
    ) -> None:
        space_left = max(width - cur_len, 1)
        last = reversed_chunks[-1]
        cur_line.append(last[:space_left])
        reversed_chunks[-1] = last[space_left:]


def _short_help(text: str, limit: int) -> str:
    """The first sentence of ``text`` if it fits in ``limit`` characters, else
    as many words as fit, then "..."."""
    words = text.split()
    total = 0
    for index, word in enumerate(words):
        total += len(word) + (index > 0)
        if total > limit:
            break
        if word.endswith("."):
            return " ".join(words[: index + 1])
        if total == limit and index != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += len("...")
    while index > 0:
        total -= len(words[index]) + (index > 0)
        if total <= limit:
            break
        index -= 1
    return " ".join(words[:index]) + "..."
