"""``trading doctor``: each check's verdict and the fix it suggests."""

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CopyProject = Callable[..., Path]
Cli = Callable[..., "CliOutcome"]


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


def findings(output: str) -> dict[str, dict[str, str]]:
    return {row["check"]: row for row in json.loads(output)}


def tools_without(tmp_path: Path, *wanted: str) -> str:
    """A PATH with only ``wanted`` (linked from the real PATH) and this Python."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in wanted:
        found = shutil.which(name)
        assert found is not None, f"{name} is needed to run this test"
        (tools / name).symlink_to(found)
    return os.pathsep.join([str(tools), str(Path(sys.executable).parent)])


def test_a_ready_checkout_passes_every_required_check(cli: Cli) -> None:
    result = cli(ROOT, "doctor", "--port", "0", "--json")
    rows = findings(result.out)
    assert result.code == 0, result.err
    assert {"Python >= 3.11", "git", "generated WS routers"} <= set(rows)
    assert all(row["state"] != "FAIL" for row in rows.values())


def test_a_busy_port_fails_and_suggests_another(cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli(ROOT, "doctor", "--port", str(port), "--json")
    row = findings(result.out)[f"port {port} free"]
    assert result.code == 1
    assert row["state"] == "FAIL"
    assert "--port 0" in row["fix"]
    assert result.err.strip().endswith(f"failed: port {port} free")


def test_a_port_in_time_wait_counts_as_free(cli: Cli) -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        server.close()  # the server closes first: its side waits in TIME_WAIT
        client.close()
    result = cli(ROOT, "doctor", "--port", str(port), "--json")
    assert findings(result.out)[f"port {port} free"]["state"] == "ok"


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_a_usage_error(cli: Cli, port: str) -> None:
    result = cli(ROOT, "doctor", "--port", port)
    assert result.code == 2
    assert "Invalid value for '--port'" in result.err
    assert "unexpected" not in result.err


def test_stale_generated_code_names_the_command_that_fixes_it(
    project_copy: CopyProject, cli: Cli, tmp_path: Path
) -> None:
    project = project_copy(tmp_path / "project")
    ws = project / "src/trading_api/modules/datafeed/ws.py"
    ws.write_text(ws.read_text() + "\nExtraRouter: TypeAlias = WsRouter[Bar, Bar]\n")
    result = cli(project, "doctor", "--port", "0", "--json")
    assert findings(result.out)["generated WS routers"] == {
        "check": "generated WS routers",
        "state": "FAIL",
        "found": "stale: datafeed",
        "fix": "trading specs build",
        "required": True,
    }


def test_missing_node_is_a_warning_with_the_install_step(
    cli: Cli, tmp_path: Path
) -> None:
    path = tools_without(tmp_path, "git")
    result = cli(ROOT, "doctor", "--port", "0", "--json", env={"PATH": path})
    row = findings(result.out)["AsyncAPI parser (node)"]
    assert result.code == 0, result.err
    assert row["state"] == "warn"
    assert row["found"] == "node not found"
    assert row["fix"].startswith("install Node.js >= 18, then")
    assert "npm ci" in row["fix"]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node itself")
def test_node_without_npm_ci_asks_only_for_npm_ci(
    project_copy: CopyProject, tmp_path: Path
) -> None:
    # A fresh clone: its own trading_cli and no node_modules anywhere above it.
    clone = project_copy(
        tmp_path / "clone",
        parts=(
            "pyproject.toml",
            ".copier-answers.yml",
            "src",
            "templates",
            "trading_cli",
        ),
    )
    result = subprocess.run(
        [sys.executable, "-m", "trading_cli.main", "doctor", "--port", "0", "--json"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(clone / "src"), "NO_COLOR": "1"},
    )
    row = findings(result.stdout)["AsyncAPI parser (node)"]
    assert row["state"] == "warn"
    assert row["found"].endswith("@asyncapi/parser not installed")
    assert row["found"].startswith("node v")
    assert row["fix"] == "run `npm ci --ignore-scripts` at the project root"


def test_a_change_left_by_a_killed_command_is_reported(
    project_copy: CopyProject, cli: Cli, tmp_path: Path
) -> None:
    project = project_copy(tmp_path / "project")
    stale = project / ".run" / "new-module-abc123"
    (stale / "orphan").mkdir(parents=True)
    result = cli(project, "doctor", "--port", "0", "--json")
    row = findings(result.out)["interrupted changes"]
    assert row["state"] == "warn"
    assert row["found"] == ".run/new-module-abc123"
    assert "delete .run/new-module-abc123" in row["fix"]
