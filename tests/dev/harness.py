"""What the dev loop's tests share: a running `trading dev`, the files they
write into a project copy, and waiting on what a user sees.

``bench/reload_latency.py`` drives its servers through :class:`Process` and
:class:`Dev` too (it imports this file with the checkout on ``sys.path``).
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from trading_api.shared.testing import http_get
from trading_cli.dev.loop_guard import LoopGuard

SERVER_OUTCOME = r"^(serving |reloaded in |error: )"
"""The lines ``trading dev`` prints once a server is up or has failed."""
TIMEOUT = 60.0
BUILD_TIMEOUT = 100.0
"""Specs and clients are rebuilt at a low priority: on a machine busy with other
work they may wait much longer than a reload."""

GREETING_MODEL = """
from pydantic import BaseModel


class Greeting(BaseModel):
    text: str
"""

DEMO = {
    "__init__.py": """
        from typing import Any

        from fastapi import APIRouter

        from trading_api.shared.module_interface import Module
        from trading_api.shared.ws import WsRouter

        from . import ws_generated
        from .api import router
        from .service import DemoService


        class DemoModule(Module):
            name = "demo"
            description = "A module the dev loop tests edit."
            public_ws_routes = frozenset({"echo", "ticker"})

            def __init__(self) -> None:
                self._service = DemoService()

            @property
            def service(self) -> DemoService:
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
            symbol: str


        class Tick(BaseModel):
            symbol: str
            price: float


        class DemoService:
            async def create_topic(self, topic: str, publish: Publish) -> None:
                publish(Tick(symbol=topic, price=1.5))

            async def remove_topic(self, topic: str) -> None:
                pass
        """,
    "ws.py": """
        from typing import TypeAlias

        from trading_api.shared.ws import WsRouter

        from .service import Tick, TickRequest

        EchoRouter: TypeAlias = WsRouter[TickRequest, Tick]
        """,
    "api.py": """
        from fastapi import APIRouter

        from trading_api.models.greeting import Greeting
        from trading_api.shared.auth import public

        router = APIRouter()


        @router.get("/greeting")
        @public  # the dev loop's tests are not about access
        async def greeting() -> Greeting:
            return Greeting(text="hello")
        """,
}

OTHER = """
from fastapi import APIRouter

from trading_api.shared.auth import public
from trading_api.shared.module_interface import Module

router = APIRouter()


@router.get("/ping")
@public
async def ping() -> dict[str, str]:
    return {"module": "other"}


class OtherModule(Module):
    name = "other"

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return [router]
"""

TICKER = "TickerRouter: TypeAlias = WsRouter[TickRequest, Tick]\n"

# A module that writes into its own package every time a server starts.
LOOPER = """
import time
from pathlib import Path

from fastapi import APIRouter

from trading_api.shared.module_interface import Module


class LooperModule(Module):
    name = "looper"

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return []

    async def on_startup(self) -> None:
        (Path(__file__).parent / "stamp.txt").write_text(str(time.time_ns()))
"""


def write_module(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())


def demo_project(root: Path) -> Path:
    """Add ``demo`` and ``other`` (and the model demo serves) to a project copy."""
    package = root / "src" / "trading_api"
    (package / "models" / "greeting.py").write_text(GREETING_MODEL)
    write_module(package / "modules" / "demo", DEMO)
    write_module(package / "modules" / "other", {"__init__.py": OTHER})
    return root


def save(path: Path, text: str) -> None:
    """Save like an editor: the whole file at once."""
    path.write_text(textwrap.dedent(text).lstrip())


class Process:
    """A running command and everything it printed (stdout and stderr, in order).

    The dev loop's tests and ``bench/reload_latency.py`` drive their servers
    through this.
    """

    def __init__(
        self, command: list[str], cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.read_at: list[float] = []
        """When each line was read (``time.monotonic()``)."""
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self.read_at.append(time.monotonic())
                self._changed.notify_all()

    def mark(self) -> int:
        """How many lines were printed so far: a ``since`` for the next waits."""
        with self._changed:
            return len(self.lines)

    def wait_for(
        self, pattern: str, count: int = 1, since: int = 0, timeout: float = TIMEOUT
    ) -> str:
        """The ``count``-th line matching ``pattern`` printed after the first
        ``since`` lines, waiting for it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines[since:] if regex.search(line)]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    output = "\n".join(self.lines)
                    raise AssertionError(f"no line matching {pattern!r}:\n{output}")
                self._changed.wait(timeout=min(left, 0.5))

    def last_read(self, pattern: str) -> float | None:
        """When the last line matching ``pattern`` was read, if one was."""
        regex = re.compile(pattern)
        with self._changed:
            pairs = zip(self.lines, self.read_at, strict=True)
            for line, moment in reversed(list(pairs)):
                if regex.search(line):
                    return moment
        return None

    def count(self, pattern: str, since: int = 0) -> int:
        with self._changed:
            lines = self.lines[since:]
            return sum(bool(re.search(pattern, line)) for line in lines)

    def stop(self) -> int:
        """Stop it as Ctrl-C does; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


class Dev(Process):
    """A running ``trading dev ARGS`` on a free port, in project ``root``."""

    def __init__(
        self, root: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        command = [sys.executable, "-m", "trading_cli.main", "dev", "--port", "0"]
        super().__init__([*command, *args], root, env)

    def pace_like_a_person(self) -> None:
        """Wait out the loop guard's grace after the last server came up (or
        failed to) before the next save: a save that lands within it counts as
        caused by the reload. No wait when that was longer ago."""
        grace = LoopGuard().grace + 0.05
        last = self.last_read(SERVER_OUTCOME)
        if last is not None:
            time.sleep(max(0.0, last + grace - time.monotonic()))

    @property
    def auth(self) -> dict[str, str]:
        """The ``Authorization`` header of the development token dev printed."""
        line = self.wait_for(r"development token")
        return {"Authorization": f"Bearer {line.rsplit(' ', 1)[-1]}"}

    @property
    def url(self) -> str:
        line = self.wait_for(r"^serving .* on http://")
        match = re.search(r"on (http://\S+) ", line)
        assert match is not None
        return match.group(1)


def poll(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait until ``check()`` holds; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers(url: str, expected: object, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            response = http_get(url, timeout=10)
        except httpx.TransportError:
            return False
        return response.status_code == status and (
            expected is None or response.json() == expected
        )

    return check


def module_dir(project: Path, package: str) -> Path:
    return project / "src" / "trading_api" / "modules" / package


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return sorted(found)


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
