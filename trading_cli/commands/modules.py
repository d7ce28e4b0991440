"""``trading modules``: what modules the project has and what each serves."""

import re
from pathlib import Path
from typing import Any

import typer

from trading_cli.errors import CliError
from trading_cli.output import print_json, print_table
from trading_cli.project import Project, find_project

_TEST_FUNCTION = re.compile(r"^\s*(?:async\s+)?def test_", re.MULTILINE)


def modules_command(
    json_output: bool = typer.Option(
        False, "--json", help="Print a JSON list (stable keys) instead of a table."
    ),
) -> None:
    """List the modules: name, package, mount path, REST and WS routes, tests."""
    project = find_project()
    rows = describe_modules(project)
    if json_output:
        print_json(rows)
    else:
        print_table(
            "Modules",
            ["name", "package", "mount path", "REST", "WS", "tests"],
            [
                [
                    row["name"],
                    row["package"],
                    row["mount_path"],
                    str(row["rest_routes"]),
                    ", ".join(row["ws_routes"]) or "-",
                    str(row["tests"]),
                ]
                for row in rows
            ],
        )
    broken = [row for row in rows if row.get("error")]
    if broken:
        raise CliError(broken[0]["error"])


def describe_modules(project: Project) -> list[dict[str, Any]]:
    """One record per discovered module; a module that fails to load carries
    its error instead of route counts."""
    registry = project.module_registry()
    from fastapi.routing import APIRoute

    from trading_api.conventions import mount_path
    from trading_api.shared.errors import TradingError

    rows = []
    for name in registry.names:
        entry = registry.entry(name)
        row: dict[str, Any] = {
            "name": name,
            "package": entry.package,
            "mount_path": mount_path(name),
            "rest_routes": 0,
            "ws_routes": [],
            "tests": count_tests(entry.package_dir / "tests"),
        }
        try:
            module = registry.create_module(name)
        except TradingError as exc:
            row["error"] = str(exc)
        else:
            row["rest_routes"] = sum(
                isinstance(route, APIRoute)
                for router in module.api_routers
                for route in router.routes
            )
            row["ws_routes"] = [router.route for router in module.ws_routers]
        rows.append(row)
    return rows


def count_tests(tests_dir: Path) -> int:
    """The number of test functions in a module's tests folder."""
    return sum(
        len(_TEST_FUNCTION.findall(path.read_text(encoding="utf-8")))
        for path in sorted(tests_dir.glob("test_*.py"))
    )
