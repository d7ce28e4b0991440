"""``trading new-module``, ``remove-module``, ``update-module``: modules from the
template in ``templates/module/``."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from trading_cli.errors import EXIT_CONFLICT, EXIT_FAILED, CliError, UsageError
from trading_cli.output import console, is_interactive, print_json
from trading_cli.project import Project, find_project

if TYPE_CHECKING:
    from trading_cli.scaffold import ModuleUpdate

TEMPLATE = "templates/module"


def new_module_command(
    name: str = typer.Argument(
        ...,
        metavar="NAME",
        help="Module name in kebab-case, e.g. market-data: its URL segment "
        "(/api/v1/NAME), OpenAPI tag and CLI argument.",
    ),
    description: str | None = typer.Option(
        None,
        "--description",
        metavar="TEXT",
        help="One line on what the module serves: its OpenAPI tag description. "
        "Asked on a terminal; default 'The NAME module.'.",
    ),
    ws: bool | None = typer.Option(
        None,
        "--ws/--no-ws",
        help="Add the example WebSocket route (default) or leave it out. Asked on "
        "a terminal.",
        show_default=False,
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="List the files it would create and change; write nothing.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace an existing module folder of that name (its files are lost).",
    ),
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print the result as JSON (module, package, mount_path, path, created, "
        "updated, ...); never asks.",
    ),
) -> None:
    """Create a module from templates/module, with its WS routers, specs and client.

    The module is rendered into a staging folder and moved into place only when
    rendering and generation both succeeded: a failure changes nothing. Its
    tests pass as rendered (trading test NAME).
    """
    from trading_cli.scaffold import ModuleAnswers, scaffold_module
    from trading_cli.scaffold.answers import description_problem, project_answers
    from trading_cli.scaffold.names import check_new_name

    project = find_project()
    check_new_name(project, name, force=force)  # before asking anything
    ask = _can_ask() and not json_output
    if description is None:
        default = f"The {name} module."
        description = typer.prompt("Description", default=default) if ask else default
    description = " ".join(description.split())
    problem = description_problem(description)
    if problem is not None:
        raise UsageError(problem)
    if ws is None:
        ws = typer.confirm("Add a WebSocket route?", default=True) if ask else True
    answers = ModuleAnswers(
        name=name, description=description, with_ws=ws, **project_answers(project.root)
    )
    with _status("Rendering and generating" if not json_output else None):
        result = scaffold_module(project, answers, dry_run=dry_run, force=force)
    if json_output:
        print_json(result.to_json())
        return
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    verb = "Would create" if dry_run else "Created"
    typer.echo(f"{verb} module {name} in {result.path}, at {result.mount_path}:")
    for path in result.created:
        typer.echo(f"  create  {path}")
    for path in result.updated:
        typer.echo(f"  update  {path}")
    if not dry_run:
        _next_steps(result.name, result.path, result.mount_path, ws)


def remove_module_command(
    name: str = typer.Argument(..., metavar="NAME", help="The module to remove."),
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Do not ask for confirmation (needed without a terminal).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Also delete files edited or added by hand since the module was rendered.",
    ),
) -> None:
    """Remove a module made by new-module, its generated code, and its specs.

    Refuses core and modules not made from the template; refuses a module with
    hand-made changes unless --force. The merged specs are rebuilt without it,
    so new-module followed by remove-module leaves the tree as it was.
    """
    from trading_cli.scaffold import plan_removal, remove_module

    project = find_project()
    removal = plan_removal(project, name, force=force)
    where = removal.folder.relative_to(project.root).as_posix()
    if not yes:
        if not _can_ask():
            raise UsageError(
                f"removing module {name!r} deletes {where}; pass --yes to confirm "
                "without a terminal"
            )
        question = f"Delete module {name} ({len(removal.files)} files in {where})?"
        if not typer.confirm(question, default=False):
            typer.echo("Nothing removed.")
            raise typer.Exit(EXIT_FAILED)
    with _status(f"Removing {name}"):
        result = remove_module(project, removal)
    typer.echo(f"Removed module {name}: deleted {where} ({len(removal.files)} files).")
    for path in sorted([*result.written, *result.removed]):
        typer.echo(f"  update  {path.relative_to(project.root).as_posix()}")
    if any(path.startswith("migrations/") for path in removal.files):
        typer.echo(
            f"Its tables stay in the database; drop them with: trading db drop {name}"
        )


def update_module_command(
    names: list[str] | None = typer.Argument(
        None, metavar="NAME", help="The modules to update.", show_default=False
    ),
    all_modules: bool = typer.Option(
        False, "--all", help="Update every module made from the template."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Change nothing; exit 1 when a module is behind the template (for CI).",
    ),
) -> None:
    """Re-apply changes made to templates/module since each module was rendered.

    A three-way merge keeps the module's local edits. Conflicting lines are left
    between <<<<<<< and >>>>>>> markers, listed, and the command exits 3.
    Template changes must be committed first.
    """
    from trading_cli.scaffold import update_modules

    if names and all_modules:
        raise UsageError("name modules or pass --all, not both")
    if not names and not all_modules:
        raise UsageError("name the modules to update, or pass --all for every one")
    project = find_project()
    with _status("Comparing with the template" if check else "Updating"):
        updates = update_modules(project, None if all_modules else names, check=check)
    if not updates:
        typer.echo(f"No module was made from {TEMPLATE}; nothing to update.")
        return
    for update in updates:
        typer.echo(_describe(update, check))
    if check:
        behind = [update.name for update in updates if update.behind or update.pending]
        if behind:
            raise CliError(
                f"{len(behind)} module(s) behind {TEMPLATE}: {', '.join(behind)}; "
                f"run `trading update-module {' '.join(behind)}` and commit the result"
            )
        return
    _report_conflicts(project, [u for u in updates if u.conflicts or u.unresolved])


def _describe(update: "ModuleUpdate", check: bool) -> str:
    span = f"{update.from_commit[:7]} -> {update.to_commit[:7]}"
    if update.unresolved:
        files = ", ".join(update.unresolved)
        return (
            f"{update.name}: unresolved conflicts from an earlier update in {files}; "
            f"resolve the <<<<<<< markers, then run trading update-module "
            f"{update.name}"
        )
    if update.resolved and check:
        return (
            f"{update.name}: conflicts resolved but not recorded; run "
            f"trading update-module {update.name}"
        )
    if update.resolved and not update.behind:
        return f"{update.name}: recorded the resolved conflicts and regenerated"
    if update.from_commit == update.to_commit:
        return f"{update.name}: up to date with {TEMPLATE}"
    if not update.behind:
        verb = "would record" if check else "recorded"
        return f"{update.name}: no file changes; {verb} the new version ({span})"
    files = ", ".join(path.rsplit("/", 1)[-1] for path in update.changed)
    if check:
        return f"{update.name}: behind ({span}): {files}"
    if update.conflicts:
        return f"{update.name}: updated with conflicts ({span}): {files}"
    return f"{update.name}: updated ({span}): {files}"


def _report_conflicts(project: Project, updates: "list[ModuleUpdate]") -> None:
    if not updates:
        return
    conflicts = {p: why for update in updates for p, why in update.conflicts.items()}
    for update in updates:
        for path in update.unresolved:
            conflicts[path] = "still has conflict markers from an earlier update"
    for path, why in sorted(conflicts.items()):
        typer.echo(f"  conflict  {path}: {why}")
    raise CliError(
        f"{len(conflicts)} file(s) have merge conflicts (listed above); resolve "
        "the <<<<<<< markers, then run `trading specs build` and "
        "`trading clients build`",
        exit_code=EXIT_CONFLICT,
    )


def _next_steps(name: str, path: str, mount_path: str, ws: bool) -> None:
    files = "service.py, api.py" + (", ws.py" if ws else "")
    typer.echo(
        "\nNext steps:\n"
        f"  trading test {name:<18} run its tests\n"
        f"  trading dev {'':<19} serve it: http://127.0.0.1:8000{mount_path}/docs\n"
        f"  edit {files} in {path}; `trading dev` regenerates as you save"
    )


def _can_ask() -> bool:
    """Whether someone is at a terminal to answer questions."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@contextmanager
def _status(message: str | None) -> Iterator[None]:
    """A spinner on a terminal; nothing for pipes, logs and --json."""
    if message is None or not is_interactive():
        yield
        return
    with console().status(message):
        yield
