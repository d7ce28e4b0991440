"""`trading dev` reloads on every save: what an edit of a module or of the shared
code serves, what is regenerated, and what a broken edit leaves serving.

Most tests of this file share one dev server (`--verbose --no-build`, serving
`demo` and `other` beside `core`): each puts back the files it saved and waits
until the server serves them again, so the next one finds the project as it
was. The last two share a second one, which builds specs and clients and serves
a module that writes into its own package as it starts.
"""

import asyncio
import os
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from trading_api.shared.testing import http_get
from trading_api.shared.ws.testing import WsTestClient
from trading_cli.dev.loop_guard import LoopGuard
from trading_cli.dev.server import STATS_PATH
from trading_cli.lock import project_lock

from .harness import (
    BUILD_TIMEOUT,
    DEMO,
    GREETING_MODEL,
    LOOPER,
    TICKER,
    TIMEOUT,
    Dev,
    answers,
    demo_project,
    module_dir,
    poll,
    running,
    save,
    write_module,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dev loop forks; Linux only"
)

CopyProject = Callable[..., Path]
BROKEN_STARTUP = """

async def _refuse_to_start(self: DemoModule) -> None:
    raise RuntimeError("the demo cannot start")


DemoModule.on_startup = _refuse_to_start  # type: ignore[method-assign]
"""


@dataclass
class Served:
    """The shared dev server, its project, and where this test's output starts."""

    dev: Dev
    project: Path
    url: str
    since: int = 0

    @property
    def greeting(self) -> str:
        return f"{self.url}/api/v1/demo/greeting"

    def wait_for(self, pattern: str, count: int = 1, timeout: float = TIMEOUT) -> str:
        """The ``count``-th line of this test matching ``pattern``."""
        return self.dev.wait_for(pattern, count, self.since, timeout)

    def count(self, pattern: str) -> int:
        """How many lines of this test match ``pattern``."""
        return self.dev.count(pattern, self.since)


@pytest.fixture(scope="module")
def shared(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("dev-reload")
    root = demo_project(project_copy(folder / "project", modules=["core"]))
    dev = Dev(root, "--verbose", "--modules", "demo,other", "--no-build")
    try:
        yield Served(dev, root, dev.url)
    finally:
        dev.stop()


def sources(project: Path) -> dict[Path, bytes]:
    """Every file of the package a test may save (generated folders aside)."""
    found = {}
    for folder, dirs, files in os.walk(project / "src" / "trading_api"):
        dirs[:] = [d for d in dirs if not d.endswith("_generated") and d[0] != "_"]
        for name in files:
            path = Path(folder, name)
            found[path] = path.read_bytes()
    return found


@pytest.fixture
def served(shared: Served) -> Iterator[Served]:
    """The shared server as the test found it; afterwards the files the test
    saved are put back and served again."""
    before = sources(shared.project)
    shared.dev.pace_like_a_person()
    shared.since = shared.dev.mark()
    yield shared
    after = sources(shared.project)
    changed = {path: data for path, data in before.items() if after.get(path) != data}
    added = [path for path in after if path not in before]
    if not changed and not added:
        return
    shared.dev.pace_like_a_person()
    mark = shared.dev.mark()
    for path in added:
        path.unlink()
    for path, data in changed.items():
        path.write_bytes(data)
    shared.dev.wait_for(r"^reloaded in", since=mark)
    poll(answers(shared.greeting, {"text": "hello"}), "the files put back")


def test_edited_rest_handler_is_served_and_its_phases_told(served: Served) -> None:
    api = module_dir(served.project, "demo") / "api.py"
    save(api, DEMO["api.py"].replace('"hello"', '"bonjour"'))

    poll(answers(served.greeting, {"text": "bonjour"}), "the edited handler")
    line = served.wait_for(r"^reloaded in \d+ ms")
    phases = served.wait_for(r"^  phases \(ms\): ")
    assert line.endswith(" (swap): modules/demo/api.py -> demo")
    for phase in ("watch", "relay", "import", "build", "start", "stop old"):
        assert f" {phase} " in phases, phases
    assert f"= served in {line.split()[2]} ms; then " in phases


def test_requests_during_a_reload_are_all_answered(served: Served) -> None:
    answers_seen: list[object] = []

    def hammer() -> None:  # a new connection per request, as in a browser reload
        while not answers_seen or answers_seen[-1] != {"text": "new"}:
            try:
                response = http_get(served.greeting, timeout=10)
                answers_seen.append(response.json())
            except httpx.TransportError as exc:
                answers_seen.append(repr(exc))

    client = threading.Thread(target=hammer)
    client.start()
    poll(lambda: len(answers_seen) >= 3, "the first answers")
    save(
        module_dir(served.project, "demo") / "api.py",
        DEMO["api.py"].replace('"hello"', '"new"'),
    )
    client.join(timeout=TIMEOUT)

    assert not client.is_alive()
    assert set(map(str, answers_seen)) == {str({"text": "hello"}), str({"text": "new"})}


async def first_ticker_update(url: str, route: str = "ticker") -> dict[str, object]:
    async with WsTestClient.connect(f"{url}/api/v1/demo") as client:
        response = await client.subscribe(route, {"symbol": "X"})
        assert response["status"] == "ok", response
        update = await client.receive(f"{route}.update")
        payload: dict[str, object] = update["payload"]["payload"]
        return payload


def test_syntax_error_in_a_module_keeps_its_old_code_serving(served: Served) -> None:
    api = module_dir(served.project, "demo") / "api.py"

    save(api, DEMO["api.py"].replace('text="hello")', 'text="hello"'))
    served.wait_for(r"^error: demo failed to reload; its previous code keeps serving")
    where = served.wait_for(r"modules/demo/api\.py:\d+")
    served.wait_for(r"SyntaxError")
    assert http_get(served.greeting).json() == {"text": "hello"}

    served.dev.pace_like_a_person()
    save(api, DEMO["api.py"].replace('"hello"', '"fixed"'))
    poll(answers(served.greeting, {"text": "fixed"}), "the fixed handler")
    assert "api.py:" in where
    reloaded = served.wait_for(r"^reloaded in")
    assert reloaded.endswith("(swap): modules/demo/api.py -> demo")


def test_syntax_error_in_shared_code_answers_503_until_fixed(served: Served) -> None:
    model = served.project / "src" / "trading_api" / "models" / "greeting.py"
    old_server = http_get(f"{served.url}{STATS_PATH}").json()["pid"]

    save(model, GREETING_MODEL.replace("text: str", "text: str ="))
    served.wait_for(r"^error: the app failed to load")
    where = served.wait_for(r"models/greeting\.py:\d+")
    served.wait_for(r"SyntaxError")
    poll(lambda: not running(old_server), "the old server to stop")
    failed = http_get(served.greeting)
    assert failed.status_code == 503
    assert "SyntaxError" in failed.json()["detail"], failed.text

    served.dev.pace_like_a_person()
    mark = served.dev.mark()
    save(model, GREETING_MODEL + '    lang: str = "fr"\n')
    poll(answers(served.greeting, {"text": "hello", "lang": "fr"}), "the fix")
    fixed = served.dev.wait_for(r"^reloaded in", since=mark)
    assert "greeting.py:" in where
    assert fixed.endswith(" (full): models/greeting.py -> all modules")


def test_failing_startup_keeps_the_old_module_serving(served: Served) -> None:
    init = module_dir(served.project, "demo") / "__init__.py"

    save(init, textwrap.dedent(DEMO["__init__.py"]) + BROKEN_STARTUP)
    served.wait_for(r"^error: demo failed to reload")
    served.wait_for(r"RuntimeError: the demo cannot start")

    assert http_get(served.greeting).json() == {"text": "hello"}
    assert asyncio.run(first_ticker_update(served.url, "echo"))["price"] == 1.5
    assert served.count(r"^reloaded in") == 0


async def closing_code(client: WsTestClient) -> int | None:
    """Read ``client`` until the server closes it; the close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.receive(timeout=TIMEOUT)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_shared_edit_takes_the_full_path_and_closes_every_connection(
    served: Served,
) -> None:
    shared = served.project / "src" / "trading_api" / "shared" / "module_interface.py"

    async def edit_shared_code() -> int | None:
        async with WsTestClient.connect(f"{served.url}/api/v1/demo") as client:
            response = await client.subscribe("echo", {"symbol": "X"})
            assert response["status"] == "ok", response
            shared.write_text(shared.read_text() + "\n# edited\n")
            return await closing_code(client)

    code = asyncio.run(edit_shared_code())

    line = served.wait_for(r"^reloaded in")
    assert line.endswith(" (full): shared/module_interface.py -> all modules"), line
    assert code == 1012


def test_regeneration_waits_for_another_writer_of_the_tree(served: Served) -> None:
    demo = module_dir(served.project, "demo")
    with project_lock(served.project, "trading new-module x", on_wait=None):
        save(demo / "ws.py", DEMO["ws.py"] + TICKER)
        waiting = served.wait_for(r"waiting for pid \d+")
        assert f"pid {os.getpid()} (trading new-module x)" in waiting
        assert served.count(r"^reloaded in") == 0
        assert not (demo / "ws_generated" / "ticker_router.py").exists()

    line = served.wait_for(r"^reloaded in")
    assert "(swap)" in line
    assert "modules/demo/ws_generated/ticker_router.py" in line


# A second server, with a module that writes into its package as it starts,
# and the specs and clients build: the loop guard, then what the build writes.


@pytest.fixture(scope="module")
def looping(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("dev-loop")
    root = demo_project(project_copy(folder / "project", modules=["core"]))
    write_module(module_dir(root, "looper"), {"__init__.py": LOOPER})
    dev = Dev(root, "--modules", "demo,looper")
    try:
        yield Served(dev, root, dev.url)
    finally:
        dev.stop()


def test_reload_loop_is_paused_naming_the_file(looping: Served) -> None:
    dev, project = looping.dev, looping.project
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
    poll(answers(looping.greeting, {"text": "back"}), "the resumed reload")
    resumed = dev.wait_for(r"^reloaded in", count=allowed + 1)
    assert "modules/demo/api.py -> demo" in resumed


def test_added_ws_route_is_generated_documented_and_served(looping: Served) -> None:
    # Once the loop is paused and the first build (a fresh project's) is out.
    looping.dev.wait_for(r"^error: reload loop")
    looping.dev.wait_for(r"^rebuilt specs and clients", timeout=BUILD_TIMEOUT)
    served = looping
    served.since = served.dev.mark()
    demo = module_dir(served.project, "demo")

    save(demo / "ws.py", DEMO["ws.py"] + TICKER)

    line = served.wait_for(r"^reloaded in")
    assert "regenerated modules/demo/ws_generated/__init__.py, " in line
    assert "modules/demo/ws_generated/ticker_router.py" in line
    assert (demo / "ws_generated" / "ticker_router.py").is_file()
    built = r"^rebuilt specs and clients .*/demo_asyncapi\.json"
    served.wait_for(built, timeout=BUILD_TIMEOUT)
    spec = demo / "specs_generated" / "demo_asyncapi.json"
    assert '"ticker"' in spec.read_text()
    served_spec = http_get(f"{served.url}/api/v1/demo/ws/asyncapi.json").json()
    assert "ticker" in served_spec["channels"]
    update = asyncio.run(first_ticker_update(served.url))
    assert update["price"] == 1.5

    # The files the reload and the build wrote caused no reload: events reach
    # the watcher in order, so such a reload would come before this edit's.
    served.dev.pace_like_a_person()
    save(demo / "api.py", DEMO["api.py"].replace('"hello"', '"hi"'))
    second = served.wait_for(r"^reloaded in", count=2)
    assert "modules/demo/api.py" in second
    assert served.count(r"^reloaded in") == 2
