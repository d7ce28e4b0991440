"""Importing, building and running the app writes no file and starts no process."""

import os
import subprocess
import sys
from pathlib import Path

import trading_api

PROJECT_ROOT = Path(trading_api.__file__).resolve().parents[2]

RUN_APP = """
import httpx
from trading_api.shared.testing import http_get, serve
from trading_api.main import app

with serve(app) as base_url:
    assert http_get(base_url + "/api/v1/core/health").status_code == 200
    assert http_get(base_url + "/api/v1/openapi.json").status_code == 200
print("served", len(app.modules), "modules")
"""


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    state = {}
    for folder, dirs, files in os.walk(root):
        # Tool caches (.git, .mypy_cache, ...) change under other tools' feet.
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in {"__pycache__", "node_modules"}
        ]
        for name in files:
            path = Path(folder, name)
            stat = path.stat()
            state[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return state


def test_app_startup_and_shutdown_write_no_file(tmp_path: Path) -> None:
    before = snapshot(PROJECT_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", RUN_APP],
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("served")
    after = snapshot(PROJECT_ROOT)
    changed = {
        path
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path)
    }
    assert changed == set()
    assert list(tmp_path.iterdir()) == []
