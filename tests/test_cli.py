"""The ``trading`` command: start-up cost, discovery, output and errors."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import trading_api

PROJECT_ROOT = Path(trading_api.__file__).resolve().parents[2]
Trading = Callable[..., subprocess.CompletedProcess[str]]
HEAVY = ["fastapi", "uvicorn", "copier", "httpx", "jinja2", "rich", "pydantic"]
LIGHT_RUNTIME = [
    "trading_api",
    "trading_api.conventions",
    "trading_api.shared",
    "trading_api.shared.errors",
]


def test_importing_the_cli_loads_no_heavy_library() -> None:
    probe = "import json, sys, trading_cli.main\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert [name for name in HEAVY if name in loaded] == []
    # Only the runtime's standard-library-only parts: its rules and error root.
    assert [name for name in loaded if name.startswith("trading_api")] == (
        LIGHT_RUNTIME
    )


def test_help_lists_commands_with_short_and_long_flag(trading: Trading) -> None:
    short, long = trading(PROJECT_ROOT, "-h"), trading(PROJECT_ROOT, "--help")
    assert short.returncode == 0
    assert short.stdout == long.stdout
    assert "modules" in short.stdout


def test_version_prints_the_package_version(trading: Trading) -> None:
    result = trading(PROJECT_ROOT, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"trading {trading_api.__version__}"


def test_modules_json_lists_core_with_its_mount_path(trading: Trading) -> None:
    result = trading(PROJECT_ROOT, "modules", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["core"]["mount_path"] == "/api/v1/core"
    assert rows["core"]["rest_routes"] == 3
    assert rows["core"]["package"] == "core"


def test_modules_works_from_a_subfolder(trading: Trading) -> None:
    result = trading(PROJECT_ROOT / "src" / "trading_api" / "shared", "modules")
    assert result.returncode == 0, result.stderr
    assert "/api/v1/core" in result.stdout


def test_outside_a_checkout_is_one_line_error_exit_1(
    tmp_path: Path, trading: Trading
) -> None:
    result = trading(tmp_path, "modules")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cd into the project" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_usage_error_exit_2(trading: Trading) -> None:
    result = trading(PROJECT_ROOT, "no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
