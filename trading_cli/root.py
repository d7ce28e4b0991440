"""The root ``trading`` command as a Typer app: global options, command
groups, the error boundary.

The commands are listed from :data:`trading_cli.main.COMMANDS`; a command's
module is imported (and its typer signature turned into a click command) only
when that command runs or shows its own help. ``trading --help`` itself never
gets here (see :mod:`trading_cli.main`).
"""

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from trading_cli.errors import TradingError
from trading_cli.main import (
    COMMANDS,
    DEBUG_HELP,
    HELP,
    PROG,
    VERSION_HELP,
    LazyCommand,
    options,
    report,
)


def load(entry: LazyCommand, name: str, group: TyperGroup) -> Any:
    """Import command ``name`` and build its click command (typer's way)."""
    from typer.main import get_command_from_info, get_group_from_info
    from typer.models import CommandInfo, TyperInfo

    module_name, attribute = entry.target.split(":")
    module = importlib.import_module(f"trading_cli.commands.{module_name}")
    target = getattr(module, attribute)
    if isinstance(target, typer.Typer):
        return get_group_from_info(
            TyperInfo(target, name=name, short_help=entry.short_help),
            pretty_exceptions_short=True,
            suggest_commands=True,
            rich_markup_mode=group.rich_markup_mode,
        )
    return get_command_from_info(
        CommandInfo(
            name=name,
            callback=target,
            short_help=entry.short_help,
            cls=getattr(module, entry.cls) if entry.cls else None,
        ),
        pretty_exceptions_short=True,
        rich_markup_mode=group.rich_markup_mode,
    )


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
            self.built[name] = load(COMMANDS[name], name, self._group)
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
    name=PROG,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"{PROG} {version('trading-workbench')}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help=VERSION_HELP,
    ),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
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
