"""WebSocket fan-out: the hub against a minimal raw Starlette broadcast loop.

The hub's route conflates by key (``ConflateByKey("symbol")``, as quotes do), so
each update pays for the keyed queue's bookkeeping.

Both servers run on a real uvicorn in a child process (so clients and server do not
share one GIL); 100 ``websockets`` clients in this process subscribe to one topic,
then the server publishes N updates, yielding to the event loop after each one.
The figure is delivered messages per second, from the publish request until every
client has the last update. Rounds alternate hub / raw so noise hits both alike.

    python bench/ws_fanout.py [--clients 100] [--updates 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

QUEUE_LIMIT = 256  # the raw loop's per-connection bound: the hub's soft limit
FINAL = '"final":true'


# --- servers (run in the child process) --------------------------------------


def hub_app() -> Any:
    """A module with one WS route, served by the hub, mounted as in production."""
    from fastapi import APIRouter
    from pydantic import BaseModel

    from trading_api.shared.auth import public
    from trading_api.shared.module_interface import Module
    from trading_api.shared.ws import ConflateByKey, Publish, WsRouter

    class Request(BaseModel):
        symbol: str

    class Tick(BaseModel):
        symbol: str
        price: float
        n: int
        final: bool = False

    class Service:
        def __init__(self) -> None:
            self.publishers: dict[str, Publish] = {}

        async def create_topic(self, topic: str, publish: Publish) -> None:
            self.publishers[topic] = publish

        async def remove_topic(self, topic: str) -> None:
            self.publishers.pop(topic, None)

    service = Service()

    class TicksRouter(WsRouter[Request, Tick]):
        route = "ticks"
        request_model = Request
        data_model = Tick
        delivery = ConflateByKey("symbol")  # as quotes: the newest per symbol

    router = APIRouter()

    @router.post("/publish")
    @public
    async def publish(n: int) -> dict[str, int]:
        (send,) = service.publishers.values()
        for i in range(n):
            send(Tick(symbol="AAPL", price=100.0 + i / 100, n=i, final=i == n - 1))
            await asyncio.sleep(0)
        return {"published": n}

    class BenchModule(Module):
        name = "bench"
        # Public, as the datafeed's quotes are: market data needs no token, and
        # the figure is the fan-out, not the handshake.
        public_ws_routes = frozenset({"ticks"})

        @property
        def service(self) -> Service:
            return service

        @property
        def api_routers(self) -> list[APIRouter]:
            return [router]

        @property
        def ws_routers(self) -> list[Any]:
            return [TicksRouter(service)]

    from trading_api.app_factory import ModularFastAPI

    return ModularFastAPI([BenchModule()])


def raw_app() -> Any:
    """The baseline: bounded queue + writer task per connection, one broadcast loop."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    queues: set[asyncio.Queue[str]] = set()
    topic = 'ticks:{"symbol":"AAPL"}'

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)

        async def write() -> None:
            while True:
                await websocket.send_text(await queue.get())

        writer = asyncio.create_task(write())
        queues.add(queue)
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            queues.discard(queue)
            writer.cancel()

    async def publish(request: Request) -> JSONResponse:
        n = int(request.query_params["n"])
        for i in range(n):
            item = {
                "symbol": "AAPL",
                "price": 100.0 + i / 100,
                "n": i,
                "final": i == n - 1,
            }
            frame = json.dumps(
                {
                    "type": "ticks.update",
                    "payload": {"topic": topic, "seq": i + 1, "payload": item},
                },
                separators=(",", ":"),
            )
            for queue in queues:
                if not queue.full():  # a full queue drops, it never blocks the loop
                    queue.put_nowait(frame)
            await asyncio.sleep(0)
        return JSONResponse({"published": n})

    return Starlette(
        routes=[
            WebSocketRoute("/ws", endpoint),
            Route("/publish", publish, methods=["POST"]),
        ]
    )


def serve(kind: str) -> None:
    import uvicorn

    from trading_api.app_factory import freeze_for_serving

    app = hub_app() if kind == "hub" else raw_app()
    freeze_for_serving()  # as trading_api.main does; the same for both servers
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


# --- clients (this process) ---------------------------------------------------


async def one_round(kind: str, clients: int, updates: int) -> tuple[float, int]:
    """Start a server, fan ``updates`` out to ``clients``; return (msgs/s, drops)."""
    import httpx
    from websockets.asyncio.client import connect

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        # The hub is served as in production: a module mounted in ModularFastAPI.
        prefix = "/api/v1/bench" if kind == "hub" else ""
        url = f"ws://127.0.0.1:{port}{prefix}/ws"
        async with httpx.AsyncClient(base_url=base, timeout=600) as http:
            await _wait_ready(http)
            sockets = [
                await connect(url, compression=None, max_queue=None)
                for _ in range(clients)
            ]
            if kind == "hub":
                for ws in sockets:
                    await ws.send(
                        json.dumps(
                            {"type": "ticks.subscribe", "payload": {"symbol": "AAPL"}}
                        )
                    )
                    assert "subscribed" in await ws.recv()
            started = time.perf_counter()
            counts = asyncio.gather(*(_drain(ws) for ws in sockets))
            await http.post(f"{prefix}/publish", params={"n": updates})
            received = await asyncio.wait_for(counts, timeout=600)
            elapsed = time.perf_counter() - started
            for ws in sockets:
                await ws.close()
        return sum(received) / elapsed, clients * updates - sum(received)
    finally:
        child.terminate()
        child.wait(timeout=10)


async def _wait_ready(http: Any) -> None:
    import httpx

    for _ in range(200):  # bounded: 10 s
        try:
            await http.get("/nothing")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def _drain(ws: Any) -> int:
    count = 0
    while True:
        message = await ws.recv()
        count += 1
        if FINAL in message:
            return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", choices=["hub", "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    rates: dict[str, list[float]] = {"hub": [], "raw": []}
    drops: dict[str, int] = {"hub": 0, "raw": 0}
    for _ in range(args.rounds):
        for kind in ("hub", "raw"):
            rate, dropped = asyncio.run(one_round(kind, args.clients, args.updates))
            rates[kind].append(rate)
            drops[kind] += dropped
    hub, raw = (statistics.median(rates[k]) for k in ("hub", "raw"))
    print(
        f"{args.clients} clients, {args.updates} updates, {args.rounds} rounds, "
        f"{os.cpu_count()} cpus"
    )
    print(
        f"raw Starlette broadcast  median {raw:9.0f} msgs/s  "
        f"(runs: {_fmt(rates['raw'])}; dropped {drops['raw']})"
    )
    print(
        f"trading_api hub          median {hub:9.0f} msgs/s  "
        f"(runs: {_fmt(rates['hub'])}; conflated {drops['hub']})"
    )
    print(f"ratio hub / raw          {hub / raw:.2f}  (target >= 0.80)")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    main()
