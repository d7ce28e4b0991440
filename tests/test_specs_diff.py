"""``trading specs diff``: breaking changes since a git ref, and the allow file."""

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_cli.build.spec_diff import SpecChange, compare_asyncapi, compare_openapi

CORE_API = Path("src/trading_api/modules/core/api.py")
CopyProject = Callable[..., Path]
Cli = Callable[..., Any]
VERSIONS_ROUTE = re.compile(
    r'^    @router\.get\(\s*"/versions".*?\n\n', re.DOTALL | re.MULTILINE
)


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """A git repository holding a copy of the project, everything committed."""
    return project_copy(tmp_path / "project", git=True)


@pytest.fixture(scope="module")
def committed(
    project_copy: CopyProject, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """:func:`project` for the tests that change none of its files (committing
    the whole tree costs more than the diff)."""
    return project_copy(tmp_path_factory.mktemp("diff") / "project", git=True)


@pytest.fixture
def allow_file(committed: Path) -> Iterator[Path]:
    """The allow file of :func:`committed`, removed after the test."""
    path = committed / "specs-allow.yaml"
    assert not path.exists()
    yield path
    path.unlink(missing_ok=True)


def remove_versions_route(project: Path) -> None:
    api = project / CORE_API
    source, removed = VERSIONS_ROUTE.subn("", api.read_text(), count=1)
    assert removed == 1
    api.write_text(source)


def test_unchanged_api_reports_no_change(committed: Path, cli: Cli) -> None:
    result = cli(committed, "specs", "diff")
    assert result.code == 0, result.err
    assert "no API changes since HEAD" in result.out


def test_removed_route_is_breaking_until_the_allow_file_accepts_it(
    project: Path,
    cli: Cli,
) -> None:
    remove_versions_route(project)

    refused = cli(project, "specs", "diff")
    (project / "specs-allow.yaml").write_text(
        "allow:\n"
        "  - path: /api/v1/core/versions\n"
        "    rule: removed-path\n"
        "    reason: versions moved to /health\n"
    )
    accepted = cli(project, "specs", "diff")

    assert refused.code == 1
    assert "BREAKING\tremoved-path\t/api/v1/core/versions" in refused.out
    assert "specs-allow.yaml" in refused.err
    assert accepted.code == 0, accepted.err
    assert "allowed\tremoved-path\t/api/v1/core/versions" in accepted.out


def test_added_route_is_compatible(project: Path, cli: Cli) -> None:
    api = project / CORE_API
    api.write_text(
        api.read_text().replace(
            "    return router\n",
            '    @router.get("/ping")\n'
            "    async def ping() -> dict[str, str]:\n"
            '        return {"pong": "yes"}\n\n'
            "    return router\n",
        )
    )
    result = cli(project, "specs", "diff")
    assert result.code == 0, result.err
    assert "compatible\tadded-path\t/api/v1/core/ping" in result.out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("allow:\n  - path: /x\n    rule: removed-thing\n    reason: r\n", "not a"),
        ("allow:\n  - path: /x\n    rule: removed-path\n", "'reason'"),
        ("allow: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_allow_file_is_a_usage_error(
    committed: Path, allow_file: Path, text: str, problem: str, cli: Cli
) -> None:
    allow_file.write_text(text)
    result = cli(committed, "specs", "diff")
    assert result.code == 2
    assert problem in result.err
    assert result.err.count("\n") == 1


def test_unknown_base_is_a_usage_error(committed: Path, cli: Cli) -> None:
    result = cli(committed, "specs", "diff", "--base", "no-such-ref")
    assert result.code == 2
    assert "'no-such-ref' is not a commit" in result.err


# The rules themselves, on small documents shaped like FastAPI's output.


def openapi(
    request: dict[str, Any], response: dict[str, Any], parameters: list[Any]
) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/orders": {
                "post": {
                    "parameters": parameters,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Order"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Placed"}
                                }
                            }
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"Order": request, "Placed": response}},
    }


ORDER = {
    "type": "object",
    "title": "Order",
    "required": ["qty"],
    "properties": {
        "qty": {"type": "integer"},
        "side": {"$ref": "#/components/schemas/Side"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
PLACED = {
    "type": "object",
    "title": "Placed",
    "required": ["id", "status"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["working", "filled"]},
    },
}
DRY_RUN = {"name": "dry_run", "in": "query", "required": False, "schema": {}}


def base_document() -> dict[str, Any]:
    document = openapi(copy.deepcopy(ORDER), copy.deepcopy(PLACED), [DRY_RUN])
    side = {"type": "string", "enum": ["buy", "sell"], "title": "Side"}
    document["components"]["schemas"]["Side"] = side
    return document


def changed(edit: str) -> dict[str, Any]:
    document = base_document()
    schemas = document["components"]["schemas"]
    operation = document["paths"]["/orders"]["post"]
    if edit == "qty-to-string":
        schemas["Order"]["properties"]["qty"] = {"type": "string"}
    elif edit == "qty-to-number":
        schemas["Order"]["properties"]["qty"] = {"type": "number"}
    elif edit == "note-required":
        schemas["Order"]["required"].append("note")
    elif edit == "new-required-field":
        schemas["Order"]["properties"]["account"] = {"type": "string"}
        schemas["Order"]["required"].append("account")
    elif edit == "new-optional-field":
        schemas["Order"]["properties"]["tag"] = {"type": "string"}
    elif edit == "side-loses-sell":
        schemas["Side"]["enum"] = ["buy"]
    elif edit == "side-gains-short":
        schemas["Side"]["enum"] = ["buy", "sell", "short"]
    elif edit == "status-gains-cancelled":
        schemas["Placed"]["properties"]["status"]["enum"].append("cancelled")
    elif edit == "status-drops-filled":
        schemas["Placed"]["properties"]["status"]["enum"] = ["working"]
    elif edit == "response-drops-id":
        del schemas["Placed"]["properties"]["id"]
    elif edit == "response-id-nullable":
        schemas["Placed"]["properties"]["id"] = {
            "anyOf": [{"type": "string"}, {"type": "null"}]
        }
    elif edit == "dry-run-required":
        operation["parameters"] = [{**DRY_RUN, "required": True}]
    elif edit == "new-required-parameter":
        operation["parameters"].append(
            {"name": "account", "in": "query", "required": True}
        )
    elif edit == "no-200":
        operation["responses"] = {"201": operation["responses"]["200"]}
    elif edit == "no-post":
        document["paths"]["/orders"] = {"get": operation}
    return document


@pytest.mark.parametrize(
    ("edit", "rule", "detail"),
    [
        ("qty-to-string", "type-changed", "body.qty: integer -> string"),
        ("note-required", "optional-to-required", "body.note"),
        ("new-required-field", "added-required-request-property", "body.account"),
        (
            "side-loses-sell",
            "request-enum-narrowed",
            'body.side: no longer accepts "sell"',
        ),
        ("status-gains-cancelled", "response-enum-widened", "response 200 body.status"),
        ("response-drops-id", "removed-response-property", "response 200 body.id"),
        (
            "response-id-nullable",
            "type-changed",
            "response 200 body.id: string -> null|string",
        ),
        ("dry-run-required", "optional-to-required", "query parameter dry_run"),
        (
            "new-required-parameter",
            "added-required-parameter",
            "query parameter account",
        ),
        ("no-200", "removed-success-response", "response 200"),
        ("no-post", "removed-operation", "operation removed"),
    ],
)
def test_breaking_change_is_named_by_its_rule(
    edit: str, rule: str, detail: str
) -> None:
    changes = compare_openapi(base_document(), changed(edit))
    breaking = [c for c in changes if c.breaking]
    assert [c.rule for c in breaking] == [rule], changes
    assert breaking[0].detail.startswith(detail)


@pytest.mark.parametrize(
    "edit",
    ["qty-to-number", "new-optional-field", "side-gains-short", "status-drops-filled"],
)
def test_compatible_change_is_not_breaking(edit: str) -> None:
    changes = compare_openapi(base_document(), changed(edit))
    assert changes
    assert not [c for c in changes if c.breaking]


def asyncapi(update_fields: dict[str, Any]) -> dict[str, Any]:
    ref = "#/channels/feed.bars"
    return {
        "channels": {
            "feed.bars": {
                "messages": {
                    "bars.update": {"$ref": "#/components/messages/feed.bars.update"}
                }
            }
        },
        "operations": {
            "feed.bars.update": {
                "action": "send",
                "channel": {"$ref": ref},
                "messages": [{"$ref": f"{ref}/messages/bars.update"}],
            }
        },
        "components": {
            "messages": {
                "feed.bars.update": {
                    "payload": {
                        "type": "object",
                        "properties": {"payload": {"$ref": "#/components/schemas/Bar"}},
                    }
                }
            },
            "schemas": {"Bar": {"type": "object", "properties": update_fields}},
        },
    }


def test_ws_changes_name_the_message_field() -> None:
    old = asyncapi({"close": {"type": "number"}, "volume": {"type": "integer"}})
    new = asyncapi({"close": {"type": "string"}})

    changes = compare_asyncapi(old, new)

    assert (
        SpecChange(
            "retyped-message-field",
            "WS feed.bars",
            "bars.update.payload.close: number -> string",
        )
        in changes
    )
    assert (
        SpecChange(
            "removed-message-field", "WS feed.bars", "bars.update.payload.volume"
        )
        in changes
    )


def test_removed_ws_route_is_breaking() -> None:
    old = asyncapi({})
    new = {**old, "channels": {}}
    assert compare_asyncapi(old, new) == [
        SpecChange("removed-ws-route", "WS feed.bars", "route removed")
    ]
