"""``trading doctor``: each check's verdict and the fix it suggests."""

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CopyProject = Callable[..., Path]
Trading = Callable[..., subprocess.CompletedProcess[str]]


def findings(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    return {row["check"]: row for row in json.loads(result.stdout)}


def test_a_ready_checkout_passes_every_required_check(trading: Trading) -> None:
    result = trading(ROOT, "doctor", "--port", "0", "--json")
    rows = findings(result)
    assert result.returncode == 0, result.stderr
    assert {"Python >= 3.11", "git", "generated WS routers"} <= set(rows)
    assert all(row["state"] != "FAIL" for row in rows.values())


def test_a_busy_port_fails_and_suggests_another(trading: Trading) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = trading(ROOT, "doctor", "--port", str(port), "--json")
    row = findings(result)[f"port {port} free"]
    assert result.returncode == 1
    assert row["state"] == "FAIL"
    assert "--port 0" in row["fix"]
    assert result.stderr.strip().endswith(f"failed: port {port} free")


def test_stale_generated_code_names_the_command_that_fixes_it(
    project_copy: CopyProject, trading: Trading, tmp_path: Path
) -> None:
    project = project_copy(tmp_path / "project")
    ws = project / "src/trading_api/modules/datafeed/ws.py"
    ws.write_text(ws.read_text() + "\nExtraRouter: TypeAlias = WsRouter[Bar, Bar]\n")
    row = findings(trading(project, "doctor", "--port", "0", "--json"))[
        "generated WS routers"
    ]
    assert row == {
        "check": "generated WS routers",
        "state": "FAIL",
        "found": "stale: datafeed",
        "fix": "trading specs build",
        "required": True,
    }


def test_missing_node_is_a_warning_with_the_install_step(
    trading: Trading, tmp_path: Path
) -> None:
    tools = tmp_path / "bin"  # git and python, but no node
    tools.mkdir()
    git = shutil.which("git")
    assert git is not None
    (tools / "git").symlink_to(git)
    path = os.pathsep.join([str(tools), str(Path(sys.executable).parent)])
    result = trading(ROOT, "doctor", "--port", "0", "--json", env={"PATH": path})
    row = findings(result)["AsyncAPI parser (node)"]
    assert result.returncode == 0, result.stderr
    assert row["state"] == "warn"
    assert row["found"].startswith("node not found")
    assert "npm ci" in row["fix"]
