"""Requests/s of a route in a mounted module app vs the same route in a flat app.

Run: python bench/mount_overhead.py [--requests 20000] [--rounds 5]
Budget (docs/architecture.md): mounted / flat >= 0.95.

Both apps are driven in-process through the ASGI interface, alternating rounds,
so the figure isolates what mounting adds (routing through the Mount, the module
app's middleware stack, the CORS check, the concrete-path guard) from the HTTP
server and the client, which are the same for both in production. Time is this
process's CPU time, so other load on a shared machine does not skew the ratio.
"""

import argparse
import asyncio
import statistics
import time
from typing import Any

from fastapi import FastAPI

from trading_api.app_factory import AppFactory
from trading_api.modules.core.api import create_router
from trading_api.modules.core.service import CoreService

PATH = "/api/v1/core/health"


def flat_app() -> FastAPI:
    """A plain FastAPI app with the same router (same handlers) at the same URL."""
    app = FastAPI()
    app.include_router(create_router(CoreService()), prefix="/api/v1/core")
    return app


async def requests_per_second(app: Any, count: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    statuses = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.process_time()
    for _ in range(count):
        await app(dict(scope), receive, send)
    elapsed = time.process_time() - start
    assert set(statuses) == {200}, set(statuses)
    return count / elapsed


async def main(count: int, rounds: int) -> None:
    mounted, flat = AppFactory().create_app([]), flat_app()
    results: dict[str, list[float]] = {"mounted": [], "flat": []}
    for _ in range(rounds):
        results["flat"].append(await requests_per_second(flat, count))
        results["mounted"].append(await requests_per_second(mounted, count))
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"flat FastAPI route     median {medians['flat']:9.0f} req/s")
    print(f"mounted module route   median {medians['mounted']:9.0f} req/s")
    print(f"ratio mounted / flat   {medians['mounted'] / medians['flat']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.rounds))
