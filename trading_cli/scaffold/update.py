"""``trading update-module``: bring scaffolded modules up to the current template.

For each module, the template is rendered twice with the module's recorded
answers: as it was at the module's recorded commit (read with ``git archive``)
and as it is now. The difference is merged into the module three ways, keeping
local edits (see :mod:`trading_cli.scaffold.merge`). Copier's own ``run_update``
is not used: it finds template versions only in a template at a repository root,
and ours is a subfolder of the project repository.

Clean updates regenerate the modules' code and the merged specs; a conflict
leaves markers in the files and skips generation until they are resolved. Any
failure puts every module back as it was.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trading_cli.errors import CliError, UsageError
from trading_cli.journal import all_or_nothing, failpoint, scratch, transaction
from trading_cli.lock import project_lock
from trading_cli.project import Project
from trading_cli.scaffold.answers import (
    ANSWERS_FILE,
    TEMPLATE_SRC,
    ModuleRecord,
    read_record,
)
from trading_cli.scaffold.generation import generate, merged_spec_paths
from trading_cli.scaffold.merge import FileMerge, merge_module, template_changes
from trading_cli.scaffold.names import existing_module_dir, module_dir, module_names
from trading_cli.scaffold.template import ModuleTemplate


@dataclass
class ModuleUpdate:
    """The update of one module: what changed (or would), what conflicts.

    Paths are posix, relative to the project root.
    """

    name: str
    from_commit: str
    to_commit: str
    changed: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    @property
    def behind(self) -> bool:
        """Whether the template changed files of this module since its commit."""
        return bool(self.changed)

    @property
    def pending(self) -> bool:
        """Whether conflicts of an earlier update are not recorded as resolved
        (``--check`` fails until ``update-module`` records them)."""
        return bool(self.unresolved or self.resolved)


@dataclass
class _Plan:
    update: ModuleUpdate
    folder: Path
    merges: list[FileMerge] = field(default_factory=list)
    answers: bytes | None = None  # the new answers file, None when up to date
    base_commit: str = ""  # the commit conflicted files stay recorded at


def update_modules(
    project: Project,
    names: Sequence[str] | None,
    *,
    check: bool = False,
) -> list[ModuleUpdate]:
    """Merge the template's changes into modules ``names`` (None: every
    scaffolded module); with ``check`` only say which are behind.

    Raises:
        UsageError: a name is unknown or not made from the template.
        CliError: the template has uncommitted changes, a version cannot be
            read, or generation failed (then nothing was changed).
    """
    if check:
        return _update(project, names, check=True)
    what = " ".join(names) if names is not None else "--all"
    with project_lock(project.root, f"trading update-module {what}"):
        return _update(project, names, check=False)


def _update(
    project: Project, names: Sequence[str] | None, *, check: bool
) -> list[ModuleUpdate]:
    template = ModuleTemplate(project)
    template.require()
    records = _records(project, names)
    head = _template_head(template)
    with scratch(project.root, "trading update-module") as work:
        plans = [
            _plan(project, template, record, head, work / name)
            for name, record in records.items()
        ]
        if not check:
            _apply(project, [plan for plan in plans if plan.answers])
    return [plan.update for plan in plans]


def _plan(
    project: Project,
    template: ModuleTemplate,
    record: ModuleRecord,
    head: str,
    scratch: Path,
) -> _Plan:
    name = record.answers.name
    folder = module_dir(project, name)
    if record.commit is None:
        raise CliError(
            f"module {name!r} records no template commit (it was made outside git), "
            "so its template version is unknown; it cannot be updated"
        )
    plan = _Plan(ModuleUpdate(name, record.commit, head), folder)
    plan.base_commit = record.commit
    if record.conflicts:
        unresolved = [path for path in record.conflicts if has_markers(folder / path)]
        rel = [_relative(project, folder / path) for path in record.conflicts]
        if unresolved:
            plan.update.unresolved = [
                _relative(project, folder / p) for p in unresolved
            ]
            return plan  # resolve those first: nothing else is merged meanwhile
        plan.update.resolved = rel
        answers_file = folder / ANSWERS_FILE
        plan.answers = without_conflicts(answers_file.read_bytes())
    if record.commit == head:
        return plan
    source = template.export(record.commit, scratch / "template")
    base, theirs = scratch / "base" / folder.name, scratch / "theirs" / folder.name
    template.render(record.answers, base, commit=record.commit, source=source)
    template.render(record.answers, theirs, commit=head)
    labels = (
        f"{name} (local)",
        f"template {record.commit[:7]}",
        f"template {head[:7]}",
    )
    plan.merges = merge_module(folder, base, theirs, labels)
    plan.update.changed = [
        _relative(project, folder / path) for path in template_changes(base, theirs)
    ]
    plan.update.conflicts = {
        _relative(project, folder / merge.path): merge.conflict
        for merge in plan.merges
        if merge.conflict is not None
    }
    # Files merged cleanly move to the new commit; conflicted ones stay recorded
    # at the old one until a later update-module finds them resolved.
    conflicted = {m.path: record.commit for m in plan.merges if m.conflict is not None}
    answers = (theirs / ANSWERS_FILE).read_bytes()
    plan.answers = answers + conflicts_block(conflicted).encode()
    return plan


def _apply(project: Project, plans: list[_Plan]) -> None:
    """Write every plan, then regenerate; on any failure undo all of it."""
    if not plans:
        return
    command = "trading update-module " + " ".join(p.update.name for p in plans)
    with (
        transaction(project.root, command) as journal,
        all_or_nothing(journal, "updating the modules"),
    ):
        journal.keep_files(merged_spec_paths(project))
        for plan in plans:
            journal.keep_folder(plan.folder)
            _write(plan)
        failpoint("update-module:written")
        conflicted = any(plan.update.conflicts for plan in plans)
        changed = [
            plan.update.name
            for plan in plans
            if plan.update.behind or plan.update.resolved
        ]
        if changed and not conflicted:  # conflict markers would not import
            generate(project, changed)
            failpoint("update-module:generated")


def _write(plan: _Plan) -> None:
    for merge in plan.merges:
        if merge.keep:
            continue
        path = plan.folder / merge.path
        if merge.text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(merge.text)
    assert plan.answers is not None
    (plan.folder / ANSWERS_FILE).write_bytes(plan.answers)


CONFLICTS_KEY = "_conflicts"
_MARKER = re.compile(rb"^(?:<{7} |>{7} |={7}\r?$)", re.MULTILINE)


def has_markers(path: Path) -> bool:
    """Whether ``path`` still holds a conflict marker line (a missing file has
    none: deleting it resolves the conflict)."""
    try:
        return _MARKER.search(path.read_bytes()) is not None
    except (FileNotFoundError, IsADirectoryError):
        return False


def conflicts_block(conflicts: dict[str, str]) -> str:
    """The ``_conflicts`` mapping appended to an answers file ('' when none)."""
    if not conflicts:
        return ""
    lines = [f"{CONFLICTS_KEY}:"]
    lines += [f"  {path}: {commit}" for path, commit in sorted(conflicts.items())]
    return "\n".join(lines) + "\n"


def without_conflicts(answers: bytes) -> bytes:
    """An answers file with its ``_conflicts`` block taken out."""
    head, found, _ = answers.partition(f"\n{CONFLICTS_KEY}:\n".encode())
    return head + b"\n" if found else answers


def _records(project: Project, names: Sequence[str] | None) -> dict[str, ModuleRecord]:
    if names is None:
        found = {
            name: read_record(module_dir(project, name))
            for name in module_names(project)
        }
        return {name: record for name, record in found.items() if record is not None}
    records = {}
    for name in dict.fromkeys(names):
        record = read_record(existing_module_dir(project, name))
        if record is None:
            raise UsageError(
                f"module {name!r} was not made by `trading new-module` (it has no "
                f"{ANSWERS_FILE} from {TEMPLATE_SRC}); there is nothing to update"
            )
        records[name] = record
    return records


def _template_head(template: ModuleTemplate) -> str:
    if not template.is_git_repo():
        raise CliError(
            "the project is not a git repository; update-module needs the "
            f"history of {TEMPLATE_SRC}"
        )
    if template.is_dirty():
        raise CliError(
            f"{TEMPLATE_SRC} has uncommitted changes; commit {TEMPLATE_SRC} first, "
            "then update the modules to that commit"
        )
    head = template.commit()
    if head is None:
        raise CliError(f"{TEMPLATE_SRC} was never committed; commit it first")
    return head


def _relative(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix()
