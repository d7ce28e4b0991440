"""The project's conventions: module names, their spellings, reserved paths."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trading_api.conventions import (
    API_PREFIX,
    RESERVED_NAMES,
    class_name_for,
    collision,
    module_names,
    name_problem,
    new_module_problem,
    package_for,
    pascal_for,
)


@pytest.mark.parametrize(
    ("name", "package", "class_name"),
    [
        ("core", "core", "CoreModule"),
        ("market-data", "market_data", "MarketDataModule"),
        ("fx2-rates", "fx2_rates", "Fx2RatesModule"),
    ],
)
def test_valid_names_map_to_package_and_class(
    name: str, package: str, class_name: str
) -> None:
    assert name_problem(name) is None
    assert package_for(name) == package
    assert class_name_for(name) == class_name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("market_data", "did you mean 'market-data'?"),
        ("Market-Data", "did you mean 'market-data'?"),
        ("1st-module", "starts with a digit"),
        ("class", "Python keyword"),
        ("shared", "reserved"),
        ("a/b", "looks like a path"),
        ("market--data", "not kebab-case"),
        ("", "empty"),
        ("foo\n", "not kebab-case"),
        ("foo-\n", "not kebab-case"),
        ("a" * 31, "keep it to 30"),
    ],
)
def test_invalid_names_say_what_to_do(name: str, hint: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert hint in problem


@pytest.mark.parametrize(
    ("name", "served"),
    [
        ("docs", "/api/v1/docs"),
        ("docs-assets", "/api/v1/docs-assets"),
        ("ws", "/api/v1/ws/asyncapi.json"),
    ],
)
def test_names_the_root_app_serves_are_refused_naming_the_path(
    name: str, served: str
) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert served in problem


def test_every_path_segment_of_the_root_app_is_reserved() -> None:
    from trading_api.app_factory import AppFactory

    app = AppFactory().create_app(["core"])
    modules = {f"{API_PREFIX}/{name}" for name in app.module_apps}
    paths = [getattr(route, "path", "") for route in app.routes]
    # A module at /api/v1/<name> would shadow any root path below that segment.
    below = [p.removeprefix(f"{API_PREFIX}/") for p in paths if p not in modules]
    segments = {path.split("/")[0] for path in below if not path.startswith("/")}
    segments.discard("")  # the redirect at /api/v1/ to the docs
    assert {"docs", "docs-assets", "openapi.json", "ws"} <= segments
    assert segments <= RESERVED_NAMES


@pytest.mark.parametrize(
    ("name", "other"),
    [("x1", "x-1"), ("x-1", "x1"), ("a-b1", "a-b-1"), ("ab", "ab")],
)
def test_names_sharing_a_class_or_schema_prefix_collide(name: str, other: str) -> None:
    problem = collision(name, [other, "core"])
    if name == other:
        assert problem is None  # the same module, not a clash
    else:
        assert problem is not None
        assert repr(other) in problem
        assert f"'{pascal_for(name)}Module'" in problem


def test_distinct_spellings_do_not_collide() -> None:
    assert collision("market-data", ["core", "market", "data", "marketdata"]) is None


def test_module_folders_are_found_without_importing_them(tmp_path: Path) -> None:
    root = tmp_path
    for folder in ("broker", "core", "market_data", "_private", ".hidden"):
        (root / folder).mkdir()
        (root / folder / "__init__.py").write_text("raise SystemExit('imported')\n")
    (root / "no_init").mkdir()
    assert module_names(root) == ["core", "broker", "market-data"]


def test_the_conventions_import_no_third_party_package() -> None:
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import trading_api.conventions, trading_api.shared.errors\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    outside = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] != "trading_api"
    ]
    assert "trading_api.conventions" in loaded
    assert outside == []
    assert [n for n in loaded if n.startswith("trading_api.")] == sorted(
        ["trading_api.conventions", "trading_api.shared", "trading_api.shared.errors"]
    )


@pytest.mark.parametrize("name", ["docs-assets", "foo\n", "core", "a" * 31, "x--y"])
def test_the_module_template_refuses_what_the_conventions_refuse(
    name: str, tmp_path: Path
) -> None:
    from copier import run_copy

    template = Path(__file__).resolve().parents[1] / "templates" / "module"
    with pytest.raises(ValueError, match="Validation error") as refused:
        run_copy(
            str(template),
            tmp_path / "module",
            data={"name": name},
            defaults=True,
            quiet=True,
            unsafe=True,
        )
    problem = new_module_problem(name)
    assert problem is not None
    assert problem in str(refused.value)
    assert not (tmp_path / "module").exists()
