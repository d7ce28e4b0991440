"""What a generator did, or with ``check=True`` would do."""

import difflib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BuildResult:
    """The outcome of one generator run.

    Attributes:
        written: Files changed on disk (always empty with ``check=True``).
        stale: With ``check=True``, each file that differs from what the generator
            would write, with a unified diff (committed copy -> fresh copy).
        removed: Generated files deleted because their source is gone.
        notes: Things the user should know that are not failures (a validation
            that was skipped, specs not compared).
    """

    written: list[Path] = field(default_factory=list)
    stale: dict[Path, str] = field(default_factory=dict)
    removed: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when a check found nothing stale."""
        return not self.stale

    def merge(self, other: "BuildResult") -> "BuildResult":
        """Add another generator's outcome to this one; returns self."""
        self.written.extend(other.written)
        self.stale.update(other.stale)
        self.removed.extend(other.removed)
        self.notes.extend(other.notes)
        return self

    def record(self, path: Path, fresh: str, *, check: bool, root: Path) -> None:
        """Compare ``fresh`` with ``path``; write it, or note a diff with ``check``."""
        from trading_api.shared.artifacts import write_if_changed

        if not check:
            if write_if_changed(path, fresh):
                self.written.append(path)
            return
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != fresh:
            name = str(path.relative_to(root))
            self.stale[path] = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    fresh.splitlines(keepends=True),
                    fromfile=f"a/{name} (committed)",
                    tofile=f"b/{name} (generated)",
                )
            )
