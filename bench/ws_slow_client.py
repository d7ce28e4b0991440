"""What a WebSocket client that never reads costs the server, with and without the
byte bound on its send queue.

The server (uvicorn in a child process, serving the WS test module of
``tests/ws/streams.py``) publishes N updates of 64 KiB on a lossless route to one
client that subscribed and then never reads. The figure is the growth of the
server's peak resident memory (``VmHWM``) during the burst, and how the
connection ended. "messages only" sets the byte limits out of reach, so only the
4,096-message limit applies, as before queues were bounded in bytes.

    python bench/ws_slow_client.py [--updates 2000] [--size 65536]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
CONFIGS = {
    "bytes-bounded (defaults)": {},
    "messages only": {
        "WS_QUEUE_SOFT_BYTES": str(2**39),
        "WS_QUEUE_HARD_BYTES": str(2**40),
    },
}


def peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


async def one_run(env: dict[str, str], updates: int, size: int) -> tuple[int, str]:
    """Peak RSS growth of the server and how the stuck connection ended."""
    import httpx
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    command = [
        sys.executable, "-m", "uvicorn", "streams:create_app", "--factory",
        "--app-dir", str(ROOT / "tests" / "ws"), "--fd", str(listener.fileno()),
        "--ws", "websockets-sansio", "--log-level", "warning",
    ]  # fmt: skip
    child = subprocess.Popen(
        command,
        env={**os.environ, **env},
        pass_fds=[listener.fileno()],
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=600) as http:
            for _ in range(600):  # bounded: 30 s
                try:
                    await http.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            sock.connect(("127.0.0.1", port))
            async with connect(
                f"ws://127.0.0.1:{port}/ws", sock=sock, max_queue=1, compression=None
            ) as ws:
                request = {"symbol": "S", "ticking": False}
                await ws.send(
                    json.dumps({"type": "journal.subscribe", "payload": request})
                )
                await ws.recv()
                before = peak_rss(child.pid)
                params = {"count": updates, "size": size, "route": "journal"}
                await http.post("/burst", params=params)
                growth = peak_rss(child.pid) - before
                ending = "open"
                try:
                    async with asyncio.timeout(5):
                        while True:
                            await ws.recv()
                except ConnectionClosed as closed:
                    rcvd = closed.rcvd
                    ending = f"closed {rcvd.code}" if rcvd else "dropped"
                except TimeoutError:
                    ending = "still open, every update queued"
        return growth, ending
    finally:
        child.terminate()
        child.wait(timeout=30)
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    args = parser.parse_args()
    total = args.updates * args.size / MIB
    print(f"{args.updates} updates of {args.size} bytes ({total:.0f} MiB) published")
    for name, env in CONFIGS.items():
        started = time.perf_counter()
        growth, ending = asyncio.run(one_run(env, args.updates, args.size))
        print(
            f"{name:26} server peak RSS +{growth / MIB:6.1f} MiB  {ending}"
            f"  ({time.perf_counter() - started:.1f} s)"
        )


if __name__ == "__main__":
    main()
