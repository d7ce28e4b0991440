"""The ``trading`` command: start-up cost, discovery, output and errors."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import trading_api

PROJECT_ROOT = Path(trading_api.__file__).resolve().parents[2]
Trading = Callable[..., subprocess.CompletedProcess[str]]
Cli = Callable[..., Any]
HEAVY = ["fastapi", "uvicorn", "copier", "httpx", "jinja2", "rich", "pydantic", "typer"]
HELP_PROBE = """
import json, sys
from trading_cli.main import run
sys.argv = ["trading", "--help"]
try:
    run()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def test_importing_the_cli_loads_no_heavy_library() -> None:
    probe = "import json, sys, trading_cli.main\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert [name for name in HEAVY if name in loaded] == []
    # Not even the error root: `trading --help` needs none of it.
    assert [name for name in loaded if name.startswith("trading_api")] == []
    assert [name for name in loaded if name.startswith("trading_cli.")] == [
        "trading_cli.main"
    ]


def test_help_lists_every_command_without_importing_one() -> None:
    result = subprocess.run(
        [sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, check=True
    )
    listed = [
        line.split()[0]
        for line in result.stdout.split("Commands:\n", 1)[1].splitlines()
        if line.strip()
    ]
    assert listed[:4] == ["dev", "test", "modules", "new-module"]
    assert {"specs", "clients", "db", "up", "down", "doctor"} <= set(listed)
    assert "  new-module     Create a module from templates/module.\n" in (
        result.stdout
    )
    loaded = json.loads(result.stderr)
    assert [name for name in loaded if name.startswith("trading_cli.commands")] == []


def test_every_listed_command_shows_its_own_help(cli: Cli) -> None:
    listing = cli(PROJECT_ROOT, "--help").out.split("Commands:\n", 1)[1]
    names = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert len(names) == 16
    for name in names:
        result = cli(PROJECT_ROOT, name, "--help")
        assert result.code == 0, (name, result.err)
        assert result.out.startswith(f"Usage: trading {name} [OPTIONS]"), name


def test_help_lists_commands_with_short_and_long_flag(cli: Cli) -> None:
    short, long = cli(PROJECT_ROOT, "-h"), cli(PROJECT_ROOT, "--help")
    assert short.code == 0
    assert short.out == long.out
    assert "new-module" in short.out
    assert "modules" in short.out


def test_console_script_prints_help_in_a_fresh_process(trading: Trading) -> None:
    # The one subprocess here: the installed entry point, as a shell runs it.
    result = trading(PROJECT_ROOT, "--help")
    assert result.returncode == 0
    assert "new-module" in result.stdout


def _typer_root_help(monkeypatch: pytest.MonkeyPatch, columns: int) -> str:
    """The root help as typer itself formats it for a terminal of ``columns``."""
    import typer.main
    from typer._click import Context

    from trading_cli.main import app

    monkeypatch.setenv("COLUMNS", str(columns))
    command = typer.main.get_command(app)
    return command.get_help(
        Context(command, info_name="trading", **command.context_settings)
    )


@pytest.mark.parametrize("columns", [20, 50, 52, 61, 62, 70, 79, 80, 81, 200])
def test_fast_help_is_typers_help_at_every_width(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    from trading_cli.root_help import root_help

    expected = _typer_root_help(monkeypatch, columns)
    assert "Commands:\n  dev " in expected
    assert root_help() == expected


def test_help_and_no_arguments_answer_as_typer_does(
    monkeypatch: pytest.MonkeyPatch, trading: Trading
) -> None:
    expected = _typer_root_help(monkeypatch, 70) + "\n"
    env = {"COLUMNS": "70"}
    for flag in ("--help", "-h"):
        shown = trading(PROJECT_ROOT, flag, env=env)
        assert (shown.returncode, shown.stdout, shown.stderr) == (0, expected, "")
    # Without arguments: the help on stderr, as a usage error.
    bare = trading(PROJECT_ROOT, env=env)
    assert (bare.returncode, bare.stdout, bare.stderr) == (2, "", expected)


def test_version_prints_the_package_version(cli: Cli) -> None:
    result = cli(PROJECT_ROOT, "--version")
    assert result.code == 0
    assert result.out.strip() == f"trading {trading_api.__version__}"


def test_modules_json_lists_core_with_its_mount_path(cli: Cli) -> None:
    result = cli(PROJECT_ROOT, "modules", "--json")
    assert result.code == 0, result.err
    rows = {row["name"]: row for row in json.loads(result.out)}
    assert rows["core"]["mount_path"] == "/api/v1/core"
    assert rows["core"]["rest_routes"] == 3
    assert rows["core"]["package"] == "core"


def test_modules_works_from_a_subfolder(cli: Cli) -> None:
    result = cli(PROJECT_ROOT / "src" / "trading_api" / "shared", "modules")
    assert result.code == 0, result.err
    assert "/api/v1/core" in result.out


def test_outside_a_checkout_is_one_line_error_exit_1(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "modules")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "cd into the project" in result.err
    assert "Traceback" not in result.err


def test_unknown_command_is_usage_error_exit_2(cli: Cli) -> None:
    result = cli(PROJECT_ROOT, "no-such-command")
    assert result.code == 2
    assert "No such command" in result.err


def test_unknown_module_is_a_usage_error_without_a_source_location(cli: Cli) -> None:
    result = cli(PROJECT_ROOT, "specs", "build", "--check", "nope")
    assert result.code == 2
    assert result.err.startswith(
        "error: unknown module 'nope'; known modules: core, auth, broker, "
    )
    assert result.err.count("\n") == 1
    assert ".py" not in result.err


def test_an_unexpected_exception_is_one_line_that_points_at_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from trading_cli.main import report

    code = report(KeyError("boom"))
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "error: unexpected KeyError: 'boom' (rerun with --debug for the traceback)\n"
    )
