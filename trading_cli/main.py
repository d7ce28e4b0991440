"""The ``trading`` command's entry point: fast help, error boundary.

``trading``, ``trading --help`` and ``trading -h`` are answered from
:data:`COMMANDS` and :data:`ROOT_OPTIONS` without importing typer
(:mod:`trading_cli.root_help` lays them out exactly as typer does); everything
else goes to the Typer app in :mod:`trading_cli.root`, which imports a
command's module only when that command runs or shows its own help. Only the
standard library is imported here until a command runs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: it costs the fast help
if TYPE_CHECKING:
    from typing import Any, NoReturn

PROG = "trading"
HELP = (
    "The trading backend workbench: scaffold modules, run the dev server, "
    "build and check specs and clients, test."
)
"""The root command's help text."""

VERSION_HELP = "Print the version and exit."
DEBUG_HELP = "Show the full traceback when a command fails."
ROOT_OPTIONS = (
    ("--version", VERSION_HELP),
    ("--debug", DEBUG_HELP),
    ("--install-completion", "Install completion for the current shell."),
    (
        "--show-completion",
        "Show completion for the current shell, to copy it or customize the "
        "installation.",
    ),
    ("-h, --help", "Show this message and exit."),
)
"""The root's options as its help lists them (the last three are typer's)."""

HELP_ARGS: tuple[list[str], ...] = ([], ["--help"], ["-h"])
"""The command lines answered by the fast help."""


class LazyCommand:
    """Where a command lives and the line ``trading --help`` shows for it.

    ``target`` is ``MODULE:ATTRIBUTE`` under ``trading_cli.commands``: a command
    function, or a ``typer.Typer`` for a command group. ``cls`` names a click
    command class in the same module, for commands that parse their own way.
    """

    __slots__ = ("cls", "short_help", "target")

    def __init__(self, target: str, short_help: str, cls: str | None = None) -> None:
        self.target = target
        self.short_help = short_help
        self.cls = cls


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


class _Options:
    """Global options of the current run."""

    debug: bool = False


options = _Options()


def run() -> None:
    """Console-script entry point.

    Usage errors are click's (exit 2). A :class:`TradingError`, raised by the CLI
    or by the runtime, prints its one line on stderr and exits with its code
    (1 failed, 2 bad input, 3 merge conflicts) in the root group; any other
    exception is a bug, reported here in one line that says how to see the
    traceback.
    """
    if sys.argv[1:] in HELP_ARGS and f"_{PROG.upper()}_COMPLETE" not in os.environ:
        from trading_cli.root_help import print_root_help

        sys.exit(print_root_help(no_args=not sys.argv[1:]))
    from trading_cli import relax_collector

    relax_collector()
    import typer.main

    from trading_cli.root import app

    command = typer.main.get_command(app)
    try:
        command.main(prog_name=PROG)
    except SystemExit as done:
        _exit(done.code)
    except Exception as exc:
        _exit(report(exc))
    _exit(0)


def _exit(code: str | int | None) -> NoReturn:
    """Exit with ``code`` without the interpreter's tear-down.

    A command that imported the runtime holds hundreds of modules and tens of
    thousands of objects, which the interpreter would free one by one before
    the process ends: 0.15 to 0.2 s after every such command (see
    :func:`trading_cli.finish`). A text code, or a thread other than the main
    one and daemons still running, ends the process the usual way.
    """
    import threading

    from trading_cli import finish

    others = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon
    ]
    if not (code is None or isinstance(code, int)) or others:
        sys.exit(code)
    finish(code or 0)


def report(exc: Exception) -> int:
    """Print ``exc`` as one line on stderr; return the exit code it calls for."""
    from trading_cli.errors import EXIT_FAILED, TradingError

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


def __getattr__(name: str) -> Any:
    """``app`` and ``WorkbenchGroup`` live in :mod:`trading_cli.root` (typer);
    they are imported from here only when asked for."""
    if name in ("app", "WorkbenchGroup"):
        from trading_cli import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    # `python -m trading_cli.main`: run the importable copy of this module, the
    # one trading_cli.root shares its options with.
    from trading_cli import main

    main.run()
