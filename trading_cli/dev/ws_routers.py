"""Regenerating a module's WS routers in a dev server, when they must change."""

from pathlib import Path

from trading_cli.project import Project


def write_ws_routers(project: Project, package_dir: Path) -> list[Path]:
    """Regenerate a module's ``ws_generated/`` from its ``ws.py``, if it has one,
    holding the project lock; return the files that changed.

    Another command writing the tree (``trading new-module``...) is waited for,
    with a note naming it. A module whose ``ws.py`` (byte for byte) and
    generated files (names, sizes and times) are as they were when this process
    last found them in step is not read again.
    """
    ws = package_dir / "ws.py"
    if not ws.is_file():
        return []
    from trading_api.shared.ws.generated import staleness

    seen = _ws_state(package_dir)
    if seen is not None and _in_step.get(package_dir) == seen:
        return []
    if staleness(package_dir) is None:
        _in_step[package_dir] = seen
        return []  # in step with ws.py: nothing to write, no lock to wait for
    from trading_cli.build.ws_routers import write_ws_routers as write
    from trading_cli.lock import project_lock

    with project_lock(project.root, "trading dev (WS routers)"):
        return write(package_dir)


_in_step: dict[Path, tuple[bytes, tuple[tuple[str, int, int], ...]] | None] = {}
"""What each module's ``ws.py`` and generated routers were when last found in
step."""


def _ws_state(
    package_dir: Path,
) -> tuple[bytes, tuple[tuple[str, int, int], ...]] | None:
    """``ws.py``'s bytes and each generated router's name, size and time."""
    from trading_api.shared.ws.generated import GENERATED_DIR

    try:
        source = (package_dir / "ws.py").read_bytes()
        files = []
        for path in sorted((package_dir / GENERATED_DIR).glob("*.py")):
            stat = path.stat()
            files.append((path.name, stat.st_size, stat.st_mtime_ns))
    except OSError:
        return None
    return source, tuple(files)
