"""The root ``trading`` command: global options, command groups, error boundary.

Only the standard library, typer and ``trading_cli.errors`` are imported here,
so ``trading --help`` stays fast: the commands are listed from :data:`COMMANDS`
and a command's module is imported (and its typer signature turned into a
click command) only when that command runs or shows its own help.
"""

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from trading_cli.errors import EXIT_FAILED, TradingError


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives and the line ``trading --help`` shows for it.

    ``target`` is ``MODULE:ATTRIBUTE`` under ``trading_cli.commands``: a command
    function, or a ``typer.Typer`` for a command group. ``cls`` names a click
    command class in the same module, for commands that parse their own way.
    """

    target: str
    short_help: str
    cls: str | None = None

    def load(self, name: str, group: TyperGroup) -> Any:
        """Import the command and build its click command (typer's way)."""
        from typer.main import get_command_from_info, get_group_from_info
        from typer.models import CommandInfo, TyperInfo

        module_name, attribute = self.target.split(":")
        module = importlib.import_module(f"trading_cli.commands.{module_name}")
        target = getattr(module, attribute)
        if isinstance(target, typer.Typer):
            return get_group_from_info(
                TyperInfo(target, name=name, short_help=self.short_help),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=group.rich_markup_mode,
            )
        return get_command_from_info(
            CommandInfo(
                name=name,
                callback=target,
                short_help=self.short_help,
                cls=getattr(module, self.cls) if self.cls else None,
            ),
            pretty_exceptions_short=True,
            rich_markup_mode=group.rich_markup_mode,
        )


# In the order `trading --help` lists them: daily use first.
COMMANDS: dict[str, LazyCommand] = {
    "dev": LazyCommand("dev:dev_command", "Run the dev server with hot reload."),
    "test": LazyCommand(
        "test:test_command",
        "Run one module's tests, the affected ones', or all of CI.",
        cls="PytestArgsCommand",
    ),
    "modules": LazyCommand(
        "modules:modules_command", "List the modules, their mount paths and routes."
    ),
    "new-module": LazyCommand(
        "scaffold:new_module_command", "Create a module from templates/module."
    ),
    "remove-module": LazyCommand(
        "scaffold:remove_module_command",
        "Remove a module made by new-module and its generated code.",
    ),
    "update-module": LazyCommand(
        "scaffold:update_module_command",
        "Re-apply the template's changes to modules made from it.",
    ),
    "boundaries": LazyCommand(
        "boundaries:boundaries_command",
        "Check the import boundaries between modules.",
    ),
    "up": LazyCommand(
        "deploy:up_command", "Start the deployment: nginx and every server."
    ),
    "down": LazyCommand(
        "deploy:down_command", "Stop the deployment; nothing is left running."
    ),
    "status": LazyCommand(
        "deploy:status_command", "Each deployed program's state, pid and health."
    ),
    "logs": LazyCommand(
        "deploy:logs_command", "Print the last lines of a server's logs."
    ),
    "doctor": LazyCommand(
        "doctor:doctor_command", "Check the tools, the dev port and generated code."
    ),
    "specs": LazyCommand("specs:app", "Build, check and compare the API documents."),
    "clients": LazyCommand("clients:app", "Build and check the typed Python clients."),
    "db": LazyCommand("db:app", "Each module's tables and migrations (Alembic)."),
    "auth": LazyCommand("auth:app", "Mint development tokens (the built-in issuer)."),
}


class _Commands(MutableMapping[str, Any]):
    """The root's commands: every name known at once, each click command
    built the first time it is looked up."""

    def __init__(self, group: TyperGroup, built: MutableMapping[str, Any]) -> None:
        self._group = group
        self.built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            if name not in COMMANDS:
                raise KeyError(name)
            self.built[name] = COMMANDS[name].load(name, self._group)
        return self.built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self.built if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + len(self.built.keys() - COMMANDS.keys())


class WorkbenchGroup(TyperGroup):
    """The root command: commands loaded when used, and every
    :class:`TradingError` ends here, as one line on stderr and its exit code
    (also under typer's ``CliRunner``)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self, self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List every command with its line from :data:`COMMANDS`, importing
        none of them. ``ctx`` and ``formatter`` are typer's click objects."""
        from typer._click.utils import make_default_short_help

        assert isinstance(self.commands, _Commands)
        built = self.commands.built
        rows = [
            (name, built[name].get_short_help_str() if name in built else entry)
            for name, entry in (
                (name, COMMANDS[name].short_help if name in COMMANDS else "")
                for name in self.commands
            )
        ]
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl(
                [(name, make_default_short_help(text, limit)) for name, text in rows]
            )

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
    from trading_cli.output import print_error

    if isinstance(exc, TradingError):
        print_error(str(exc))
        return exc.exit_code
    print_error(
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
    )
    return EXIT_FAILED


if __name__ == "__main__":
    run()
