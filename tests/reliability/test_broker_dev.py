"""``trading dev`` reloads keep every broker order: a swap of the broker module and
a full reload (an edit of shared code) serve the same orders and positions after
as before, from the database the dev loop migrated on start.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trading_api.shared.auth import DevIssuer
from trading_api.shared.auth.testing import bearer

from ..dev.harness import Dev, poll  # noqa: TID252 (the one dev-loop driver)

pytestmark = pytest.mark.integration

BASE = "/api/v1/broker"
SYMBOL = "BINANCE:BTCUSD"  # trades around the clock
AUTH: dict[str, str] = {}
"""The Authorization header of the running dev server's test user."""


@pytest.fixture
def dev(
    project_copy: Callable[..., Path], tmp_path: Path
) -> Iterator[tuple[Dev, Path]]:
    root = project_copy(tmp_path / "project", modules=["core", "broker"])
    # A real token of the copy's development issuer, which its servers trust.
    issuer = DevIssuer(root / ".run" / "auth")
    AUTH.update(bearer(issuer.sign("dev", ["DEV", "DEMO-1"])))
    database = tmp_path / "dev.db"
    running = Dev(root, "--no-build", env={"DATABASE_URL": f"sqlite:///{database}"})
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
    running.wait_for(r"database: broker: base -> \d{4}")
    url = running.url
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
    poll(lambda: answered(url), "serving after the full reload")
    assert state(url) == before
