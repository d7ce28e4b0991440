"""Reading the programs' log files: the last lines, then new ones as they come."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FOLLOW_INTERVAL = 0.2


@dataclass
class LogFile:
    """One program's log and how far it has been read."""

    program: str
    path: Path
    offset: int = 0
    inode: int = 0
    partial: bytes = field(default=b"")

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines; reading continues from the end."""
        try:
            with self.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                last = deque(handle, maxlen=lines) if lines > 0 else deque()
                self.offset, self.inode = handle.tell(), stat.st_ino
        except FileNotFoundError:
            return []
        return [_text(line) for line in last]

    def new_lines(self) -> list[str]:
        """Complete lines written since the last read; a rotated or truncated file
        is read again from its start."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.offset, self.inode, self.partial = 0, stat.st_ino, b""
        if stat.st_size == self.offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
            self.offset = handle.tell()
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        return [_text(line) for line in complete]


def prefixed(program: str, line: str, width: int) -> str:
    """``datafeed-8002 | line``: the program name padded to ``width``."""
    return f"{program.ljust(width)} | {line}"


def follow(
    files: Sequence[LogFile],
    emit: Callable[[str], None],
    *,
    interval: float = FOLLOW_INTERVAL,
    until: Callable[[], bool] = lambda: False,
) -> None:
    """Emit every new line of ``files``, prefixed, until ``until()`` is true or the
    caller is interrupted (Ctrl-C)."""
    width = max((len(f.program) for f in files), default=0)
    while not until():
        for line in _new_lines(files, width):
            emit(line)
        time.sleep(interval)


def _new_lines(files: Sequence[LogFile], width: int) -> Iterator[str]:
    for log in files:
        for line in log.new_lines():
            yield prefixed(log.program, line, width)


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r\n")
