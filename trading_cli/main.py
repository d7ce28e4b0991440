"""The root ``trading`` command: global options, command groups, error boundary.

Only the standard library, typer and ``trading_cli`` are imported here, so
``trading --help`` stays fast; each command imports what it needs when it runs.
"""

import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from trading_cli.commands import (
    boundaries,
    clients,
    db,
    deploy,
    dev,
    doctor,
    modules,
    scaffold,
    specs,
    test,
)
from trading_cli.errors import EXIT_FAILED, TradingError
from trading_cli.output import print_error


class WorkbenchGroup(TyperGroup):
    """The root command: every :class:`TradingError` ends here, as one line on
    stderr and its exit code (also under typer's ``CliRunner``)."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; turn a :class:`TradingError` into its exit.

        ``ctx`` is the click context of typer's vendored click.
        """
        try:
            return super().invoke(ctx)
        except TradingError as exc:
            raise typer.Exit(report(exc)) from None


app = typer.Typer(
    cls=WorkbenchGroup,
    name="trading",
    help="The trading backend workbench: scaffold modules, run the dev server, "
    "build and check specs and clients, test.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@dataclass
class _Options:
    debug: bool = False


options = _Options()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"trading {version('trading-workbench')}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback when a command fails."
    ),
) -> None:
    """The trading backend workbench."""
    options.debug = debug
    _recover_interrupted()


def _recover_interrupted() -> None:
    """Roll back what a killed tree-writing command left half done (cheap when
    nothing is left), so every command starts from a whole tree."""
    from trading_cli.journal import recover_at_start
    from trading_cli.project import find_project

    try:
        root = find_project().root
    except TradingError:
        return  # not in a project: the command says so itself
    recover_at_start(root)


# Registered in the order `trading --help` lists them: daily use first.
app.command("dev")(dev.dev_command)
app.command("test", cls=test.PytestArgsCommand)(test.test_command)
app.command("modules")(modules.modules_command)
app.command("new-module")(scaffold.new_module_command)
app.command("remove-module")(scaffold.remove_module_command)
app.command("update-module")(scaffold.update_module_command)
app.add_typer(specs.app, name="specs")
app.add_typer(clients.app, name="clients")
app.add_typer(db.app, name="db")
app.command("boundaries")(boundaries.boundaries_command)
app.command("up")(deploy.up_command)
app.command("down")(deploy.down_command)
app.command("status")(deploy.status_command)
app.command("logs")(deploy.logs_command)
app.command("doctor")(doctor.doctor_command)


def run() -> None:
    """Console-script entry point.

    Usage errors are click's (exit 2). A :class:`TradingError`, raised by the CLI
    or by the runtime, prints its one line on stderr and exits with its code
    (1 failed, 2 bad input, 3 merge conflicts) in :class:`WorkbenchGroup`; any
    other exception is a bug, reported here in one line that says how to see
    the traceback.
    """
    command = typer.main.get_command(app)
    try:
        command.main(prog_name="trading")
    except Exception as exc:
        sys.exit(report(exc))


def report(exc: Exception) -> int:
    """Print ``exc`` as one line on stderr; return the exit code it calls for."""
    if options.debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, TradingError):
        print_error(str(exc))
        return exc.exit_code
    print_error(
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
    )
    return EXIT_FAILED


if __name__ == "__main__":
    run()
