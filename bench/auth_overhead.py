"""What bearer-token verification adds to a broker GET, side by side in one run.

Run: python bench/auth_overhead.py [--requests 3000] [--rounds 5]
Budget (docs/auth.md): a verified token adds < 5 % to a broker ``GET``.

``GET /api/v1/broker/orders?accountId=BENCH-1`` is driven in-process through the
ASGI interface (the server and the client are the same with or without a token)
on a migrated throwaway SQLite database, in alternating rounds:

* ``unverified``: the same authentication guard and dependency read the same
  header, but the app's authenticator trusts any token without decoding it: the
  route's own cost, ownership check included, with no verification;
* ``same token``: a real RS256 token from an issuer whose JWKS is a file, sent
  with every request, as a client reuses its token: verified once, then
  recognised;
* ``new token``: a different token on every request, each one's signature
  checked, and the request routed twice (the guard verifies a token it has not
  seen before the route's checks run): the worst case, no two requests share a
  token.

Time is this process's CPU time, so other load on a shared machine does not skew
the ratios.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PATH = "/api/v1/broker/orders"
ACCOUNT = "BENCH-1"


def migrated_database(folder: Path) -> str:
    from trading_api.shared.storage.migrations import upgrade
    from trading_cli.db import migrated_modules
    from trading_cli.project import find_project

    url = f"sqlite:///{folder / 'bench.db'}"
    for migrations in migrated_modules(find_project()):
        upgrade(url, migrations)
    return url


def scope(token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": f"accountId={ACCOUNT}".encode(),
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def seconds_per_request(app: Any, tokens: list[str | None]) -> float:
    statuses = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scopes = [scope(token) for token in tokens]
    start = time.process_time()
    for each in scopes:
        await app(each, receive, send)
    elapsed = time.process_time() - start
    assert set(statuses) == {200}, set(statuses)
    return elapsed / len(tokens)


async def main(count: int, rounds: int, folder: Path) -> None:
    from trading_api.app_factory import AppFactory
    from trading_api.shared.auth import DevIssuer, Principal

    issuer = DevIssuer(folder / "issuer")
    os.environ["AUTH_JWKS_URL"] = (folder / "issuer" / "jwks.json").as_uri()
    same = issuer.sign("bench", [ACCOUNT])
    fresh = [
        issuer.sign("bench", [ACCOUNT], ttl_seconds=3600 + n) for n in range(count)
    ]
    bench = Principal(user="bench", accounts=frozenset({ACCOUNT}), expires_at=4e9)

    class Trusting:
        """Recognises any token: the guard and the dependency run, nothing is
        decoded."""

        def remembered(self, token: str) -> Principal:
            return bench

        async def verify(self, token: str) -> Principal:
            return bench

    unverified = AppFactory().create_app(["broker"])
    unverified.module_apps["broker"].state.authenticator = Trusting()
    verified = AppFactory().create_app(["broker"])
    for app in (unverified, verified):
        [broker] = [m for m in app.modules if m.name == "broker"]
        broker.simulation_interval = 0  # type: ignore[attr-defined]
    runs: dict[str, list[float]] = {"unverified": [], "same token": [], "new token": []}
    async with (
        unverified.router.lifespan_context(unverified),
        verified.router.lifespan_context(verified),
    ):
        await seconds_per_request(verified, [same])  # keys read, token verified
        for _ in range(rounds):
            runs["unverified"].append(
                await seconds_per_request(unverified, [same] * count)
            )
            runs["same token"].append(
                await seconds_per_request(verified, [same] * count)
            )
            runs["new token"].append(await seconds_per_request(verified, list(fresh)))
    base = statistics.median(runs["unverified"])
    for name, values in runs.items():
        median = statistics.median(values)
        print(
            f"{name:<11} median {median * 1e6:7.1f} us/request  "
            f"{median / base - 1:+6.1%} vs unverified"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="auth-bench-"))
    os.environ["DATABASE_URL"] = migrated_database(folder)
    asyncio.run(main(args.requests, args.rounds, folder))
