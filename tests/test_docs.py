"""Swagger UI pages load nothing from the internet."""

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_api.app_factory import AppFactory
from trading_api.shared.testing import http_get, serve

DOCS_PAGES = ["/api/v1/docs", "/api/v1/core/docs"]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The core-only app on a real server, shared by this file's tests (they
    only read pages)."""
    with serve(AppFactory().create_app([])) as url:
        yield url


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_uses_only_local_assets(base_url: str, page: str) -> None:
    html = http_get(f"{base_url}{page}").text
    assets = re.findall(r'(?:href|src)="([^"]+)"', html)
    statuses = {asset: http_get(f"{base_url}{asset}").status_code for asset in assets}
    assert not re.search(r"https?://", html)
    assert len(assets) >= 3
    assert set(statuses.values()) == {200}


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path is not None  # the requires marker skipped the test otherwise
    return path


@pytest.mark.requires("chromium")
@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_renders_operations_in_a_real_browser(
    base_url: str, page: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            f"{base_url}{page}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    dom = result.stdout
    assert "Unable to render" not in dom
    assert "opblock" in dom
    assert "/health" in dom
