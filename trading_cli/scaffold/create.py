"""``trading new-module``: render the template into a new module, all or nothing.

The template is rendered into a staging folder in the project's ``.run/`` (so the
final move is a rename on one file system), moved into place, and then the module's
WS routers, specs and client are generated with the same builders as ``trading
specs build`` and ``trading clients build``. If any step fails, every change is
undone: the module folder goes and the merged specs get their old bytes back.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_cli.journal import Journal, all_or_nothing, failpoint, scratch, transaction
from trading_cli.lock import project_lock
from trading_cli.project import Project
from trading_cli.scaffold.answers import TEMPLATE_SRC, ModuleAnswers, tree_files
from trading_cli.scaffold.generation import (
    generate,
    merged_spec_paths,
    notes_of,
    predicted_files,
    preload_generation,
)
from trading_cli.scaffold.names import check_new_name, module_dir
from trading_cli.scaffold.render_process import RenderProcess
from trading_cli.scaffold.template import ModuleTemplate

if TYPE_CHECKING:
    from trading_cli.build.specs import SpecValidators


@dataclass
class ScaffoldResult:
    """What ``new-module`` made (or with ``dry_run`` would make).

    Paths are posix, relative to the project root.
    """

    name: str
    package: str
    mount_path: str
    path: str
    websocket: bool
    template_commit: str | None
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The stable document ``new-module --json`` prints."""
        return {
            "module": self.name,
            "package": self.package,
            "mount_path": self.mount_path,
            "path": self.path,
            "websocket": self.websocket,
            "template_commit": self.template_commit,
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "notes": self.notes,
        }


def scaffold_module(
    project: Project,
    answers: ModuleAnswers,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> ScaffoldResult:
    """Create module ``answers.name`` from the template, or with ``dry_run`` say
    which files that would create and change, writing nothing.

    ``force`` replaces an existing module folder of that name. Everything but a
    dry run holds the project lock.

    Raises:
        UsageError: the name or an answer is invalid; nothing was changed.
        CliError: rendering or generation failed; nothing was changed.
    """
    if dry_run:
        return _scaffold(project, answers, dry_run=True, force=force)
    with project_lock(project.root, f"trading new-module {answers.name}"):
        return _scaffold(project, answers, dry_run=False, force=force)


def _scaffold(
    project: Project, answers: ModuleAnswers, *, dry_run: bool, force: bool
) -> ScaffoldResult:
    template = ModuleTemplate(project)
    template.require()
    check_new_name(project, answers.name, force=force)  # again, under the lock
    commit = template.commit()
    target = module_dir(project, answers.name)
    result = ScaffoldResult(
        name=answers.name,
        package=target.name,
        mount_path=f"{answers.api_prefix}/{answers.name}",
        path=_relative(project, target),
        websocket=answers.with_ws,
        template_commit=commit,
        dry_run=dry_run,
    )
    command = f"trading new-module {answers.name}"
    if dry_run:
        result.notes = _version_notes(template, commit)
        with scratch(project.root, command) as staging:
            staged = staging / target.name
            template.render(answers, staged, commit=commit)
            _predict(project, result, target, staged)
        return result
    from trading_cli.build.specs import early_validators

    # The template renders in a child process while this one imports what
    # generation needs (the runtime: FastAPI, SQLAlchemy, the shared code). A
    # new module always brings a new OpenAPI document to validate: the
    # validator starts now too. The AsyncAPI parser is left to the next
    # `trading specs build` (see SpecValidators.for_project).
    with transaction(project.root, command) as journal:
        staged = journal.staging / target.name
        with (
            RenderProcess(project, answers, staged, commit) as rendering,
            early_validators(project, asyncapi=False) as validators,
        ):
            result.notes = _version_notes(template, commit)  # git, while they start
            preload_generation(project)
            rendering.wait()
            failpoint("new-module:rendered")
            _install(project, result, target, staged, journal, validators)
    return result


def _install(
    project: Project,
    result: ScaffoldResult,
    target: Path,
    staged: Path,
    journal: Journal,
    validators: "SpecValidators",
) -> None:
    merged = merged_spec_paths(project)
    existed = {path for path in merged if path.is_file()}
    what = f"generating the code of module {result.name!r}"
    with all_or_nothing(journal, what):
        journal.keep_files(merged)
        if target.exists() or target.is_symlink():
            # --force: the old folder comes back on failure
            journal.move(target, journal.staging / "replaced")
        journal.move(staged, target)
        failpoint("new-module:moved")
        built = generate(project, [result.name], validators)
        failpoint("new-module:generated")
    written = set(built.written)
    files = [target / relative for relative in tree_files(target)]
    files += [path for path in merged if path not in existed and path.is_file()]
    result.created = sorted(_relative(project, path) for path in files)
    result.updated = sorted(
        _relative(project, path) for path in merged if path in existed & written
    )
    result.notes += notes_of(built)


def _predict(
    project: Project, result: ScaffoldResult, target: Path, staged: Path
) -> None:
    files = [target / relative for relative in tree_files(staged)]
    files += predicted_files(project, result.name, target, staged, result.websocket)
    # The merged AsyncAPI document lists only modules with WebSocket routes.
    merged = merged_spec_paths(project)[: 2 if result.websocket else 1]
    files += [path for path in merged if not path.is_file()]
    result.created = sorted(_relative(project, path) for path in files)
    result.updated = sorted(_relative(project, p) for p in merged if p.is_file())


def _version_notes(template: ModuleTemplate, commit: str | None) -> list[str]:
    if not template.is_git_repo():
        return [
            "the project is not a git repository, so the module records no "
            "template version and `trading update-module` cannot update it"
        ]
    if commit is None:
        return [
            f"{TEMPLATE_SRC} was never committed, so `trading update-module` "
            "cannot update this module; commit the template first"
        ]
    if template.is_dirty():
        return [
            f"{TEMPLATE_SRC} has uncommitted changes; the module records commit "
            f"{commit[:12]}, so `trading update-module` will treat those changes "
            "as local edits. Commit the template before scaffolding to avoid this"
        ]
    return []


def _relative(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix()
