"""Discovery and validation of module packages, on throwaway modules."""

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from trading_api.shared.errors import ModuleDiscoveryError, UnknownModuleError
from trading_api.shared.module_registry import ModuleEntry, ModuleRegistry

WriteModule = Callable[..., Path]


def discover(modules_dir: Path) -> ModuleRegistry:
    registry = ModuleRegistry()
    registry.auto_discover(modules_dir)
    return registry


def test_hyphenated_module_is_discovered_under_its_kebab_name(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("market_data")
    registry = discover(modules_dir)
    assert registry.names == ["market-data"]
    assert registry.create_module("market-data").name == "market-data"


def test_discovery_imports_nothing(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("alpha")
    write_module("beta")
    registry = discover(modules_dir)
    registry.create_module("alpha")
    assert registry.entry("alpha").import_name in sys.modules
    assert registry.entry("beta").import_name not in sys.modules


def test_underscore_module_name_is_rejected_with_the_fix(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("market_data", name="market_data", class_name="MarketDataModule")
    registry = discover(modules_dir)
    with pytest.raises(ModuleDiscoveryError, match="set name = 'market-data'"):
        registry.create_module("market-data")


def test_package_folder_that_is_not_snake_case_is_rejected(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("Market-Data", name="market-data")
    with pytest.raises(
        ModuleDiscoveryError, match="rename the folder to 'market_data'"
    ):
        discover(modules_dir)


def test_wrong_class_name_names_the_expected_class(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("market_data", class_name="MarketdataModule")
    registry = discover(modules_dir)
    with pytest.raises(ModuleDiscoveryError) as caught:
        registry.create_module("market-data")
    message = str(caught.value)
    assert "'MarketDataModule'" in message
    assert "found MarketdataModule" in message


def test_duplicate_registration_is_rejected(
    modules_dir: Path, write_module: WriteModule
) -> None:
    package_dir = write_module("alpha")
    registry = discover(modules_dir)
    duplicate = ModuleEntry("alpha", "alpha", package_dir, "elsewhere.alpha")
    with pytest.raises(ModuleDiscoveryError, match="'alpha' is already registered"):
        registry.register(duplicate)


def test_import_error_names_the_module_and_the_line(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("broken", body="import json\nimport no_such_dependency\n")
    write_module("fine")
    registry = discover(modules_dir)
    with pytest.raises(ModuleDiscoveryError) as caught:
        registry.create_module("broken")
    message = str(caught.value)
    assert message.startswith("module 'broken' failed to import: ModuleNotFoundError")
    assert "__init__.py:2" in message
    assert "\n" not in message
    assert registry.create_module("fine").name == "fine"


def test_syntax_error_names_file_and_line(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("typo", body="x = 1\ndef broken(:\n")
    registry = discover(modules_dir)
    with pytest.raises(ModuleDiscoveryError, match=r"SyntaxError.*__init__.py:2"):
        registry.create_module("typo")


def test_unknown_module_lists_the_known_ones(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("alpha")
    registry = discover(modules_dir)
    with pytest.raises(UnknownModuleError, match="known modules: alpha"):
        registry.create_module("nope")


def test_private_and_non_package_folders_are_ignored(
    modules_dir: Path, write_module: WriteModule
) -> None:
    write_module("alpha")
    (modules_dir / "_scratch").mkdir()
    (modules_dir / "_scratch" / "__init__.py").write_text("raise SystemExit\n")
    (modules_dir / "notes").mkdir()
    assert discover(modules_dir).names == ["alpha"]


def test_packages_that_share_a_class_name_are_rejected(
    modules_dir: Path, write_module: WriteModule
) -> None:
    # x-1 and x1 both make X1Module and X1Item: the second one found is refused.
    write_module("x1")
    write_module("x_1")
    with pytest.raises(
        ModuleDiscoveryError, match=r"'x-1' makes the class 'X1Module'.*module 'x1'"
    ):
        discover(modules_dir)


def test_unknown_module_is_a_usage_error() -> None:
    registry = ModuleRegistry()
    with pytest.raises(UnknownModuleError) as caught:
        registry.entry("nope")
    assert caught.value.exit_code == 2
