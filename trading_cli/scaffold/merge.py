"""Three-way merge of a module folder with two renders of the template.

``base`` is the template rendered as it was when the module was made (or last
updated), ``theirs`` the template rendered as it is now, ``ours`` the module as it
is on disk with its local edits. Per file, as ``copier update`` and ``git merge``
do: a side that did not change yields to the other; when both changed,
``git merge-file`` merges the lines and marks what it cannot.
"""

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trading_cli.errors import CliError
from trading_cli.scaffold.answers import ANSWERS_FILE, tree_files


@dataclass(frozen=True)
class FileMerge:
    """The outcome for one file of the module.

    Attributes:
        path: Relative to the module folder (posix).
        text: The file's new bytes, or None to delete it; ``keep`` leaves it.
        conflict: Why the file needs a hand merge, or None when it merged cleanly.
        keep: Leave the file as it is (a conflict git cannot mark in the file).
    """

    path: str
    text: bytes | None
    conflict: str | None = None
    keep: bool = False


def template_changes(base: Path, theirs: Path) -> list[str]:
    """Files the template changed between two renders (answers file excluded)."""
    return [
        path
        for path in _union(base, theirs)
        if _read(base / path) != _read(theirs / path)
    ]


def merge_module(
    ours: Path, base: Path, theirs: Path, labels: tuple[str, str, str]
) -> list[FileMerge]:
    """What to write into ``ours`` so it carries the template's changes.

    ``labels`` name ours, base and theirs in conflict markers. Files the template
    did not change, or that already hold its new version, are left out.
    """
    merges = []
    for path in template_changes(base, theirs):
        old, new, current = (_read(root / path) for root in (base, theirs, ours))
        if current == new:
            continue
        if current == old:
            merges.append(FileMerge(path, new))
        elif new is None:
            kept = "deleted by the template but edited here; kept"
            merges.append(FileMerge(path, current, kept, keep=True))
        elif current is None:
            gone = "changed by the template but deleted here; left deleted"
            merges.append(FileMerge(path, None, gone, keep=True))
        else:
            text, clean = merge_file(current, old or b"", new, labels)
            conflict = None if clean else "both sides changed the same lines"
            merges.append(FileMerge(path, text, conflict))
    return merges


def merge_file(
    ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]
) -> tuple[bytes, bool]:
    """``git merge-file`` of three versions; returns the result and whether it
    merged without conflicts (conflicts are marked in the result)."""
    with tempfile.TemporaryDirectory(prefix="trading-merge-") as folder:
        paths = [Path(folder, name) for name in ("ours", "base", "theirs")]
        for path, data in zip(paths, (ours, base, theirs), strict=True):
            path.write_bytes(data)
        command = ["git", "merge-file", "-p"]
        for label in labels:
            command += ["-L", label]
        result = subprocess.run(
            [*command, "--", *map(str, paths)], capture_output=True, check=False
        )
    if result.returncode < 0 or result.returncode > 127:
        detail = result.stderr.decode(errors="replace").strip()
        raise CliError(f"git merge-file failed ({detail}); is git installed?")
    return result.stdout, result.returncode == 0


def _union(*folders: Path) -> list[str]:
    paths = {path for folder in folders for path in tree_files(folder)}
    paths.discard(ANSWERS_FILE)
    return sorted(paths)


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
