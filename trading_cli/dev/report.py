"""The lines ``trading dev`` prints: one per reload, build, failure or pause."""

from collections.abc import Sequence
from pathlib import Path

MAX_LISTED = 3


def ms(seconds: float) -> str:
    """``0.0961`` -> ``"96 ms"``."""
    return f"{max(seconds, 0.0) * 1000:.0f} ms"


def listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c (+2 more)``."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} (+{more} more)" if more > 0 else shown


def ready_line(url: str, modules: Sequence[str], seconds: float) -> str:
    """The server is up for the first time."""
    return (
        f"serving {', '.join(modules)} on {url} "
        f"(ready in {ms(seconds)}; Ctrl-C to stop)"
    )


def reload_line(
    files: Sequence[str],
    modules: Sequence[str] | None,
    written: Sequence[str],
    seconds: float,
    path: str,
) -> str:
    """A reload: how fast, by which path (``swap``: one module replaced in the
    running server; ``full``: a new server), what changed, which modules, what
    was regenerated."""
    what = "all modules" if modules is None else ", ".join(modules) or "no module"
    regenerated = f"; regenerated {listing(written)}" if written else ""
    return (
        f"reloaded in {ms(seconds)} ({path}): {listing(files)} -> {what}{regenerated}"
    )


def failure_block(summary_line: str, block: str) -> str:
    """A load failure: the headline, then the frames and the exception."""
    return f"error: {summary_line}\n{block}"


def built_line(
    modules: Sequence[str] | None, written: Sequence[str], seconds: float
) -> str:
    """Specs and clients were rebuilt after a reload."""
    what = "all modules" if modules is None else ", ".join(modules)
    return f"rebuilt specs and clients of {what} in {ms(seconds)}: {listing(written)}"


def build_failed_line(modules: Sequence[str] | None, error: str) -> str:
    """A spec or client build failed; the server keeps serving."""
    what = "all modules" if modules is None else ", ".join(modules)
    return f"error: specs and clients of {what} not rebuilt: {error}"


def loop_line(culprit: Path, reloads: int, window: float) -> str:
    """The loop guard stopped reloading."""
    return (
        f"error: reload loop: {culprit} changed during each of the last {reloads} "
        f"reloads (within {window:.0f} s) with no edit of yours in between; "
        "reloading is paused until another file changes "
        "(is the app writing into its own source tree?)"
    )


def templates_line(files: Sequence[str]) -> str:
    """The copier templates changed; the server does not use them."""
    return (
        f"templates changed ({listing(files)}): run `trading update-module --all` "
        "to bring scaffolded modules up to date"
    )
