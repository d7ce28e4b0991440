"""AsyncAPI 3.0 documents: per module, merged, accepted by the official parser."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from trading_api.shared.errors import SpecConflictError
from trading_api.shared.settings import Settings
from trading_api.shared.testing import http_get, serve
from trading_api.shared.ws import ConflateByKey, WsApp, WsRouter
from trading_api.shared.ws.asyncapi import merge_asyncapi
from trading_cli.build.validators import AsyncApiParser

from .conftest import Server, Tick, TickModule

ROOT = Path(__file__).resolve().parents[2]


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"


class PetRequest(BaseModel):
    owner: str
    window: tuple[int, int] | None = None


class PetUpdate(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


class PetsRouter(WsRouter[PetRequest, PetUpdate]):
    route = "pets"
    request_model = PetRequest
    data_model = PetUpdate


def pets_app(name: str = "zoo") -> WsApp:
    return WsApp(name, [PetsRouter(object())], title="Zoo WS", version="2.0.0")  # type: ignore[arg-type]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


VALID = {"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}}
BROKEN = {"asyncapi": "3.0.0", "info": {"title": "t"}, "channels": {"a": 5}}


@dataclass
class Parsed:
    """Documents and what the official parser said about each (errors and
    warnings), all from one parser run."""

    documents: dict[str, dict[str, Any]]
    problems: dict[str, list[str]]


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    """The ticker module's document as served, a merged document, and a batch
    of valid and broken ones alternating, through one run of the official
    parser (its start-up costs seconds of CPU)."""
    module = TickModule()
    app, ticker = module.create_app(Settings())
    assert ticker is not None
    with serve(app) as base:
        served = http_get(base + "/ws/asyncapi.json").json()
    merged = merge_asyncapi(
        {"/api/v1/ticker": ticker.asyncapi(), "/api/v1/zoo": pets_app().asyncapi()},
        title="Trading API",
        version="1.0.0",
    )
    documents = {
        "module": served,
        "merged": merged,
        **dict(zip("abcd", [VALID, BROKEN] * 2, strict=True)),
    }
    parser = AsyncApiParser(ROOT, include_warnings=True)
    found = parser.validate({Path(name): doc for name, doc in documents.items()})
    return Parsed(documents, {str(path): problems for path, problems in found.items()})


@pytest.mark.requires("asyncapi-parser")
def test_module_document_passes_the_official_parser(parsed: Parsed) -> None:
    assert parsed.documents["module"]["asyncapi"] == "3.0.0"
    assert parsed.problems["module"] == []


@pytest.mark.requires("asyncapi-parser")
def test_merged_document_passes_the_official_parser(parsed: Parsed) -> None:
    merged = parsed.documents["merged"]

    assert parsed.problems["merged"] == []
    assert {"ticker.ticks", "zoo.pets", "ticker._control"} <= set(merged["channels"])
    assert merged["servers"]["zoo"]["pathname"] == "/api/v1/zoo"


@pytest.mark.requires("asyncapi-parser")
def test_asyncapi_parser_checks_every_document_of_a_batch(parsed: Parsed) -> None:
    problems = parsed.problems
    assert problems["a"] == problems["c"] == []
    assert problems["b"] == problems["d"]
    assert any("version" in p for p in problems["b"])
    assert any(p.startswith("channels.a") for p in problems["b"])


def test_each_channel_publishes_its_delivery_class(server: Server) -> None:
    channels = server.ws_app.asyncapi()["channels"]

    assert channels["items"]["x-delivery"] == {
        "class": "conflate-by-key",
        "key": ["item"],
    }
    assert channels["ticks"]["x-delivery"] == {"class": "conflate-by-topic"}
    assert channels["journal"]["x-delivery"] == {"class": "lossless"}
    assert "conflate by key (`item`)" in channels["items"]["description"]
    assert "4008" in channels["journal"]["description"]


def test_control_channel_publishes_every_close_code_the_server_sends(
    server: Server,
) -> None:
    control = server.ws_app.asyncapi()["channels"]["_control"]

    published = {entry["code"]: entry for entry in control["x-close-codes"]}

    # slow consumer, unauthorized, resync, internal error, reloaded by trading dev
    assert sorted(published) == [1011, 1012, 4008, 4205, 4401]
    assert all(entry["when"] and entry["then"] for entry in published.values())
    assert "| 4205 |" in control["description"]
    documented = (ROOT / "docs" / "websocket.md").read_text(encoding="utf-8")
    assert all(f"| {code} |" in documented for code in published)


def test_keyed_delivery_is_published_with_json_field_names() -> None:
    class Fill(BaseModel):
        order_id: str = Field(serialization_alias="orderId")

    class FillsRouter(WsRouter[PetRequest, Fill]):
        route = "fills"
        request_model = PetRequest
        data_model = Fill
        delivery = ConflateByKey("order_id")

    app = WsApp("desk", [FillsRouter(object())], title="t", version="1")  # type: ignore[arg-type]

    delivery = app.asyncapi()["channels"]["fills"]["x-delivery"]
    assert delivery == {"class": "conflate-by-key", "key": ["orderId"]}


def test_document_describes_each_route_from_its_models(server: Server) -> None:
    document = server.ws_app.asyncapi()

    subscribe = document["operations"]["ticks.subscribe"]
    message = document["components"]["messages"]["ticks.subscribe"]
    update = document["components"]["messages"]["ticks.update"]["payload"]
    schemas = document["components"]["schemas"]
    assert subscribe["action"] == "receive"
    assert subscribe["reply"]["messages"] == [
        {"$ref": "#/channels/ticks/messages/ticks.subscribe.response"}
    ]
    assert document["operations"]["ticks.update"]["action"] == "send"
    assert message["payload"]["properties"]["type"]["const"] == "ticks.subscribe"
    assert message["payload"]["properties"]["payload"] == {
        "$ref": "#/components/schemas/TickRequest"
    }
    update_payload = update["properties"]["payload"]["properties"]
    assert update_payload["payload"] == {"$ref": "#/components/schemas/Tick"}
    assert update_payload["seq"]["type"] == "integer"
    assert schemas["Tick"]["properties"].keys() == Tick.model_fields.keys()
    assert all(r.startswith("#/") and "$defs" not in r for r in refs(document))


def test_merge_refuses_one_schema_name_with_two_meanings() -> None:
    class Tick(BaseModel):  # same name as the ticker's, different fields
        price: float

    class OtherRouter(WsRouter[PetRequest, Tick]):
        route = "other"
        request_model = PetRequest
        data_model = Tick

    other = WsApp("other", [OtherRouter(object())], title="o", version="1")  # type: ignore[arg-type]
    _, ticker = TickModule().create_app()
    assert ticker is not None

    with pytest.raises(SpecConflictError, match="'Tick' differs"):
        merge_asyncapi(
            {"/api/v1/ticker": ticker.asyncapi(), "/api/v1/other": other.asyncapi()},
            title="t",
            version="1",
        )


def test_merge_shares_identical_schemas_across_modules() -> None:
    merged = merge_asyncapi(
        {
            "/api/v1/zoo": pets_app().asyncapi(),
            "/api/v1/zoo2": pets_app("zoo2").asyncapi(),
        },
        title="t",
        version="1",
    )

    assert "PetUpdate" in merged["components"]["schemas"]
    assert {"zoo.pets", "zoo2.pets"} <= set(merged["channels"])


def test_html_page_renders_on_the_server_without_external_assets(
    server: Server,
) -> None:
    page = http_get(server.base + "/ws/asyncapi")

    assert page.headers["content-type"].startswith("text/html")
    assert "ticks.subscribe" in page.text
    assert "TickRequest" in page.text
    assert "<script" not in page.text
    assert "https://" not in page.text


def test_stats_is_in_openapi_and_docs_are_not(server: Server) -> None:
    paths = http_get(server.base + "/openapi.json").json()["paths"]

    assert "/ws/stats" in paths
    assert "/ws/asyncapi.json" not in paths
    assert "/ws/asyncapi" not in paths


def test_document_is_json_stable() -> None:
    first = json.dumps(pets_app().asyncapi(), sort_keys=True)

    assert json.dumps(pets_app().asyncapi(), sort_keys=True) == first
