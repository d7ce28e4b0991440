"""``trading remove-module``: undo a scaffolded module, all or nothing.

Only modules made by ``trading new-module`` can be removed, and only as they were
rendered: the hash manifest in the module's answers file tells rendered files
from hand edits and hand-made files, which are kept unless forced. Generated
folders are always removable (they are made again from the code).
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from trading_cli.build.result import BuildResult
from trading_cli.errors import CliError, UsageError
from trading_cli.journal import all_or_nothing, failpoint, transaction
from trading_cli.lock import project_lock
from trading_cli.project import Project
from trading_cli.scaffold.answers import (
    ANSWERS_FILE,
    TEMPLATE_SRC,
    read_record,
    tree_files,
)
from trading_cli.scaffold.generation import generate, merged_spec_paths
from trading_cli.scaffold.names import BUILT_IN, existing_module_dir

GENERATED_DIRS = frozenset({"ws_generated", "specs_generated", "client_generated"})


@dataclass
class Removal:
    """A module about to be removed, and what removing it would lose.

    Attributes:
        name: The module name.
        folder: Its package folder.
        files: Every file in it (posix, relative to the folder), caches excluded.
        edited: Rendered files that differ from what was rendered.
        added: Files neither rendered nor generated: made by hand.
    """

    name: str
    folder: Path
    files: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    @property
    def hand_made(self) -> list[str]:
        """Everything removal would lose that the template did not make."""
        return sorted([*self.edited, *self.added])


def plan_removal(project: Project, name: str, *, force: bool = False) -> Removal:
    """Find module ``name`` and check that removing it loses no hand-made work.

    ``force`` allows losing it: edited rendered files and files added by hand.

    Raises:
        UsageError: ``name`` is ``core``, unknown, or not made from the template.
        CliError: the module has hand-made changes and ``force`` is off.
    """
    if name == BUILT_IN:
        raise UsageError("module 'core' is built in and cannot be removed")
    folder = existing_module_dir(project, name)
    record = read_record(folder)
    if record is None:
        raise UsageError(
            f"module {name!r} was not made by `trading new-module` (it has no "
            f"{ANSWERS_FILE} from {TEMPLATE_SRC}); delete "
            f"{folder.relative_to(project.root).as_posix()} by hand if you mean it"
        )
    removal = Removal(name, folder, tree_files(folder))
    for path in removal.files:
        if path == ANSWERS_FILE or path.split("/")[0] in GENERATED_DIRS:
            continue
        digest = record.manifest.get(path)
        if digest is None:
            removal.added.append(path)
        elif hashlib.sha256((folder / path).read_bytes()).hexdigest() != digest:
            removal.edited.append(path)
    if removal.hand_made and not force:
        raise CliError(
            f"module {name!r} has changes not made by the template "
            f"({_summary(removal)}); pass --force to delete them too"
        )
    return removal


def remove_module(project: Project, removal: Removal) -> BuildResult:
    """Delete the module folder and rebuild the merged specs without it.

    Holds the project lock; the module is checked again under it, since another
    command may have changed it after :func:`plan_removal`.

    Raises:
        CliError: the module changed since it was planned, or the merged specs
            failed to build; the module was put back.
    """
    what = f"rebuilding the merged specs without module {removal.name!r}"
    command = f"trading remove-module {removal.name}"
    with project_lock(project.root, command):
        _recheck(project, removal)
        with (
            transaction(project.root, command) as journal,
            all_or_nothing(journal, what),
        ):
            journal.keep_files(merged_spec_paths(project))
            journal.move(removal.folder, journal.staging / removal.folder.name)
            failpoint("remove-module:moved")
            result = generate(project, [])
            failpoint("remove-module:generated")
        return result


def _recheck(project: Project, removal: Removal) -> None:
    again = plan_removal(project, removal.name, force=True)
    if again.hand_made != removal.hand_made or again.files != removal.files:
        raise CliError(
            f"module {removal.name!r} changed while waiting for the project lock; "
            "run the command again"
        )


def _summary(removal: Removal) -> str:
    parts = [f"{path} edited" for path in removal.edited]
    parts += [f"{path} added" for path in removal.added]
    shown = ", ".join(parts[:3])
    return shown + (f" and {len(parts) - 3} more" if len(parts) > 3 else "")
