"""`trading dev`: a real dev server in a copy of the project, edited while it runs.

Each test starts `python -m trading_cli.main dev --port 0` in a temporary copy of
the project that holds `core` and small modules of its own (the real modules are
left out so the tests do not move with them), edits files the way an editor
would, and checks what a user sees: the responses, the files written, the lines
printed and the processes left behind.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from trading_api.shared.ws.testing import WsTestClient
from trading_cli.dev.loop_guard import LoopGuard
from trading_cli.dev.server import STATS_PATH
from trading_cli.lock import project_lock

TIMEOUT = 60.0
CopyProject = Callable[..., Path]
Cli = Callable[..., "CliOutcome"]


class CliOutcome:  # the conftest's, for annotations only
    code: int
    out: str
    err: str


Trading = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dev loop forks; Linux only"
)

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

        router = APIRouter()


        @router.get("/greeting")
        async def greeting() -> Greeting:
            return Greeting(text="hello")
        """,
}

OTHER = """
from fastapi import APIRouter

from trading_api.shared.module_interface import Module

router = APIRouter()


@router.get("/ping")
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


def save(path: Path, text: str) -> None:
    """Save like an editor: the whole file at once."""
    path.write_text(textwrap.dedent(text).lstrip())


class Dev:
    """A running `trading dev` and everything it printed."""

    def __init__(self, root: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trading_cli.main", "dev", "--port", "0", *args],
            cwd=root,
            env={**os.environ, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1) -> str:
        """The ``count``-th printed line matching ``pattern``, waiting for it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + TIMEOUT
        with self._changed:
            while True:
                found = [line for line in self.lines if regex.search(line)]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    output = "\n".join(self.lines)
                    raise AssertionError(f"no line matching {pattern!r}:\n{output}")
                self._changed.wait(timeout=min(left, 0.5))

    def count(self, pattern: str) -> int:
        with self._changed:
            return sum(bool(re.search(pattern, line)) for line in self.lines)

    @property
    def url(self) -> str:
        line = self.wait_for(r"^serving .* on http://")
        match = re.search(r"on (http://\S+) ", line)
        assert match is not None
        return match.group(1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """The project's sources with `core` as the only real module, plus demo and
    other."""
    root = project_copy(tmp_path / "project", modules=["core"])
    package = root / "src" / "trading_api"
    (package / "models" / "greeting.py").write_text(GREETING_MODEL)
    write_module(package / "modules" / "demo", DEMO)
    write_module(package / "modules" / "other", {"__init__.py": OTHER})
    return root


@pytest.fixture
def dev_factory(project: Path) -> Iterator[Callable[..., Dev]]:
    started: list[Dev] = []

    def start(*args: str) -> Dev:
        dev = Dev(project, *args)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.stop()


def poll(check: Callable[[], bool], what: str) -> None:
    """Wait until ``check()`` holds; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers(url: str, expected: object, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            response = httpx.get(url, timeout=10)
        except httpx.TransportError:
            return False
        return response.status_code == status and (
            expected is None or response.json() == expected
        )

    return check


def module_dir(project: Path, package: str) -> Path:
    return project / "src" / "trading_api" / "modules" / package


def test_edited_rest_handler_is_served(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory()
    greeting = f"{dev.url}/api/v1/demo/greeting"
    assert httpx.get(greeting).json() == {"text": "hello"}

    api = module_dir(project, "demo") / "api.py"
    save(api, DEMO["api.py"].replace('"hello"', '"bonjour"'))

    poll(answers(greeting, {"text": "bonjour"}), "the edited handler")
    line = dev.wait_for(r"^reloaded in \d+ ms")
    assert line.endswith(" (swap): modules/demo/api.py -> demo")


def test_requests_during_a_reload_are_all_answered(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    greeting = f"{dev.url}/api/v1/demo/greeting"
    answers_seen: list[object] = []

    def hammer() -> None:  # a new connection per request, as in a browser reload
        while not answers_seen or answers_seen[-1] != {"text": "new"}:
            try:
                response = httpx.get(greeting, timeout=10)
                answers_seen.append(response.json())
            except httpx.TransportError as exc:
                answers_seen.append(repr(exc))

    client = threading.Thread(target=hammer)
    client.start()
    poll(lambda: len(answers_seen) >= 3, "the first answers")
    save(
        module_dir(project, "demo") / "api.py",
        DEMO["api.py"].replace('"hello"', '"new"'),
    )
    client.join(timeout=TIMEOUT)

    assert not client.is_alive()
    assert set(map(str, answers_seen)) == {str({"text": "hello"}), str({"text": "new"})}


def test_edited_shared_model_is_served(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory()
    greeting = f"{dev.url}/api/v1/demo/greeting"
    assert httpx.get(greeting).json() == {"text": "hello"}

    model = project / "src" / "trading_api" / "models" / "greeting.py"
    save(model, GREETING_MODEL + '    lang: str = "en"\n')

    poll(answers(greeting, {"text": "hello", "lang": "en"}), "the edited model")
    line = dev.wait_for(r"^reloaded")
    assert line.endswith(" (full): models/greeting.py -> all modules")


def test_added_ws_route_is_generated_documented_and_served(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    demo = module_dir(project, "demo")
    dev.wait_for(r"^serving ")

    save(demo / "ws.py", DEMO["ws.py"] + TICKER)

    line = dev.wait_for(r"^reloaded in")
    assert "regenerated modules/demo/ws_generated/__init__.py, " in line
    assert "modules/demo/ws_generated/ticker_router.py" in line
    assert (demo / "ws_generated" / "ticker_router.py").is_file()
    spec = demo / "specs_generated" / "demo_asyncapi.json"
    poll(
        lambda: spec.is_file() and "ticker" in json.loads(spec.read_text())["channels"],
        "the ticker channel in demo_asyncapi.json",
    )
    served = httpx.get(f"{dev.url}/api/v1/demo/ws/asyncapi.json").json()
    assert "ticker" in served["channels"]
    update = asyncio.run(first_ticker_update(dev.url))
    assert update["price"] == 1.5


async def first_ticker_update(url: str, route: str = "ticker") -> dict[str, object]:
    async with WsTestClient.connect(f"{url}/api/v1/demo") as client:
        response = await client.subscribe(route, {"symbol": "X"})
        assert response["status"] == "ok", response
        update = await client.receive(f"{route}.update")
        payload: dict[str, object] = update["payload"]["payload"]
        return payload


def test_files_written_by_the_loop_cause_no_reload(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    demo = module_dir(project, "demo")
    dev.wait_for(r"^serving ")
    save(demo / "ws.py", DEMO["ws.py"] + TICKER)
    dev.wait_for(r"^reloaded in")
    # A build still running was cancelled by the reload: the next one is its own.
    builds = dev.count(r"^rebuilt specs and clients")
    built = dev.wait_for(r"^rebuilt specs and clients", count=builds + 1)
    assert "demo_asyncapi.json" in built

    # Events reach the watcher in order: a reload caused by the generated files
    # would come before the one this edit causes.
    save(demo / "api.py", DEMO["api.py"].replace('"hello"', '"hi"'))
    second = dev.wait_for(r"^reloaded in", count=2)

    assert "modules/demo/api.py" in second
    assert dev.count(r"^reloaded in") == 2


def test_syntax_error_in_a_module_keeps_its_old_code_serving(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    greeting = f"{dev.url}/api/v1/demo/greeting"
    api = module_dir(project, "demo") / "api.py"

    save(api, DEMO["api.py"].replace('text="hello")', 'text="hello"'))
    dev.wait_for(r"^error: demo failed to reload; its previous code keeps serving")
    where = dev.wait_for(r"modules/demo/api\.py:\d+")
    dev.wait_for(r"SyntaxError")
    assert httpx.get(greeting).json() == {"text": "hello"}

    save(api, DEMO["api.py"].replace('"hello"', '"fixed"'))
    poll(answers(greeting, {"text": "fixed"}), "the fixed handler")
    assert "api.py:" in where
    assert dev.wait_for(r"^reloaded in").endswith("(swap): modules/demo/api.py -> demo")


def test_syntax_error_in_shared_code_answers_503_until_fixed(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    greeting = f"{dev.url}/api/v1/demo/greeting"
    model = project / "src" / "trading_api" / "models" / "greeting.py"
    old_server = httpx.get(f"{dev.url}{STATS_PATH}").json()["pid"]

    save(model, GREETING_MODEL.replace("text: str", "text: str ="))
    dev.wait_for(r"^error: the app failed to load")
    where = dev.wait_for(r"models/greeting\.py:\d+")
    dev.wait_for(r"SyntaxError")
    poll(lambda: not running(old_server), "the old server to stop")
    failed = httpx.get(greeting)
    assert failed.status_code == 503
    assert "SyntaxError" in failed.json()["detail"], failed.text

    save(model, GREETING_MODEL + '    lang: str = "fr"\n')
    poll(answers(greeting, {"text": "hello", "lang": "fr"}), "the fixed model")
    assert "greeting.py:" in where


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


def test_reload_loop_is_paused_naming_the_file(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    write_module(module_dir(project, "looper"), {"__init__.py": LOOPER})
    dev = dev_factory("--modules", "demo,looper")
    allowed = LoopGuard().max_reloads

    loop = dev.wait_for(r"^error: reload loop")
    assert "modules/looper/stamp.txt" in loop
    looped = dev.wait_for(r"^reloaded in", count=allowed)
    assert "modules/looper/stamp.txt -> looper" in looped

    # Reloading stopped: the next reload is the one an edit of another file
    # causes, none in between.
    save(
        module_dir(project, "demo") / "api.py",
        DEMO["api.py"].replace('"hello"', '"back"'),
    )
    poll(
        answers(f"{dev.url}/api/v1/demo/greeting", {"text": "back"}),
        "the resumed reload",
    )
    resumed = dev.wait_for(r"^reloaded in", count=allowed + 1)
    assert "modules/demo/api.py -> demo" in resumed


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


# Module hot-swap: a save inside one module replaces only that module.

SWAPS = 10
MEMORY_BOUND = 16 * 1024 * 1024
"""Resident memory 50 swaps may add to a server, after a warm-up."""
WARM_UP_SWAPS = 20
"""Swaps before measuring: the first ones grow the allocator's arenas and the
libraries' caches to their working size."""

BROKEN_STARTUP = """

async def _refuse_to_start(self: DemoModule) -> None:
    raise RuntimeError("the demo cannot start")


DemoModule.on_startup = _refuse_to_start  # type: ignore[method-assign]
"""


# A feed that numbers its updates by the clock: update n is due n intervals
# after the start. A server that stalls for longer than an interval skips a
# number, so a subscriber sees every gap beyond the interval as a missing number.
# The interval is twice the datafeed's live-bar interval (1 s), so that a shared
# machine's scheduling is not taken for a gap; a swap stalls the event loop far
# less (the import runs in a worker thread).
COUNTER = {
    "__init__.py": """
        from typing import Any

        from fastapi import APIRouter

        from trading_api.shared.module_interface import Module
        from trading_api.shared.ws import WsRouter

        from . import ws_generated
        from .service import CounterService


        class CounterModule(Module):
            name = "counter"

            def __init__(self) -> None:
                self._service = CounterService()

            @property
            def service(self) -> CounterService:
                return self._service

            @property
            def api_routers(self) -> list[APIRouter]:
                return []

            @property
            def ws_routers(self) -> list[WsRouter[Any, Any]]:
                return [ws_generated.CountRouter(self._service)]

            def background_jobs(self) -> list[Any]:
                return [self._service.run]
        """,
    "service.py": """
        import asyncio
        import time

        from pydantic import BaseModel

        from trading_api.shared.ws import Publish

        INTERVAL = 2.0


        class CountRequest(BaseModel):
            name: str


        class Count(BaseModel):
            number: int


        class CounterService:
            def __init__(self) -> None:
                self.topics: dict[str, Publish] = {}

            async def create_topic(self, topic: str, publish: Publish) -> None:
                self.topics[topic] = publish

            async def remove_topic(self, topic: str) -> None:
                self.topics.pop(topic, None)

            async def run(self) -> None:
                start, last = time.monotonic(), -1
                while True:
                    number = int((time.monotonic() - start) / INTERVAL)
                    if number != last:
                        last = number
                        for publish in list(self.topics.values()):
                            publish(Count(number=number))
                    await asyncio.sleep(INTERVAL / 20)
        """,
    "ws.py": """
        from typing import TypeAlias

        from trading_api.shared.ws import WsRouter

        from .service import Count, CountRequest

        CountRouter: TypeAlias = WsRouter[CountRequest, Count]
        """,
}


@pytest.fixture
def market_project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """The project with its real ``core``, ``broker`` and ``datafeed``, and a
    numbered feed, ``counter``."""
    root = project_copy(tmp_path / "project", modules=["core", "broker", "datafeed"])
    write_module(module_dir(root, "counter"), COUNTER)
    return root


def pace_like_a_person() -> None:
    """Wait out the loop guard's grace after a reload before the next save: a
    save that lands within it counts as caused by the reload."""
    time.sleep(LoopGuard().grace + 0.05)


def save_broker_version(project: Path, original: str, version: str) -> None:
    init = module_dir(project, "broker") / "__init__.py"
    init.write_text(f"{original}\nBrokerModule.version = {version!r}\n")


def broker_version(url: str) -> str:
    info: dict[str, str] = httpx.get(f"{url}/api/v1/broker/openapi.json").json()["info"]
    return info["version"]


async def closing_code(client: WsTestClient) -> int | None:
    """Read ``client`` until the server closes it; the close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.receive(timeout=TIMEOUT)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_datafeed_subscriber_keeps_receiving_across_broker_swaps(
    market_project: Path,
) -> None:
    dev = Dev(market_project, "--modules", "broker,datafeed,counter")
    try:
        url = dev.url
        original = (module_dir(market_project, "broker") / "__init__.py").read_text()
        numbers, codes = asyncio.run(
            swap_broker_while_subscribed(dev, market_project, url, original)
        )
    finally:
        dev.stop()

    assert codes == [1012] * SWAPS
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    assert not missing, f"updates due at these intervals never came: {missing}"
    lines = [line for line in dev.lines if line.startswith("reloaded in")]
    assert len(lines) == SWAPS
    assert all(
        line.endswith(" (swap): modules/broker/__init__.py -> broker") for line in lines
    ), lines


async def swap_broker_while_subscribed(
    dev: Dev, project: Path, url: str, original: str
) -> tuple[list[int], list[int | None]]:
    """Subscribe to datafeed quotes and the counter; swap broker ``SWAPS`` times
    with a broker client connected each time. The counter's numbers received and
    the broker clients' close codes."""
    numbers: list[int] = []
    quoted = asyncio.Event()
    codes: list[int | None] = []
    async with (
        WsTestClient.connect(f"{url}/api/v1/datafeed") as feed,
        WsTestClient.connect(f"{url}/api/v1/counter") as counter,
    ):
        # A symbol that trades around the clock: its quotes change at any hour.
        request = {"symbols": ["BTCUSD"], "fast_symbols": ["BTCUSD"]}
        assert (await feed.subscribe("quotes", request))["status"] == "ok"
        assert (await counter.subscribe("count", {"name": "a"}))["status"] == "ok"

        async def read_quotes() -> None:
            while True:
                await feed.receive("quotes.update", timeout=TIMEOUT)
                quoted.set()

        async def read_counts() -> None:
            while True:
                update = await counter.receive("count.update", timeout=TIMEOUT)
                numbers.append(update["payload"]["payload"]["number"])

        readers = [
            asyncio.create_task(read_quotes()),
            asyncio.create_task(read_counts()),
        ]
        for swap in range(1, SWAPS + 1):
            async with WsTestClient.connect(f"{url}/api/v1/broker") as broker:
                response = await broker.subscribe("orders", {"accountId": "DEMO-1"})
                assert response["status"] == "ok", response
                await asyncio.to_thread(pace_like_a_person)
                save_broker_version(project, original, f"1.{swap}.0")
                await asyncio.to_thread(dev.wait_for, r"^reloaded in", swap)
                codes.append(await closing_code(broker))
            served = await asyncio.to_thread(broker_version, url)
            assert served == f"1.{swap}.0"
            quoted.clear()
            await asyncio.wait_for(quoted.wait(), TIMEOUT)  # quotes still coming
        for reader in readers:
            assert not reader.done(), "a subscriber of another module was disconnected"
            reader.cancel()
    return numbers, codes


def test_fifty_swaps_leave_no_task_module_or_memory_behind(
    market_project: Path,
) -> None:
    dev = Dev(market_project, "--modules", "broker")
    try:
        url = dev.url
        original = (module_dir(market_project, "broker") / "__init__.py").read_text()
        swaps = 0

        def swap() -> None:
            nonlocal swaps
            swaps += 1
            pace_like_a_person()
            save_broker_version(market_project, original, f"2.{swaps}.0")
            dev.wait_for(r"^reloaded in", swaps)

        for _ in range(WARM_UP_SWAPS):
            swap()
        before = httpx.get(f"{url}{STATS_PATH}").json()
        for _ in range(50):
            swap()
        after = httpx.get(f"{url}{STATS_PATH}").json()
        served = broker_version(url)
    finally:
        dev.stop()

    assert served == f"2.{WARM_UP_SWAPS + 50}.0"
    assert after["pid"] == before["pid"]  # every one a swap, no new server
    assert after["swaps"] == WARM_UP_SWAPS + 50
    assert after["tasks"] == before["tasks"]
    assert after["retired_alive"] == 0
    assert after["rss_bytes"] - before["rss_bytes"] < MEMORY_BOUND
    assert dev.count(r"\(full\)") == 0


def test_failing_startup_keeps_the_old_module_serving(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo,other")
    greeting = f"{dev.url}/api/v1/demo/greeting"
    init = module_dir(project, "demo") / "__init__.py"

    save(init, textwrap.dedent(DEMO["__init__.py"]) + BROKEN_STARTUP)
    dev.wait_for(r"^error: demo failed to reload")
    dev.wait_for(r"RuntimeError: the demo cannot start")

    assert httpx.get(greeting).json() == {"text": "hello"}
    assert asyncio.run(first_ticker_update(dev.url, "echo"))["price"] == 1.5
    assert dev.count(r"^reloaded in") == 0


def test_shared_edit_takes_the_full_path_and_closes_every_connection(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    shared = project / "src" / "trading_api" / "shared" / "module_interface.py"

    async def edit_shared_code() -> int | None:
        async with WsTestClient.connect(f"{dev.url}/api/v1/demo") as client:
            response = await client.subscribe("echo", {"symbol": "X"})
            assert response["status"] == "ok", response
            shared.write_text(shared.read_text() + "\n# edited\n")
            return await closing_code(client)

    code = asyncio.run(edit_shared_code())

    line = dev.wait_for(r"^reloaded in")
    assert line.endswith(" (full): shared/module_interface.py -> all modules"), line
    assert code == 1012


def test_regeneration_waits_for_another_writer_of_the_tree(
    project: Path, dev_factory: Callable[..., Dev]
) -> None:
    dev = dev_factory("--modules", "demo")
    dev.wait_for(r"^serving ")

    with project_lock(project, "trading new-module x", on_wait=None):
        save(module_dir(project, "demo") / "ws.py", DEMO["ws.py"] + TICKER)
        waiting = dev.wait_for(r"waiting for pid \d+")
        assert f"pid {os.getpid()} (trading new-module x)" in waiting
        assert dev.count(r"^reloaded in") == 0
        assert not (
            module_dir(project, "demo") / "ws_generated" / "ticker_router.py"
        ).exists()

    line = dev.wait_for(r"^reloaded in")
    assert "(swap)" in line
    assert "modules/demo/ws_generated/ticker_router.py" in line
