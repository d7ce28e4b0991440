"""``trading clients build``: the typed Python client of each module."""

import sys
from contextlib import nullcontext

import typer

from trading_cli.errors import CliError
from trading_cli.project import find_project

app = typer.Typer(
    help="Typed Python clients of the modules (modules/<pkg>/client_generated/).",
    no_args_is_help=True,
)


@app.command("build")
def build_command(
    modules: list[str] | None = typer.Argument(
        None,
        metavar="MODULE",
        help="Modules whose client to build (default: every module).",
        show_default=False,
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Write nothing; exit 1 and print a diff if a committed client is "
        "stale. The CI gate.",
    ),
) -> None:
    """Generate each module's sync and async client from its routes and models.

    One method per operation, typed with the project's own models, and a
    WebSocket subscribe helper. Files are written only when they change.
    """
    from trading_cli.build.clients import build_clients
    from trading_cli.lock import project_lock

    project = find_project()
    lock = (
        nullcontext() if check else project_lock(project.root, "trading clients build")
    )
    with lock:
        result = build_clients(project, modules or None, check=check)
    relative = [path.relative_to(project.root) for path in result.written]
    for path in relative:
        typer.echo(f"wrote {path}")
    for path in result.removed:
        typer.echo(f"removed {path.relative_to(project.root)}")
    if check and result.stale:
        for diff in result.stale.values():
            sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
        raise CliError(
            f"{len(result.stale)} generated client file(s) are stale; "
            "run `trading clients build` and commit the result"
        )
    if not relative and not result.removed:
        typer.echo("clients are up to date")
