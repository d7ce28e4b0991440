"""The naming rules shared by the registry and the CLI."""

import pytest

from trading_api.shared.naming import class_name_for, name_problem, package_for


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
    ],
)
def test_invalid_names_say_what_to_do(name: str, hint: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert hint in problem
