"""A swap reuses the pydantic adapters of the FastAPI fields it made before, when
they are equal, and the cache keeps nothing of a module's old code."""

import gc
import weakref
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from trading_cli.dev.adapters import AdapterCache, install, uninstall
from trading_cli.dev.swap import clear_library_caches


@pytest.fixture
def adapters() -> Iterator[AdapterCache]:
    cache = AdapterCache()
    assert install(cache)
    try:
        yield cache
    finally:
        uninstall()


def item_model() -> type[BaseModel]:
    """A response model made anew, as a module imported again makes its own."""

    class Item(BaseModel):
        name: str

    return Item


def make_app(max_length: int = 3, model: type[BaseModel] | None = None) -> FastAPI:
    """An app whose one route takes ``name`` (at most ``max_length`` long)."""
    app = FastAPI()
    response_model = model or item_model()

    @app.get("/items", response_model=response_model)
    async def items(name: Annotated[str, Query(max_length=max_length)]) -> Any:
        return {"name": name}

    return app


def name_adapter(app: FastAPI) -> object:
    route = next(r for r in app.routes if isinstance(r, APIRoute))
    return route.dependant.query_params[0]._type_adapter


def test_a_rebuilt_app_shares_equal_fields_and_validates_alike(
    adapters: AdapterCache,
) -> None:
    with adapters.recording("demo"):
        first = make_app()
    with adapters.recording("demo"):
        second = make_app()
    client = TestClient(second)

    assert name_adapter(second) is name_adapter(first)
    assert client.get("/items", params={"name": "abc"}).json() == {"name": "abc"}
    assert client.get("/items", params={"name": "abcd"}).status_code == 422


def test_a_field_with_another_constraint_gets_its_own_adapter(
    adapters: AdapterCache,
) -> None:
    with adapters.recording("demo"):
        make_app(max_length=3)
    with adapters.recording("demo"):
        wider = make_app(max_length=5)

    assert TestClient(wider).get("/items", params={"name": "abcd"}).status_code == 200


def test_the_old_code_of_a_module_is_not_kept(adapters: AdapterCache) -> None:
    old_model = item_model()
    with adapters.recording("demo"):
        make_app(model=old_model)
    with adapters.recording("other"):
        other = make_app(max_length=7)
    held = weakref.ref(old_model)
    del old_model

    with adapters.recording("demo"):
        make_app()  # the module imported again: a new Item
    clear_library_caches()  # as the swap does after the switch
    gc.collect()
    with adapters.recording("other"):
        other_again = make_app(max_length=7)

    assert held() is None
    # Another module's entries outlive this module's swaps.
    assert name_adapter(other_again) is name_adapter(other)


def test_fields_made_outside_a_swap_are_made_as_usual(
    adapters: AdapterCache,
) -> None:
    first, second = make_app(), make_app()

    assert name_adapter(first) is not name_adapter(second)
    assert adapters.size == 0


def test_a_field_with_unhashable_attributes_is_made_as_usual(
    adapters: AdapterCache,
) -> None:
    def make() -> FastAPI:
        app = FastAPI()

        @app.get("/tagged")
        async def tagged(
            tag: Annotated[str, Query(json_schema_extra={"x-kind": "tag"})],
        ) -> dict[str, str]:
            return {"tag": tag}

        return app

    with adapters.recording("demo"):
        first = make()
    with adapters.recording("demo"):
        second = make()

    assert name_adapter(first) is not name_adapter(second)
    assert TestClient(second).get("/tagged", params={"tag": "a"}).json() == {"tag": "a"}
