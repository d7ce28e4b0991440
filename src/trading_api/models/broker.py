"""Orders, positions, executions, account and leverage, as TradingView's broker API.

Field names are camelCase on the wire (``orderId``, ``limitPrice``, ``avgPrice``)
and enums are the numeric values TradingView uses. Quantities, prices and money are
JSON numbers; the broker rounds money to cents and prices to the tick at every
booking step.
"""

from typing import Annotated

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from trading_api.models.common import (
    CamelModel,
    JsonInt,
    NamedIntEnum,
    NamedStrEnum,
    required_when,
)

AccountId = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
]
Symbol = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9:._-]+$"),
]
Quantity = Annotated[float, Field(gt=0, le=1_000_000)]
MIN_LEVERAGE, MAX_LEVERAGE, LEVERAGE_INCREMENT = 1.0, 100.0, 1.0
Price = Annotated[float, Field(gt=0, le=1_000_000_000)]


class OrderType(NamedIntEnum):
    """How an order executes."""

    LIMIT = 1
    MARKET = 2
    STOP = 3
    STOP_LIMIT = 4


class Side(NamedIntEnum):
    """Buy or sell."""

    BUY = 1
    SELL = -1


class OrderStatus(NamedIntEnum):
    """Where an order is in its life."""

    CANCELED = 1
    FILLED = 2
    INACTIVE = 3
    PLACING = 4
    REJECTED = 5
    WORKING = 6


class ParentType(NamedIntEnum):
    """What a bracket order protects."""

    ORDER = 1
    POSITION = 2
    TRADE = 3


class TimeInForce(NamedStrEnum):
    """How long an order works: until the session ends (DAY) or until cancelled."""

    DAY = "DAY"
    GTC = "GTC"


class ConnectionStatus(NamedIntEnum):
    """The state of the broker connection."""

    CONNECTED = 1
    CONNECTING = 2
    DISCONNECTED = 3
    ERROR = 4


def _require_price(
    value: float | None, info: ValidationInfo, types: set[OrderType]
) -> float | None:
    order_type = info.data.get("type")
    if value is None and order_type in types:
        name = to_camel(info.field_name or "price")
        raise ValueError(f"{name} is required for {order_type.name} orders")
    return value


class OrderDuration(CamelModel):
    """TradingView's order duration: its ``type`` is the time in force."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: TimeInForce = Field(
        description="DAY expires at the end of the symbol's session; GTC works "
        "until filled or cancelled."
    )
    datetime: JsonInt | None = Field(
        default=None,
        description="When a DAY order expires, UNIX milliseconds; set by the "
        "broker, ignored on input.",
    )


class PreOrder(CamelModel):
    """An order as the client submits it (place or preview).

    TradingView's PreOrder as its order ticket sends it: fields this broker does
    not use (``currentQuotes``, ``customFields``, ``stopType`` ...) are ignored.
    LIMIT and STOP_LIMIT orders need a ``limitPrice``, STOP and STOP_LIMIT a
    ``stopPrice``; the JSON schema says so with ``if``/``then`` rules.
    """

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            "allOf": [
                required_when(
                    "type", [OrderType.LIMIT, OrderType.STOP_LIMIT], ["limitPrice"]
                ),
                required_when(
                    "type", [OrderType.STOP, OrderType.STOP_LIMIT], ["stopPrice"]
                ),
            ]
        },
    )

    symbol: Symbol
    type: OrderType
    side: Side
    qty: Quantity
    limit_price: Price | None = Field(default=None, validate_default=True)
    stop_price: Price | None = Field(default=None, validate_default=True)
    take_profit: Price | None = None
    stop_loss: Price | None = None
    duration: OrderDuration | None = Field(
        default=None, description="Time in force; GTC when absent."
    )
    seen_price: Price | None = Field(
        default=None,
        description="The price the client showed when the order was sent; a "
        "MARKET order reports its slippage against it.",
    )
    is_close: bool = Field(
        default=False,
        description="The order only closes a position: refused when there is "
        "nothing to close, cancelled if the position is gone when it would fill.",
    )

    @field_validator("limit_price")
    @classmethod
    def _limit_price_required(
        cls, value: float | None, info: ValidationInfo
    ) -> float | None:
        return _require_price(value, info, {OrderType.LIMIT, OrderType.STOP_LIMIT})

    @field_validator("stop_price")
    @classmethod
    def _stop_price_required(
        cls, value: float | None, info: ValidationInfo
    ) -> float | None:
        return _require_price(value, info, {OrderType.STOP, OrderType.STOP_LIMIT})


class OrderModification(CamelModel):
    """Changes to a working order, or the whole TradingView Order object.

    Absent fields stay as they are; ``takeProfit`` or ``stopLoss`` null removes
    that bracket. ``id``, ``symbol``, ``type`` and ``side``, when sent, must be
    the order's own; fields the broker manages (``status``, ``filledQty`` ...) and
    unknown fields are ignored.
    """

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str | None = None
    symbol: Symbol | None = None
    type: OrderType | None = None
    side: Side | None = None
    qty: Quantity | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None
    take_profit: Price | None = None
    stop_loss: Price | None = None
    duration: OrderDuration | None = None


class Order(CamelModel):
    """An order and its state."""

    id: str
    symbol: str
    type: OrderType
    side: Side
    qty: float
    status: OrderStatus
    limit_price: float | None = None
    stop_price: float | None = None
    avg_price: float | None = None
    filled_qty: float = 0.0
    parent_id: str | None = None
    parent_type: ParentType | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    duration: OrderDuration | None = None
    seen_price: float | None = None
    is_close: bool = False
    update_time: int = Field(default=0, description="Last change, UNIX milliseconds.")
    message: str | None = Field(
        default=None, description="Why it was rejected, cancelled or expired."
    )


class PlaceOrderResult(CamelModel):
    """The id of a newly placed order."""

    order_id: str


class Brackets(CamelModel):
    """Take-profit and stop-loss prices; null or absent removes a bracket."""

    model_config = ConfigDict(extra="ignore", strict=True)

    take_profit: Price | None = None
    stop_loss: Price | None = None


class Position(CamelModel):
    """A net position in one symbol; ``qty`` 0 means it was just closed."""

    id: str
    symbol: str
    qty: float
    side: Side
    avg_price: float
    take_profit: float | None = None
    stop_loss: float | None = None
    pl: float = Field(default=0.0, description="Unrealized profit and loss.")


class Execution(CamelModel):
    """One fill."""

    id: str
    order_id: str
    symbol: str
    price: float
    qty: float
    side: Side
    time: int = Field(description="UNIX milliseconds.")


class AccountInfo(CamelModel):
    """An account's money: equity = balance + unrealized P&L."""

    id: str
    name: str
    currency: str
    currency_sign: str
    balance: float
    equity: float
    realized_pl: float
    unrealized_pl: float
    used_margin: float
    available_funds: float


class EquityData(CamelModel):
    """An equity update pushed on the equity stream."""

    account_id: str
    equity: float
    balance: float
    unrealized_pl: float
    realized_pl: float


class BrokerConnectionData(CamelModel):
    """The broker connection state pushed on the broker-connection stream."""

    account_id: str
    status: ConnectionStatus
    message: str


class PreviewRow(CamelModel):
    """One line of an order preview."""

    title: str
    value: str


class PreviewSection(CamelModel):
    """A titled group of preview lines."""

    header: str | None = None
    rows: list[PreviewRow]


class OrderPreviewResult(CamelModel):
    """What placing an order would do, without doing it."""

    sections: list[PreviewSection]
    confirm_id: str | None = None
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class LeverageInfoParams(CamelModel, strict=True):
    """Which leverage is asked about."""

    symbol: Symbol
    order_type: OrderType
    side: Side


class LeverageInfo(CamelModel):
    """The current leverage of a symbol and its allowed range."""

    title: str
    leverage: float
    min: float
    max: float
    step: float


class LeveragePreviewParams(LeverageInfoParams):
    """A leverage to preview: any positive value; problems are listed, not refused."""

    leverage: float = Field(gt=0, le=1000)


class LeverageSetParams(LeveragePreviewParams):
    """A leverage to apply to a symbol: a whole number in the allowed range."""

    leverage: float = Field(
        ge=MIN_LEVERAGE, le=MAX_LEVERAGE, multiple_of=LEVERAGE_INCREMENT
    )


class LeverageSetResult(CamelModel):
    """The leverage now in force."""

    leverage: float


class LeveragePreviewResult(CamelModel):
    """What setting a leverage would mean."""

    infos: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class AccountSubscriptionRequest(CamelModel, strict=True):
    """Subscribe to one account's stream."""

    account_id: AccountId
