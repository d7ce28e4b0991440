"""``trading boundaries``: imports that cross module boundaries."""

import typer

from trading_cli.errors import CliError
from trading_cli.output import print_json
from trading_cli.project import find_project


def boundaries_command(
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print {ok, modules, violations} as JSON (stable keys) instead of lines.",
    ),
) -> None:
    """Check import boundaries: each module imports only trading_api.shared,
    trading_api.models and itself; shared and models never import a module;
    trading_api never imports trading_cli.

    Every discovered module is covered, generated code included. Each violation
    prints as file:line, importer, imported module and rule; exit 1 when any.
    """
    from trading_cli.boundaries import check_boundaries

    report = check_boundaries(find_project())
    if json_output:
        print_json(
            {
                "ok": not report.violations,
                "modules": report.modules,
                "violations": [v.as_dict() for v in report.violations],
            }
        )
    else:
        for v in report.violations:
            typer.echo(
                f"{v.file}:{v.line}: {v.importer} imports {v.imported} "
                f"[{v.rule}: {v.explanation}]"
            )
    if report.violations:
        raise CliError(
            f"{len(report.violations)} import(s) cross a module boundary; import "
            "through trading_api.shared or trading_api.models instead"
        )
    if not json_output:
        typer.echo(f"boundaries ok: {len(report.modules)} modules checked")
