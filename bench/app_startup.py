"""App start-up: import + build with every module, and time to first response.

Run: python bench/app_startup.py [--runs 7]
Budget (docs/architecture.md): start-up with all modules < 1 s
(the predecessor: 10-15 s).

Each run is a fresh interpreter, so imports are counted as a user pays them.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

BUILD = """
import time
start = time.perf_counter()
from trading_api.app_factory import AppFactory
app = AppFactory().create_app()
print(time.perf_counter() - start, len(app.modules))
"""


def build_seconds() -> tuple[float, int]:
    """Seconds to import the runtime and build the app, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", BUILD], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def first_response_seconds() -> float:
    """Seconds from spawning uvicorn to the first 200 from core/health."""
    port = free_port()
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "trading_api.main:app", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ENABLED_MODULES": ""},
    )
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            try:
                url = f"http://127.0.0.1:{port}/api/v1/core/health"
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.01)
        raise RuntimeError("the server did not answer within 30 s")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    floor = statistics.median(
        _time(lambda: subprocess.run([sys.executable, "-c", "import fastapi"]))
        for _ in range(runs)
    )
    builds = [build_seconds() for _ in range(runs)]
    build = statistics.median(seconds for seconds, _ in builds)
    first = statistics.median(first_response_seconds() for _ in range(runs))
    print(f"modules built                         {builds[0][1]}")
    print(f"python -c 'import fastapi' (floor)    median {floor * 1000:7.1f} ms")
    print(f"import runtime + create_app (all)     median {build * 1000:7.1f} ms")
    print(f"uvicorn spawn -> first 200 (all)      median {first * 1000:7.1f} ms")


def _time(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
