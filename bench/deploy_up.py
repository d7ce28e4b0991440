"""``trading up`` to a healthy deployment, and ``trading down``, against the floor.

Run: python bench/deploy_up.py [--runs 5]

The deployment is the committed topology's shape (nginx, a core+broker server,
a datafeed server with 2 instances) on free ports, in a temporary folder. The
anchor, measured in the same run, is the floor any deployment pays: one bare
``python -m uvicorn trading_api.main:app`` with every module until its
``/api/v1/core/health`` answers. Figures are medians of alternating runs.
"""

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRADING = [sys.executable, "-m", "trading_cli.main"]


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first: int = sock.getsockname()[1]
        try:
            for port in range(first + 1, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/api/v1/core/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def up_and_down(folder: Path) -> tuple[float, float]:
    """Seconds for ``trading up`` (returns once healthy) and ``trading down``."""
    gateway, core, feed = free_port(), free_port(), free_port(2)
    config = folder / "deploy.yaml"
    config.write_text(
        f"nginx: {{port: {gateway}, worker_processes: 1}}\n"
        "servers:\n"
        f"  core-broker: {{port: {core}, modules: [core, broker]}}\n"
        f"  datafeed: {{port: {feed}, instances: 2, modules: [datafeed]}}\n"
    )
    args = ["--config", str(config)]
    start = time.perf_counter()
    subprocess.run([*TRADING, "up", *args], cwd=ROOT, check=True, capture_output=True)
    up = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([*TRADING, "down", *args], cwd=ROOT, check=True, capture_output=True)
    return up, time.perf_counter() - start


def bare_uvicorn() -> float:
    """Seconds from spawning one uvicorn with every module to its first 200."""
    port = free_port()
    start = time.perf_counter()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "trading_api.main:app"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not healthy(port):
            if time.perf_counter() - start > 30:
                raise RuntimeError("uvicorn did not answer in 30 s")
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    ups, downs, floors = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(runs):
            floors.append(bare_uvicorn())
            folder = Path(tmp) / str(index)
            folder.mkdir()
            up, down = up_and_down(folder)
            ups.append(up)
            downs.append(down)
    up, down, floor = (statistics.median(x) for x in (ups, downs, floors))
    print(f"trading up (4 processes + nginx, healthy)  {up * 1000:6.0f} ms")
    print(f"bare uvicorn, first 200 (anchor)           {floor * 1000:6.0f} ms")
    print(f"ratio up / anchor                          {up / floor:6.2f}")
    print(f"trading down (nothing left running)        {down * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
