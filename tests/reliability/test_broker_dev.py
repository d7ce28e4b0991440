"""``trading dev`` reloads keep every broker order: a swap of the broker module and
a full reload (an edit of shared code) serve the same orders and positions after
as before, from the database the dev loop migrated on start.
"""

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trading_api.shared.auth import DevIssuer
from trading_api.shared.auth.testing import bearer

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
BASE = "/api/v1/broker"
SYMBOL = "BINANCE:BTCUSD"  # trades around the clock
AUTH: dict[str, str] = {}
"""The Authorization header of the running dev server's test user."""


class Dev:
    """A running ``trading dev`` and the lines it printed."""

    def __init__(self, root: Path, database: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trading_cli.main", "dev", "--port", "0"],
            cwd=root,
            env={
                **os.environ,
                "NO_COLOR": "1",
                "DATABASE_URL": f"sqlite:///{database}",
            },
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

    def url(self) -> str:
        line = self.wait_for(r"^serving .* on http://")
        match = re.search(r"on (http://\S+) ", line)
        assert match is not None
        return match.group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def dev(
    project_copy: Callable[..., Path], tmp_path: Path
) -> Iterator[tuple[Dev, Path]]:
    root = project_copy(tmp_path / "project", modules=["core", "broker"])
    # A real token of the copy's development issuer, which its servers trust.
    issuer = DevIssuer(root / ".run" / "auth")
    AUTH.update(bearer(issuer.sign("dev", ["DEV", "DEMO-1"])))
    running = Dev(root, tmp_path / "dev.db")
    try:
        yield running, root
    finally:
        running.stop()


def state(url: str) -> dict[str, Any]:
    params = {"accountId": "DEV"}
    with httpx.Client(
        base_url=url + BASE, params=params, headers=AUTH, timeout=30
    ) as http:
        return {
            "orders": http.get("/orders").json(),
            "positions": [
                {k: v for k, v in p.items() if k != "pl"}
                for p in http.get("/positions").json()
            ],
            "executions": http.get(f"/executions/{SYMBOL}").json(),
        }


def answered(url: str) -> bool:
    try:
        return (
            httpx.get(f"{url}{BASE}/orders", headers=AUTH, timeout=10).status_code
            == 200
        )
    except httpx.TransportError:
        return False


def test_a_swap_and_a_full_reload_keep_every_order(dev: tuple[Dev, Path]) -> None:
    running, root = dev
    running.wait_for(r"database: broker: base -> 0001")
    url = running.url()
    params = {"accountId": "DEV"}
    with httpx.Client(
        base_url=url + BASE, params=params, headers=AUTH, timeout=30
    ) as http:
        market = {"symbol": SYMBOL, "type": 2, "side": 1, "qty": 0.01}
        limit = {"symbol": SYMBOL, "type": 1, "side": 1, "qty": 0.01}
        assert http.post("/orders", json=market).status_code == 201
        resting = http.post("/orders", json={**limit, "limitPrice": 1_000.0})
        cancelled = http.post("/orders", json={**limit, "limitPrice": 1_100.0})
        cancelled_id = cancelled.json()["orderId"]
        assert http.delete(f"/orders/{cancelled_id}").status_code == 200
        assert resting.status_code == 201
    before = state(url)
    assert len(before["orders"]) == 3 and len(before["positions"]) == 1

    init = root / "src" / "trading_api" / "modules" / "broker" / "__init__.py"
    init.write_text(init.read_text() + '\nBrokerModule.version = "1.0.1"\n')
    running.wait_for(r"^reloaded in .*broker")
    assert state(url) == before

    time.sleep(0.5)  # past the loop guard's grace: this save is the user's
    shared = root / "src" / "trading_api" / "shared" / "module_interface.py"
    shared.write_text(shared.read_text() + "\n# edited\n")
    running.wait_for(r"^reloaded in .*\(full\)")
    deadline = time.monotonic() + TIMEOUT
    while not answered(url):
        assert time.monotonic() < deadline, "not serving after the full reload"
        time.sleep(0.05)
    assert state(url) == before
