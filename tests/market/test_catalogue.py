"""The catalogue: one canonical instrument per symbol, quantity rules."""

import pytest

from trading_api.market import (
    EXCHANGES,
    INSTRUMENTS,
    QuantityError,
    UnknownSymbolError,
    resolve,
)


@pytest.mark.parametrize("symbol", ["AAPL", "NASDAQ:AAPL"])
def test_ticker_and_bare_name_resolve_to_one_instrument(symbol: str) -> None:
    found = resolve(symbol)
    assert found is resolve("NASDAQ:AAPL")
    assert (found.ticker, found.pricescale) == ("NASDAQ:AAPL", 100)
    assert found.min_tick == 0.01


@pytest.mark.parametrize("symbol", ["NOT_A_SYMBOL", "aapl", "NYSE:AAPL", ""])
def test_unknown_symbol_is_a_typed_error_naming_it(symbol: str) -> None:
    with pytest.raises(UnknownSymbolError) as error:
        resolve(symbol)
    assert error.value.symbol == symbol
    assert repr(symbol) in str(error.value)


def test_catalogue_has_fourteen_symbols_on_the_listed_exchanges() -> None:
    assert len(INSTRUMENTS) == 14
    assert {i.exchange for i in INSTRUMENTS} == set(EXCHANGES)
    assert len({i.ticker for i in INSTRUMENTS}) == 14


@pytest.mark.parametrize(
    ("symbol", "qty"),
    [("AAPL", 1), ("AAPL", 250), ("BTCUSD", 0.0003), ("EURUSD", 2_000)],
)
def test_quantities_on_the_step_are_accepted(symbol: str, qty: float) -> None:
    resolve(symbol).check_quantity(qty)


@pytest.mark.parametrize(
    ("symbol", "qty", "message"),
    [
        ("AAPL", 1e-9, "below its minimum 1"),
        ("AAPL", 0, "below its minimum 1"),
        ("AAPL", 1.5, "not a multiple of its step 1"),
        ("BTCUSD", 0.00015, "not a multiple of its step 0.0001"),
        ("EURUSD", 1_500, "not a multiple of its step 1000"),
        ("EURUSD", float("nan"), "below its minimum 1000"),
    ],
)
def test_quantities_below_minimum_or_off_step_are_refused(
    symbol: str, qty: float, message: str
) -> None:
    with pytest.raises(QuantityError, match=message):
        resolve(symbol).check_quantity(qty)
