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

from trading_api.models.broker import Execution, Order, Side


def money(amount: float) -> float:
    """Round an amount of money to cents."""
    return round(amount, 2)


def _qty(amount: float) -> float:
    return round(amount, 8)


@dataclass
class Holding:
    """A net position: signed quantity (long > 0) and average entry price."""

    symbol: str
    qty: float = 0.0
    avg_price: float = 0.0

    def apply_fill(self, side: Side, qty: float, price: float) -> float:
        """Book a fill and return the P&L it realizes."""
        signed = side.value * qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = abs(self.qty) + qty
            self.avg_price = round(
                (abs(self.qty) * self.avg_price + qty * price) / total, 8
            )
            self.qty = _qty(self.qty + signed)
            return 0.0
        direction = 1 if self.qty > 0 else -1
        closed = min(abs(self.qty), qty)
        realized = money(closed * (price - self.avg_price) * direction)
        remaining = _qty(self.qty + signed)
        if remaining == 0:
            self.avg_price = 0.0
        elif (remaining > 0) != (self.qty > 0):
            self.avg_price = price
        self.qty = remaining
        return realized

    def unrealized(self, price: float) -> float:
        """P&L if the position were closed at ``price``."""
        return money(self.qty * (price - self.avg_price))


@dataclass
class Account:
    """One trading account: cash, positions, orders, fills and leverage."""

    id: str
    balance: float
    realized_pl: float = 0.0
    holdings: dict[str, Holding] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    leverage: dict[str, float] = field(default_factory=dict)
    brackets: dict[str, dict[str, str]] = field(default_factory=dict)

    def book(self, realized: float) -> None:
        """Add realized P&L to the cash balance."""
        self.balance = money(self.balance + realized)
        self.realized_pl = money(self.realized_pl + realized)

    def holding(self, symbol: str) -> Holding:
        """The position in ``symbol`` (flat if none)."""
        return self.holdings.setdefault(symbol, Holding(symbol))
