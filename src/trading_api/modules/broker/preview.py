"""Previews: what an order or a leverage change would mean, shown as text rows."""

from trading_api.models.broker import (
    LeveragePreviewResult,
    OrderPreviewResult,
    PreOrder,
    PreviewRow,
    PreviewSection,
)
from trading_api.modules.broker.accounting import money
from trading_api.modules.broker.rules import leverage_problem

HIGH_LEVERAGE = 20.0


def order_preview(
    pre: PreOrder,
    *,
    price: float,
    leverage: float,
    available: float,
    errors: list[str],
) -> OrderPreviewResult:
    """Estimated value, margin and funds of ``pre`` at ``price``; ``errors`` as is."""
    value = money(pre.qty * price)
    margin = money(value / leverage)
    warnings = []
    if not errors and margin > available / 2:
        warnings.append("this order uses more than half of the available funds")
    rows = [
        ("Symbol", pre.symbol),
        ("Side", pre.side.name.lower()),
        ("Type", pre.type.name.lower()),
        ("Quantity", f"{pre.qty:g}"),
        ("Estimated price", f"{price:.2f}"),
        ("Estimated value", f"{value:.2f} USD"),
        ("Required margin", f"{margin:.2f} USD"),
        ("Commission", "0.00 USD"),
        ("Available funds", f"{available:.2f} USD"),
    ]
    section = PreviewSection(
        header="Order", rows=[PreviewRow(title=t, value=v) for t, v in rows]
    )
    return OrderPreviewResult(sections=[section], warnings=warnings, errors=errors)


def leverage_preview(leverage: float) -> LeveragePreviewResult:
    """The margin a leverage implies, a warning when high, errors when invalid."""
    problem = leverage_problem(leverage)
    if problem:
        return LeveragePreviewResult(errors=[problem])
    warnings = []
    if leverage > HIGH_LEVERAGE:
        warnings.append(
            f"leverage above {HIGH_LEVERAGE:g} magnifies losses as much as gains"
        )
    info = f"margin per 1000.00 USD of exposure: {money(1000 / leverage):.2f} USD"
    return LeveragePreviewResult(infos=[info], warnings=warnings)
