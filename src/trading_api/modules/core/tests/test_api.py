"""The core routes, served by the factory next to other modules."""

from collections.abc import Iterator

import pytest

from trading_api.app_factory import AppFactory
from trading_api.shared.testing import http_get, serve


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A real server with core alone."""
    with serve(AppFactory().create_app([])) as url:
        yield f"{url}/api/v1/core"


def test_health_answers_ok(base_url: str) -> None:
    response = http_get(f"{base_url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_modules_lists_what_this_process_serves(base_url: str) -> None:
    modules = http_get(f"{base_url}/modules").json()
    assert modules == [
        {
            "name": "core",
            "mount_path": "/api/v1/core",
            "version": "1.0.0",
            "websocket": False,
        }
    ]


def test_versions_cover_every_enabled_module(base_url: str) -> None:
    versions = http_get(f"{base_url}/versions").json()
    assert versions["api_version"] == "v1"
    assert versions["modules"] == {"core": "1.0.0"}


def test_unknown_core_path_is_404(base_url: str) -> None:
    assert http_get(f"{base_url}/nope").status_code == 404
