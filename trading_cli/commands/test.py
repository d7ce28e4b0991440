"""``trading test``: one module's tests, the affected modules', or all of CI."""

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from trading_cli.errors import EXIT_USAGE, CliError, UsageError
from trading_cli.output import print_table
from trading_cli.project import Project, find_project

PYTEST_ARGS = "pytest_args"


class PytestArgsCommand(TyperCommand):
    """A command that hands everything after ``--`` to pytest untouched."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Keep ``-- PYTEST_ARGS`` apart before the command's own parsing.

        ``ctx`` is typer's click context (typer vendors its own click).
        """
        if "--" in args:
            split = args.index("--")
            ctx.meta[PYTEST_ARGS] = args[split + 1 :]
            args = args[:split]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """Show ``[-- PYTEST_ARGS]`` in the usage line."""
        return [*super().collect_usage_pieces(ctx), "[-- PYTEST_ARGS]"]


def test_command(
    ctx: typer.Context,
    modules: list[str] | None = typer.Argument(
        None,
        metavar="MODULE",
        help="Run only these modules' tests (src/trading_api/modules/<pkg>/tests). "
        "Without MODULE: everything CI checks. Arguments after -- go to pytest.",
        show_default=False,
    ),
    integration: bool = typer.Option(
        False,
        "--integration",
        help="Also run tests marked integration (a full run always does).",
    ),
    affected: bool = typer.Option(
        False,
        "--affected",
        help="Run the tests of the modules changed since --base: their files, or "
        "the trading_api code they import.",
    ),
    base: str | None = typer.Option(
        None,
        "--base",
        metavar="REF",
        help="With --affected: compare with REF [default: the merge base with "
        "main on another branch, HEAD~1 on main]. Local changes always count.",
        show_default=False,
    ),
) -> None:
    """Run tests: one module's, the affected modules', or everything CI runs.

    Without MODULE it runs ruff check, ruff format --check, mypy, boundaries,
    specs build --check, clients build --check and pytest once over every
    module's tests and tests/ (integration included), then prints a summary.
    """
    pytest_args: list[str] = ctx.meta.get(PYTEST_ARGS, [])
    if base is not None and not affected:
        raise UsageError("--base only makes sense with --affected")
    if modules and affected:
        raise UsageError("give MODULE names or --affected, not both")
    project = find_project()
    if affected:
        names = _affected(project, base)
        if not names:
            return
        _run_modules(project, names, integration, pytest_args)
    elif modules:
        _run_modules(project, _known(project, modules), integration, pytest_args)
    else:
        _run_all(project, pytest_args)


def _known(project: Project, modules: list[str]) -> list[str]:
    return project.module_registry().select(modules)


def _affected(project: Project, base: str | None) -> list[str]:
    from trading_cli.testing.affected import affected_modules

    found = affected_modules(project, base)
    if not found.modules:
        typer.echo(f"no module changed since {found.base}; nothing to test")
    else:
        typer.echo(f"affected since {found.base}: {', '.join(found.modules)}")
    return found.modules


def _run_modules(
    project: Project, names: list[str], integration: bool, pytest_args: list[str]
) -> None:
    from trading_cli.testing.steps import PYTEST_NO_TESTS, pytest_command, run_pytest

    folders = [_tests_folder(project, name) for name in names]
    code = run_pytest(
        project, pytest_command(folders, integration=integration, extra=pytest_args)
    )
    which = ", ".join(names)
    if code == PYTEST_NO_TESTS:
        raise CliError(f"pytest collected no tests for {which}; add test_*.py files")
    if code == 4:  # pytest's own usage error, already explained above
        raise CliError("pytest rejected its arguments", exit_code=EXIT_USAGE)
    if code != 0:
        raise CliError(f"tests of {which} failed (pytest exit {code})")


def _tests_folder(project: Project, name: str) -> Path:
    from trading_api.conventions import package_for

    folder = project.modules_dir / package_for(name) / "tests"
    if not folder.is_dir():
        where = folder.relative_to(project.root)
        raise CliError(f"module {name!r} has no tests folder; add {where}/test_*.py")
    return folder


def _run_all(project: Project, pytest_args: list[str]) -> None:
    from trading_cli.testing.steps import run_ci

    results = run_ci(project, pytest_args)
    for result in results:
        if result.failed and result.output:
            typer.echo(f"\n--- {result.name}: {result.status} ---\n{result.output}")
    typer.echo("")
    print_table(
        "trading test",
        ["step", "result", "seconds"],
        [[r.name, r.status, f"{r.seconds:.1f}"] for r in results],
    )
    failed = [r.name for r in results if r.failed]
    if failed:
        raise CliError(f"{len(failed)} step(s) failed: {', '.join(failed)}")
