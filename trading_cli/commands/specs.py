"""``trading specs build|diff``: generate and check specs, report breaking changes."""

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import typer

from trading_cli.errors import CliError
from trading_cli.output import console, is_interactive, print_table
from trading_cli.project import Project, find_project

app = typer.Typer(
    help="WS routers and OpenAPI/AsyncAPI documents: build, check, compare.",
    no_args_is_help=True,
)


@app.command("build")
def build_command(
    modules: list[str] | None = typer.Argument(
        None,
        metavar="MODULE",
        help="Limit WS routers and per-module specs to these modules; the merged "
        "specs always cover every module.",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Write nothing; exit 1 and print a unified diff when a generated file "
        "is stale (the CI gate).",
    ),
) -> None:
    """Generate WS routers, per-module and merged OpenAPI/AsyncAPI documents.

    Every document is validated (OpenAPI with openapi-spec-validator, AsyncAPI
    with the official parser) before anything is written; files are written
    only when their content changed.
    """
    from trading_cli.build.specs import build_specs

    project = find_project()
    with _writing(project, "trading specs build", check), _status("Building specs"):
        result = build_specs(project, modules or None, check=check)
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    if check:
        for diff in result.stale.values():
            sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
        if result.stale:
            raise CliError(
                f"{len(result.stale)} generated file(s) are stale: "
                + ", ".join(_relative(project, p) for p in sorted(result.stale))
                + "; run `trading specs build` and commit the result"
            )
        typer.echo("specs are up to date")
        return
    for path in sorted(result.written):
        typer.echo(f"wrote {_relative(project, path)}")
    for path in sorted(result.removed):
        typer.echo(f"removed {_relative(project, path)}")
    if not result.written and not result.removed:
        typer.echo("specs are up to date (nothing written)")


@app.command("diff")
def diff_command(
    base: str = typer.Option(
        "HEAD",
        "--base",
        metavar="REF",
        help="The git revision whose committed specs are the baseline.",
    ),
) -> None:
    """Classify every API change since REF as breaking or compatible.

    Compares the specs the current code generates with the merged specs
    committed at REF (REST and WebSocket). Exit 1 when a breaking change is not
    accepted in specs-allow.yaml (its path and rule, with a reason).
    """
    from trading_cli.build.spec_allow import ALLOW_FILE, read_allow_file
    from trading_cli.build.spec_diff import diff_specs

    project = find_project()
    allowed = read_allow_file(project.root / ALLOW_FILE)
    with _status("Comparing specs"):
        changes = diff_specs(project, base)
    rows = []
    for change in changes:
        verdict = "compatible"
        if change.breaking:
            verdict = "allowed" if allowed.allows(change) else "BREAKING"
        rows.append([verdict, change.rule, change.path, change.detail])
    if not rows:
        typer.echo(f"no API changes since {base}")
    else:
        print_table(
            f"API changes since {base}", ["change", "rule", "path", "detail"], rows
        )
    for entry in allowed.unused(changes):
        sys.stderr.write(
            f"note: {ALLOW_FILE} allows {entry.rule} at {entry.path}, "
            "which no change needs any more; remove the entry\n"
        )
    blocking = sum(row[0] == "BREAKING" for row in rows)
    if blocking:
        raise CliError(
            f"{blocking} breaking change(s) since {base} are not accepted in "
            f"{ALLOW_FILE}; restore the API, or add each path and rule there "
            "with a reason"
        )


def _writing(
    project: Project, command: str, check: bool
) -> AbstractContextManager[object]:
    """The project lock, unless only checking (which writes nothing)."""
    if check:
        return nullcontext()
    from trading_cli.lock import project_lock

    return project_lock(project.root, command)


def _status(message: str) -> AbstractContextManager[object]:
    """A spinner on a terminal, nothing otherwise."""
    if is_interactive():
        return console().status(message)
    return nullcontext()


def _relative(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)
