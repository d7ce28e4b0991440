"""Save-to-served latency of `trading dev` beside `uvicorn --reload`, same tree.

Both run in one temporary copy of the project with every module enabled plus a
small probe module (a REST route and a WS route, so `trading dev` regenerates its
WS routers on every edit). Each edit rewrites the probe's api.py with a new value;
the clock stops when GET /api/v1/latency-probe/value returns it (a new connection
per poll, 5 ms apart). Also timed: start of the process to the first response, an
edit of a shared model file (`trading dev` then also reloads the shared code), and
`trading dev --modules latency-probe`, the reload of one module alone.

Run: python bench/reload_latency.py [--edits 7]
Budget (DESIGN.md §9): trading dev <= uvicorn --reload; module hot-swap < 150 ms.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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

router = APIRouter()


@router.get("/value")
async def value() -> Value:
    return Value(value={value} + OFFSET)
"""
MODEL = """
from pydantic import BaseModel

OFFSET = {offset}


class Value(BaseModel):
    value: int
"""


def copy_project(dest: Path) -> None:
    """The project's sources, without caches, git or node_modules."""
    ignore = shutil.ignore_patterns("__pycache__", ".git", "node_modules")
    for name in ("pyproject.toml", ".copier-answers.yml"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    for name in ("src", "templates"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
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


class Server:
    """One server process under test, its output drained in a thread."""

    def __init__(self, command: list[str], cwd: Path, port: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(cwd / "src"), "NO_COLOR": "1"}
        self.port = port
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def first_response(self) -> float:
        wait_for(self.port, HEALTH_URL, lambda status, _: status == 200)
        return time.perf_counter() - self.started

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(server: Server, edit: Callable[[int], None], values: range) -> list[float]:
    """Latency of each edit, from the write to the first response showing it."""
    samples = []
    for value in values:
        time.sleep(0.5)  # let the previous reload and its spec build settle
        start = time.perf_counter()
        edit(value)
        wait_for(server.port, PROBE_URL, serves(value))
        samples.append(time.perf_counter() - start)
    return samples


def module_edit(tree: Path) -> Callable[[int], None]:
    """Rewrite the probe module's api.py so it answers ``value``."""
    api = tree / "src" / "trading_api" / "modules" / PROBE / "api.py"
    return lambda value: api.write_text(API.format(value=value))


def shared_edit(tree: Path) -> Callable[[int], None]:
    """Rewrite the shared model file (api.py answers 0 + OFFSET)."""
    module_edit(tree)(0)
    model = tree / "src" / "trading_api" / "models" / "latency_probe.py"
    return lambda value: model.write_text(MODEL.format(offset=value))


def run(
    label: str,
    command: list[str],
    tree: Path,
    edit: Callable[[Path], Callable[[int], None]],
    values: range,
) -> float:
    """Start the server, time the edits, print a row; return the median."""
    port = free_port()
    server = Server([arg.replace("PORT", str(port)) for arg in command], tree, port)
    try:
        startup = server.first_response()
        wait_for(port, PROBE_URL, lambda status, _: status == 200)
        samples = measure(server, edit(tree), values)
    except Exception:
        print("\n".join(server.lines[-30:]), file=sys.stderr)
        raise
    finally:
        server.stop()
    median = statistics.median(samples)
    shown = " ".join(f"{s * 1000:.0f}" for s in samples)
    print(
        f"{label:44s} start {startup * 1000:6.0f} ms   reload median "
        f"{median * 1000:6.0f} ms   ({shown})",
        flush=True,
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=7)
    edits = max(parser.parse_args().edits, 5)
    python = sys.executable
    dev = [python, "-m", "trading_cli.main", "dev", "--port", "PORT"]
    uvicorn = [python, "-m", "uvicorn", "trading_api.main:app", "--reload"]
    uvicorn += ["--reload-dir", "src", "--port", "PORT"]
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as tmp:
        tree = Path(tmp)
        copy_project(tree)
        values = iter(range(100, 10_000, 100))

        def next_values() -> range:
            first = next(values)
            return range(first, first + edits)

        label = "trading dev, module edit (all modules)"
        dev_median = run(label, dev, tree, module_edit, next_values())
        label = "uvicorn --reload, module edit (all modules)"
        uvicorn_median = run(label, uvicorn, tree, module_edit, next_values())
        one = [*dev, "--modules", "latency-probe"]
        label = "trading dev --modules latency-probe"
        run(label, one, tree, module_edit, next_values())
        label = "trading dev, models/ edit (all modules)"  # last: it sets OFFSET
        run(label, dev, tree, shared_edit, next_values())
    print(f"ratio trading dev / uvicorn --reload: {dev_median / uvicorn_median:.2f}")


if __name__ == "__main__":
    main()
