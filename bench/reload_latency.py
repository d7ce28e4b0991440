"""Save-to-served latency of `trading dev` (swap and full reload) beside
`uvicorn --reload`, on the same tree in one run.

All run in one temporary copy of the project with every module enabled plus a
small probe module (a REST route and a WS route, so `trading dev` regenerates its
WS routers on every edit). Each edit rewrites the probe's api.py with a new value;
the clock stops when GET /api/v1/latency-probe/value returns it (a new connection
per poll, 5 ms apart). Rows:

* `trading dev`: a module edit takes the swap path (the probe module is
  replaced in the running server);
* `trading dev`, an edit of `broker` (or `datafeed`): the swap path on a real
  module; the edit appends a route answering the new value to its
  `__init__.py`;
* `trading dev --no-swap`: the same edit takes the full path (a new server);
* `uvicorn --reload`: a new cold process;
* `trading dev`, an edit of a shared model file: the full path, shared code
  re-imported too.

Also timed: start of the process to the first response. The `trading dev` rows
check that each reload line names the path expected, and run with `--verbose`:
the median of each phase the server reports (watcher, relay, WS routers, import,
build, start-up, and what runs after the new code serves) is printed below the
row. The load average is printed before and after: the machine is shared.

Run: python bench/reload_latency.py [--edits 9]
Budget: module edit to new code served, swap median < 100 ms; trading dev's
full reload no slower than uvicorn --reload.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' project copy and process driver

from tests.dev.harness import Process  # noqa: E402
from tests.projects import copy_project  # noqa: E402

PROBE = "latency_probe"
PROBE_URL = "/api/v1/latency-probe/value"
HEALTH_URL = "/api/v1/core/health"
TIMEOUT = 60.0

Check = Callable[[int, bytes], bool]

PROBE_FILES = {
    "__init__.py": """
        from typing import Any

        from fastapi import APIRouter

        from trading_api.shared.module_interface import Module
        from trading_api.shared.ws import WsRouter

        from . import ws_generated
        from .api import router
        from .service import ProbeService


        class LatencyProbeModule(Module):
            name = "latency-probe"
            description = "A module to edit while timing reloads."

            def __init__(self) -> None:
                self._service = ProbeService()

            @property
            def service(self) -> ProbeService:
                return self._service

            @property
            def api_routers(self) -> list[APIRouter]:
                return [router]

            @property
            def ws_routers(self) -> list[WsRouter[Any, Any]]:
                return [
                    getattr(ws_generated, name)(self._service)
                    for name in ws_generated.__all__
                ]
        """,
    "service.py": """
        from pydantic import BaseModel

        from trading_api.shared.ws import Publish


        class TickRequest(BaseModel):
            name: str


        class Tick(BaseModel):
            value: int


        class ProbeService:
            async def create_topic(self, topic: str, publish: Publish) -> None:
                publish(Tick(value=0))

            async def remove_topic(self, topic: str) -> None:
                pass
        """,
    "ws.py": """
        from typing import TypeAlias

        from trading_api.shared.ws import WsRouter

        from .service import Tick, TickRequest

        TicksRouter: TypeAlias = WsRouter[TickRequest, Tick]
        """,
}
API = """
from fastapi import APIRouter

from trading_api.models.latency_probe import OFFSET, Value
from trading_api.shared.auth import public

router = APIRouter()


@router.get("/value")
@public
async def value() -> Value:
    return Value(value={value} + OFFSET)
"""
MODEL = """
from pydantic import BaseModel

OFFSET = {offset}


class Value(BaseModel):
    value: int
"""


def copy_with_probe(dest: Path) -> None:
    """The project's sources (without caches, git or node_modules), and the
    probe module."""
    copy_project(dest)
    probe = dest / "src" / "trading_api" / "modules" / PROBE
    probe.mkdir()
    for name, text in PROBE_FILES.items():
        (probe / name).write_text(textwrap.dedent(text).lstrip())
    (probe / "api.py").write_text(API.format(value=0))
    (dest / "src" / "trading_api" / "models" / "latency_probe.py").write_text(
        MODEL.format(offset=0)
    )


def get(port: int, path: str) -> tuple[int, bytes] | None:
    """One GET on a fresh connection; None if the server does not answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return None
    finally:
        connection.close()


def wait_for(port: int, path: str, ok: Check) -> float:
    """Poll until ``ok(status, body)``; return the time it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < TIMEOUT:
        answer = get(port, path)
        if answer is not None and ok(*answer):
            return time.perf_counter() - start
        time.sleep(0.005)
    raise TimeoutError(f"{path} on port {port} did not answer as expected")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serves(value: int) -> Check:
    def ok(status: int, body: bytes) -> bool:
        return status == 200 and json.loads(body) == {"value": value}

    return ok


class Server(Process):
    """One server process under test on ``port``, its output kept."""

    def __init__(self, command: list[str], cwd: Path, port: int) -> None:
        super().__init__(command, cwd, {"PYTHONPATH": str(cwd / "src")})
        self.port = port

    def first_response(self) -> float:
        wait_for(self.port, HEALTH_URL, lambda status, _: status == 200)
        return time.perf_counter() - self.started


def measure(
    server: Server, edit: Callable[[int], None], values: range, url: str
) -> list[float]:
    """Latency of each edit, from the write to the first response showing it."""
    samples = []
    for value in values:
        time.sleep(0.5)  # let the previous reload and its spec build settle
        start = time.perf_counter()
        edit(value)
        wait_for(server.port, url, serves(value))
        samples.append(time.perf_counter() - start)
    return samples


ROUTE = """

from fastapi import APIRouter as _BenchRouter

from trading_api.shared.auth import public as _bench_public

_bench_router = _BenchRouter()


@_bench_router.get("/bench-value")
@_bench_public
async def _bench_value() -> dict[str, int]:
    return {{"value": {value}}}


_bench_routers = {cls}.api_routers.fget
{cls}.api_routers = property(lambda self: [*_bench_routers(self), _bench_router])
"""


def real_module_edit(package: str, cls: str) -> Callable[[Path], Callable[[int], None]]:
    """Append to a real module's ``__init__.py`` a route answering ``value``."""

    def edit(tree: Path) -> Callable[[int], None]:
        init = tree / "src" / "trading_api" / "modules" / package / "__init__.py"
        # Without the route an earlier row appended: appended twice, it recurses.
        original = init.read_text().partition(ROUTE.split("\n\n")[1])[0].rstrip()
        original += "\n"
        return lambda value: init.write_text(
            original + ROUTE.format(value=value, cls=cls)
        )

    return edit


def module_edit(tree: Path) -> Callable[[int], None]:
    """Rewrite the probe module's api.py so it answers ``value``."""
    api = tree / "src" / "trading_api" / "modules" / PROBE / "api.py"
    return lambda value: api.write_text(API.format(value=value))


def shared_edit(tree: Path) -> Callable[[int], None]:
    """Rewrite the shared model file (api.py answers 0 + OFFSET)."""
    module_edit(tree)(0)
    model = tree / "src" / "trading_api" / "models" / "latency_probe.py"
    return lambda value: model.write_text(MODEL.format(offset=value))


@dataclass(frozen=True)
class Row:
    """One way of editing the tree: what to write and where to read it back."""

    edit: Callable[[Path], Callable[[int], None]]
    url: str = PROBE_URL
    ready: str = PROBE_URL  # answers 200 once the server is ready to time


def run(
    label: str,
    command: list[str],
    tree: Path,
    row: Row,
    values: range,
    path: str | None = None,
) -> float:
    """Start the server, time the edits, print a row; return the median.

    ``path``: the reload path (``swap``, ``full``) every reload line must name.
    """
    port = free_port()
    server = Server([arg.replace("PORT", str(port)) for arg in command], tree, port)
    try:
        startup = server.first_response()
        wait_for(port, row.ready, lambda status, _: status == 200)
        samples = measure(server, row.edit(tree), values, row.url)
    except Exception:
        told = [line for line in server.lines if "GET /api" not in line]
        print("\n".join(told), file=sys.stderr)  # what it said but the polls
        raise
    finally:
        server.stop()
    if path is not None:
        reloads = [line for line in server.lines if line.startswith("reloaded in")]
        reloads = reloads[-len(samples) :]  # the edits timed, not the set-up's
        wrong = [line for line in reloads if f"({path})" not in line]
        if len(reloads) < len(samples) or wrong:
            raise RuntimeError(f"{label}: expected {path} reloads, got {reloads}")
    median = statistics.median(samples)
    shown = " ".join(f"{s * 1000:.0f}" for s in samples)
    print(
        f"{label:44s} start {startup * 1000:6.0f} ms   reload median "
        f"{median * 1000:6.0f} ms   ({shown})",
        flush=True,
    )
    phases = [line for line in server.lines if line.startswith("  phases (ms): ")]
    if phases:
        print(f"{'':44s} {median_phases(phases[-len(samples) :])}", flush=True)
    return median


def median_phases(lines: list[str]) -> str:
    """The median of each phase over ``--verbose`` phase lines."""
    values: dict[str, list[float]] = {}
    for line in lines:
        text = line.removeprefix("  phases (ms): ")
        before, _, after = text.partition("; then ")
        before, _, served = before.partition(" = served in ")
        for part in [*before.split(", "), *after.split(", ")]:
            if part:
                name, _, number = part.rpartition(" ")
                values.setdefault(name, []).append(float(number))
        values.setdefault("= served", []).append(float(served.split()[0]))
    return "phase medians (ms): " + ", ".join(
        f"{name} {statistics.median(numbers):.0f}" for name, numbers in values.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=9)
    edits = max(parser.parse_args().edits, 5)
    python = sys.executable
    dev = [python, "-m", "trading_cli.main", "dev", "--verbose", "--port", "PORT"]
    uvicorn = [python, "-m", "uvicorn", "trading_api.main:app", "--reload"]
    uvicorn += ["--reload-dir", "src", "--port", "PORT"]
    probe = Row(module_edit)
    broker = Row(
        real_module_edit("broker", "BrokerModule"),
        url="/api/v1/broker/bench-value",
        ready=HEALTH_URL,
    )
    datafeed = Row(
        real_module_edit("datafeed", "DatafeedModule"),
        url="/api/v1/datafeed/bench-value",
        ready=HEALTH_URL,
    )
    print(f"load average before: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as tmp:
        tree = Path(tmp) / "project"
        copy_with_probe(tree)
        values = iter(range(100, 10_000, 100))

        def next_values() -> range:
            first = next(values)
            return range(first, first + edits)

        label = "trading dev, module edit: swap"
        swap = run(label, dev, tree, probe, next_values(), "swap")
        label = "trading dev, broker edit: swap"
        run(label, dev, tree, broker, next_values(), "swap")
        label = "trading dev, datafeed edit: swap"
        run(label, dev, tree, datafeed, next_values(), "swap")
        label = "trading dev --no-swap, module edit: full"
        no_swap = [*dev, "--no-swap"]
        full = run(label, no_swap, tree, probe, next_values(), "full")
        label = "uvicorn --reload, module edit"
        cold = run(label, uvicorn, tree, probe, next_values())
        label = "trading dev, models/ edit: full"  # last: it sets OFFSET
        run(label, dev, tree, Row(shared_edit), next_values(), "full")
    print(f"load average after: {load()}")
    print(f"ratio swap / full reload:             {swap / full:.2f}")
    print(f"ratio swap / uvicorn --reload:        {swap / cold:.2f}")
    print(f"ratio full reload / uvicorn --reload: {full / cold:.2f}")


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
