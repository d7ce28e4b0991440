"""`trading dev` as a command: its options, its errors before anything starts,
and how it stops.

One server (`--modules other --no-build`) serves the tests of the options and
of Ctrl-C, in this order: Ctrl-C stops it, and the last test reads what it left.
"""

import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trading_api.shared.testing import http_get

from .harness import (
    OTHER,
    Dev,
    answers,
    demo_project,
    descendants,
    module_dir,
    poll,
    running,
    save,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dev loop forks; Linux only"
)


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Cli = Callable[..., CliOutcome]
CopyProject = Callable[..., Path]


@dataclass
class Served:
    """The shared dev server and its project."""

    dev: Dev
    project: Path


@pytest.fixture(scope="module")
def other(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`trading dev --modules other --no-build` in a project that has `demo`
    too."""
    folder = tmp_path_factory.mktemp("dev-command")
    root = demo_project(project_copy(folder / "project", modules=["core"]))
    dev = Dev(root, "--modules", "other", "--no-build")
    try:
        yield Served(dev, root)
    finally:
        dev.stop()


def test_modules_option_serves_only_those(other: Served) -> None:
    dev = other.dev

    assert dev.wait_for(r"^serving ").startswith("serving core, other on ")
    assert http_get(f"{dev.url}/api/v1/other/ping").json() == {"module": "other"}
    assert http_get(f"{dev.url}/api/v1/core/health").status_code == 200
    assert http_get(f"{dev.url}/api/v1/demo/greeting").status_code == 404


def test_unknown_module_is_usage_error_before_starting(project: Path, cli: Cli) -> None:
    result = cli(project, "dev", "--port", "0", "--modules", "demo,nope,gone")

    assert result.code == 2
    assert result.err == (
        "error: unknown modules 'nope', 'gone'; known modules: core, demo, other\n"
    )
    assert result.out == ""
    assert not (module_dir(project, "demo") / "ws_generated").exists()


def test_unknown_module_exits_2_with_one_line(project: Path, cli: Cli) -> None:
    result = cli(project, "dev", "--port", "0", "--modules", "nope")

    assert result.code == 2, result.out + result.err
    assert result.err.count("\n") == 1
    assert "unknown module 'nope'; known modules: core, demo, other" in result.err
    assert result.out == ""


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


def test_ctrl_c_stops_every_process(other: Served) -> None:
    dev = other.dev
    ping = f"{dev.url}/api/v1/other/ping"
    poll(answers(ping, {"module": "other"}), "the server")
    save(
        module_dir(other.project, "other") / "__init__.py",
        OTHER.replace('{"module": "other"}', '{"module": "edited"}'),
    )
    poll(answers(ping, {"module": "edited"}), "the reload")
    children = descendants(dev.process.pid)
    assert len(children) >= 3  # zygote, spawner, server

    assert dev.stop() == 0

    poll(lambda: not any(map(running, children)), "every child process to end")
    assert dev.lines[-1] == "trading dev: stopped"


def test_no_build_is_told_and_leaves_specs_and_clients_as_they_are(
    other: Served,
) -> None:
    merged = other.project / "src" / "trading_api" / "specs_generated"
    checkout = Path(__file__).resolve().parents[2] / "src" / "trading_api"

    assert other.dev.process.poll() is not None  # through a start and a reload
    starting = other.dev.wait_for(r"^trading dev: starting on ")
    assert starting.endswith(" (specs and clients are not rebuilt: --no-build)")
    # A build would have made the merged OpenAPI document of core and other.
    assert (merged / "openapi.json").read_bytes() == (
        checkout / "specs_generated" / "openapi.json"
    ).read_bytes()
    assert other.dev.count(r"^rebuilt specs and clients") == 0
