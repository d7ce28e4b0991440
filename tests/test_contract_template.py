"""The module template renders exact contracts, and ``trading update-module``
brings them into modules scaffolded before: a real copier render of the
template as it was, real git commits, then the update."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

TEMPLATE = Path("templates/module/template")
MERGED_SPEC = Path("src/trading_api/specs_generated/openapi.json")
CONTRACT_FILES = ("api.py.jinja", "models.py.jinja", "tests/test_api.py.jinja")
"""The template files that learned the contract (enum names, documented refusals)."""

CopyProject = Callable[..., Path]
Git = Callable[..., str]
Trading = Callable[..., subprocess.CompletedProcess[str]]
TemplateBefore = Callable[..., dict[str, str]]  # tests/conftest.py's


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


def write_template(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / TEMPLATE / name).write_text(text)


def test_update_module_brings_the_exact_contract_into_an_older_module(
    project_copy: CopyProject,
    git: Git,
    trading: Trading,
    template_before: TemplateBefore,
    tmp_path: Path,
) -> None:
    old = template_before("NamedStrEnum", "models.py.jinja", CONTRACT_FILES)
    project = project_copy(tmp_path / "project", git=True)
    new = {name: (project / TEMPLATE / name).read_text() for name in CONTRACT_FILES}
    write_template(project, old)
    git(project, "commit", "-q", "-am", "The template before the exact contract")
    made = trading(project, "new-module", "market-data")
    assert made.returncode == 0, made.stderr
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Add market-data")
    assert "MarketDataItemOrder" not in schemas(project)
    write_template(project, new)
    git(project, "commit", "-q", "-am", "The template learns the exact contract")

    updated = trading(project, "update-module", "market-data")

    assert updated.returncode == 0, updated.stderr
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
