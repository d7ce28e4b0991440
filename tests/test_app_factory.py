"""Building apps from modules: selection, mounting, merged OpenAPI.

That every module's document and the merged one are valid OpenAPI is checked
where they are published: ``trading specs build --check`` runs
openapi-spec-validator over each of them (tests/test_specs.py), and they are
these apps' documents byte for byte.
"""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from trading_api.app_factory import AppFactory
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.errors import SpecConflictError, UnknownModuleError
from trading_api.shared.testing import http_get, serve

WriteModule = Callable[..., Path]


def test_unknown_module_fails_naming_the_known_ones() -> None:
    with pytest.raises(UnknownModuleError) as caught:
        AppFactory().create_app(enabled_module_names=["nope"])
    assert "'nope'" in str(caught.value)
    assert "core" in str(caught.value).split("known modules:")[1]


def test_empty_selection_serves_core_only() -> None:
    app = AppFactory().create_app([])
    assert [module.name for module in app.modules] == ["core"]
    with TestClient(app) as client:
        assert client.get("/api/v1/core/health").status_code == 200
        assert client.get("/api/v1/core/modules").json() == [
            {
                "name": "core",
                "mount_path": "/api/v1/core",
                "version": "1.0.0",
                "websocket": False,
            }
        ]


def test_default_selection_serves_every_discovered_module() -> None:
    factory = AppFactory()
    app = factory.create_app()
    assert [module.name for module in app.modules] == factory.registry.names
    assert app.modules[0].name == "core"


def test_only_enabled_modules_are_imported(
    modules_dir: Path, write_module: WriteModule
) -> None:
    for package in ("core", "alpha", "beta"):
        write_module(package)
    factory = AppFactory(modules_dir)
    app = factory.create_app(["alpha"])
    assert [module.name for module in app.modules] == ["core", "alpha"]
    assert factory.registry.entry("alpha").import_name in sys.modules
    assert factory.registry.entry("beta").import_name not in sys.modules


def test_hyphenated_module_is_served_under_its_name(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("market_data")
    app = sign_in(AppFactory(modules_dir).create_app())
    with serve(app) as base_url:
        response = http_get(f"{base_url}/api/v1/market-data/ping")
        merged = http_get(f"{base_url}/api/v1/openapi.json").json()
    assert response.json() == {"module": "market-data"}
    assert merged["paths"]["/api/v1/market-data/ping"]["get"]["operationId"] == (
        "market_data_market_data_ping"
    )


def test_merged_openapi_has_prefixed_paths_and_unique_ids() -> None:
    app = AppFactory().create_app()
    document = app.openapi()
    assert all(path.startswith("/api/v1/") for path in document["paths"])
    assert "/api/v1/core/health" in document["paths"]
    operation_ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))
    assert "core_health" in operation_ids


def test_module_openapi_names_its_mount_point() -> None:
    app = AppFactory().create_app([])
    document = app.module_apps["core"].openapi()
    assert document["servers"] == [{"url": "/api/v1/core"}]
    assert "/health" in document["paths"]


CLASHING_MODEL = """
from fastapi import APIRouter
from pydantic import BaseModel

from trading_api.shared.module_interface import Module


class Quote(BaseModel):
    {field}: float


router = APIRouter()


@router.get("/quote", response_model=Quote)
async def {package}_quote() -> Quote:
    raise NotImplementedError


class {class_name}(Module):
    name = "{name}"

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return [router]
"""


def test_same_component_name_with_different_schemas_is_an_error(
    modules_dir: Path, write_module: WriteModule
) -> None:
    for package, field in (("alpha", "bid"), ("beta", "ask")):
        write_module(
            package,
            body=CLASHING_MODEL.format(
                field=field,
                package=package,
                name=package,
                class_name=f"{package.capitalize()}Module",
            ),
        )
    app = AppFactory(modules_dir).create_app()
    with pytest.raises(SpecConflictError, match=r"components.schemas.Quote"):
        app.openapi()


def test_middleware_added_to_the_root_app_sees_module_requests() -> None:
    app = AppFactory().create_app([])

    @app.middleware("http")
    async def tag_response(request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers["x-root-middleware"] = "seen"
        return response

    with TestClient(app) as client:
        response = client.get("/api/v1/core/health")
    assert response.status_code == 200
    assert response.headers["x-root-middleware"] == "seen"


def test_module_routes_see_their_mount_point_as_root_path() -> None:
    app = AppFactory().create_app([])
    with TestClient(app) as client:
        module_docs = client.get("/api/v1/core/docs").text
        served_under_prefix = client.get("/api/v1/core/openapi.json").json()
    assert "/api/v1/core/openapi.json" in module_docs
    assert served_under_prefix["servers"] == [{"url": "/api/v1/core"}]


def test_server_entry_point_refuses_an_unknown_module_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import trading_api.main"],
        env={**os.environ, "ENABLED_MODULES": "broker,nope"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: unknown module 'nope'; known modules: core, ")
