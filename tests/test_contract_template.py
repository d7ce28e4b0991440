"""The module template renders exact contracts, and ``trading update-module``
brings them into modules scaffolded before: a real copier render of the
template as it was, real git commits, then the update."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

MERGED_SPEC = Path("src/trading_api/specs_generated/openapi.json")
CONTRACT_FILES = ("api.py.jinja", "models.py.jinja", "tests/test_api.py.jinja")
"""The template files that learned the contract (enum names, documented refusals)."""

UpdateFromOlder = Callable[..., tuple[Path, Any]]
"""tests/conftest.py's ``update_from_older``."""


def schemas(project: Path) -> dict[str, dict[str, object]]:
    document = json.loads((project / MERGED_SPEC).read_text())
    found: dict[str, dict[str, object]] = document["components"]["schemas"]
    return found


def item_path(project: Path) -> dict[str, dict[str, object]]:
    document = json.loads((project / MERGED_SPEC).read_text())
    path: dict[str, dict[str, object]] = document["paths"][
        "/api/v1/market-data/items/{item_id}"
    ]
    return path


def test_update_module_brings_the_exact_contract_into_an_older_module(
    update_from_older: UpdateFromOlder,
) -> None:
    def older(project: Path) -> None:
        assert "MarketDataItemOrder" not in schemas(project)

    project, updated = update_from_older(
        "NamedStrEnum", "models.py.jinja", CONTRACT_FILES, before=older
    )

    assert updated.code == 0, updated.err
    found = schemas(project)
    assert found["MarketDataItemOrder"]["x-enum-varnames"] == ["OLDEST", "NEWEST"]
    assert found["MarketDataItemCreate"]["additionalProperties"] is False
    get_item = item_path(project)["get"]
    not_found = get_item["responses"]["404"]  # type: ignore[index]
    assert "ErrorMessage" in json.dumps(not_found)
    [item_id] = get_item["parameters"]  # type: ignore[index]
    assert item_id["schema"]["minimum"] == 1
    models = project / "src/trading_api/modules/market_data/models.py"
    assert "class MarketDataItemCreate(WireModel, strict=True):" in models.read_text()
