"""`trading dev` as a command: its options, its errors before anything starts,
and how it stops."""

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .harness import DEMO, Dev, answers, descendants, module_dir, poll, running, save

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dev loop forks; Linux only"
)


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Cli = Callable[..., CliOutcome]
Trading = Callable[..., subprocess.CompletedProcess[str]]


def test_modules_option_serves_only_those(dev_factory: Callable[..., Dev]) -> None:
    dev = dev_factory("--modules", "other")

    assert dev.wait_for(r"^serving ").startswith("serving core, other on ")
    assert httpx.get(f"{dev.url}/api/v1/other/ping").json() == {"module": "other"}
    assert httpx.get(f"{dev.url}/api/v1/core/health").status_code == 200
    assert httpx.get(f"{dev.url}/api/v1/demo/greeting").status_code == 404


def test_unknown_module_is_usage_error_before_starting(project: Path, cli: Cli) -> None:
    result = cli(project, "dev", "--port", "0", "--modules", "demo,nope,gone")

    assert result.code == 2
    assert result.err == (
        "error: unknown modules 'nope', 'gone'; known modules: core, demo, other\n"
    )
    assert result.out == ""
    assert not (module_dir(project, "demo") / "ws_generated").exists()


def test_unknown_module_exits_2_with_one_line(project: Path, trading: Trading) -> None:
    result = trading(project, "dev", "--port", "0", "--modules", "nope")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    assert "unknown module 'nope'; known modules: core, demo, other" in result.stderr
    assert result.stdout == ""


def test_busy_port_is_a_failure_naming_the_port(project: Path, cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(project, "dev", "--port", str(port))

    assert result.code == 1
    assert result.err == (
        f"error: port {port} on 127.0.0.1 is already in use; stop what uses it or "
        "pick another with --port (0 picks a free one)\n"
    )


def test_ctrl_c_stops_every_process(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    poll(answers(f"{dev.url}/api/v1/demo/greeting", {"text": "hello"}), "the server")
    save(
        module_dir(project, "demo") / "api.py",
        DEMO["api.py"].replace('"hello"', '"hey"'),
    )
    poll(answers(f"{dev.url}/api/v1/demo/greeting", {"text": "hey"}), "the reload")
    children = descendants(dev.process.pid)
    assert len(children) >= 3  # zygote, spawner, server

    assert dev.stop() == 0

    poll(lambda: not any(map(running, children)), "every child process to end")
    assert dev.lines[-1] == "trading dev: stopped"


def test_no_reload_serves_until_ctrl_c(dev_factory: Callable[..., Dev]) -> None:
    dev = dev_factory("--no-reload", "--modules", "demo")
    poll(answers(f"{dev.url}/api/v1/demo/greeting", {"text": "hello"}), "the server")

    assert descendants(dev.process.pid) == []
    assert dev.stop() == 0
