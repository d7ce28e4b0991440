"""Why the app failed to load, told in a few lines that point at the user's code.

A traceback through the import machinery is long and mostly someone else's code.
``trading dev`` shows the frames in the project's own source, innermost last,
each as ``path:line`` with the line's text, then the exception.
"""

import traceback
from dataclasses import dataclass
from pathlib import Path

MAX_FRAMES = 4
# Frames of the import machinery, shown only when there is nothing else.
_MACHINERY = ("app_factory.py", "shared/module_registry.py")


@dataclass(frozen=True)
class Failure:
    """A load failure.

    Attributes:
        summary: One line: the exception and where it happened.
        block: The exception with the project frames that led to it.
    """

    summary: str
    block: str


def describe_failure(exc: BaseException, root: Path) -> Failure:
    """Describe ``exc``, raised while loading the project at ``root``."""
    inner = _innermost(exc)
    headline = _headline(inner)
    frames = _project_frames(inner, root)
    lines: list[str] = []
    for path, lineno, text, marker in frames:
        lines.append(f"  {path}:{lineno}")
        if text:
            lines.append(f"    {text}")
            if marker:
                lines.append(f"    {marker}")
    if inner is not exc and not frames:
        headline = str(exc)
    lines.append(f"  {headline}")
    where = f" at {frames[-1][0]}:{frames[-1][1]}" if frames else ""
    return Failure(summary=f"{headline}{where}", block="\n".join(lines))


def _innermost(exc: BaseException) -> BaseException:
    """The original error behind re-raises (``raise X from exc``)."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _headline(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg}"
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _project_frames(exc: BaseException, root: Path) -> list[tuple[str, int, str, str]]:
    """(relative path, line, source text, caret line) of each project frame."""
    src = root / "src"
    frames = [
        (_relative(Path(frame.filename), root), frame.lineno or 0, frame.line or "", "")
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).is_relative_to(src)
    ]
    own = [frame for frame in frames if not frame[0].endswith(_MACHINERY)]
    syntax = isinstance(exc, SyntaxError) and bool(exc.filename)
    frames = (own or ([] if syntax else frames))[-MAX_FRAMES:]
    if isinstance(exc, SyntaxError) and exc.filename:
        text = (exc.text or "").rstrip("\n")
        stripped = text.lstrip()
        caret = ""
        if exc.offset and stripped:
            column = exc.offset - 1 - (len(text) - len(stripped))
            caret = " " * max(column, 0) + "^"
        frames.append(
            (_relative(Path(exc.filename), root), exc.lineno or 0, stripped, caret)
        )
    return frames


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
