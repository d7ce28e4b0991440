"""Accounts and net-position bookkeeping.

Money is kept as float rounded to cents at every booking step (balance, realized
P&L); prices to 1e-8 for averages. JSON carries numbers, so floats avoid a
Decimal<->number conversion at every boundary, and rounding at each step keeps
errors below a cent per fill.

Position rules: a fill in the position's direction (or from flat) adds and moves
the average price to the quantity-weighted mean; a fill against it reduces the
position and realizes ``closed_qty * (price - avg) * direction``; a fill larger
than the position closes it and opens the rest the other way at the fill price.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from trading_api.models.broker import Order, Side


def money(amount: float) -> float:
    """Round an amount of money to cents."""
    return round(amount, 2)


def _qty(amount: float) -> float:
    return round(amount, 8)


class FillResult(NamedTuple):
    """A position after a fill, and the P&L the fill realized."""

    qty: float
    avg_price: float
    realized: float


@dataclass
class Holding:
    """A net position: signed quantity (long > 0) and average entry price."""

    symbol: str
    qty: float = 0.0
    avg_price: float = 0.0

    def after_fill(self, side: Side, qty: float, price: float) -> FillResult:
        """What a fill would make of this position; changes nothing."""
        signed = side.value * qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = abs(self.qty) + qty
            average = round((abs(self.qty) * self.avg_price + qty * price) / total, 8)
            return FillResult(_qty(self.qty + signed), average, 0.0)
        direction = 1 if self.qty > 0 else -1
        closed = min(abs(self.qty), qty)
        realized = money(closed * (price - self.avg_price) * direction)
        remaining = _qty(self.qty + signed)
        if remaining == 0:
            average = 0.0
        elif (remaining > 0) != (self.qty > 0):
            average = price
        else:
            average = self.avg_price
        return FillResult(remaining, average, realized)

    def unrealized(self, price: float) -> float:
        """P&L if the position were closed at ``price``."""
        return money(self.qty * (price - self.avg_price))


@dataclass
class Account:
    """One trading account as the engine serves it: cash, positions, open
    orders and leverage.

    Plain records, each a row of the broker's tables: the account row (cash and
    ``version``, the number of stored changes), its holdings (one per symbol
    with a position), its orders (``open`` indexes the working and inactive
    ones; ``triggered`` marks stop-limits whose stop was reached, ``fresh`` legs
    activated since the last match, ``checked`` when each working order was last
    matched against the path) and its leverage per symbol. Finished orders and
    executions are stored, not kept: ``orders`` holds them only until the
    command that finished them is stored.
    """

    id: str
    balance: float
    realized_pl: float = 0.0
    holdings: dict[str, Holding] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    open: dict[str, Order] = field(default_factory=dict)
    triggered: set[str] = field(default_factory=set)
    fresh: set[str] = field(default_factory=set)
    checked: dict[str, float] = field(default_factory=dict)
    leverage: dict[str, float] = field(default_factory=dict)
    version: int = 0

    def book(self, realized: float) -> None:
        """Add realized P&L to the cash balance."""
        self.balance = money(self.balance + realized)
        self.realized_pl = money(self.realized_pl + realized)

    def position_qty(self, symbol: str) -> float:
        """The signed quantity held in ``symbol`` (0 when flat)."""
        holding = self.holdings.get(symbol)
        return holding.qty if holding else 0.0
