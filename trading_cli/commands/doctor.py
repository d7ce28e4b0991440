"""``trading doctor``: check the machine and the checkout, and say how to fix."""

import typer

from trading_cli.errors import CliError
from trading_cli.output import print_json, print_table
from trading_cli.project import find_project


def doctor_command(
    port: int = typer.Option(
        8000,
        "--port",
        min=0,
        max=65535,
        help="The port `trading dev` will use, checked for being free (0: skip).",
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print a JSON list (stable keys) instead of a table."
    ),
) -> None:
    """Check Python, git, the dev port, generated code, the template, leftovers
    of interrupted commands, Node, nginx and Chromium; each problem comes with
    its fix."""
    from trading_cli.doctor import run_checks

    findings = run_checks(find_project(), port)
    if json_output:
        print_json(
            [
                {
                    "check": f.check,
                    "state": f.state,
                    "found": f.found,
                    "fix": "" if f.ok else f.fix,
                    "required": f.required,
                }
                for f in findings
            ]
        )
    else:
        print_table(
            "trading doctor",
            ["check", "state", "found", "fix"],
            [[f.check, f.state, f.found, "" if f.ok else f.fix] for f in findings],
        )
    failed = [f.check for f in findings if f.state == "FAIL"]
    if failed:
        raise CliError(f"{len(failed)} required check(s) failed: {', '.join(failed)}")
