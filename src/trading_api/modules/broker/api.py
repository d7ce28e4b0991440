"""Broker REST routes (TradingView broker API), relative to ``/api/v1/broker``.

Every route acts on one account, named by the ``accountId`` query parameter
(default ``DEMO-1``); an account is created with its starting balance on first use.
The caller must own it (the token's accounts claim): otherwise 403, the same
for an account that does not exist.
A query parameter rather than a header keeps requests easy to share, bookmark and
try from the docs page. Domain errors become HTTP errors in
:func:`install_error_handler` only: unknown id 404, wrong state 409, broken rule 400.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from trading_api.market import MarketError
from trading_api.models.broker import (
    AccountInfo,
    Brackets,
    Execution,
    LeverageInfo,
    LeverageInfoParams,
    LeveragePreviewParams,
    LeveragePreviewResult,
    LeverageSetParams,
    LeverageSetResult,
    Order,
    OrderModification,
    OrderPreviewResult,
    OrderType,
    PlaceOrderResult,
    Position,
    PreOrder,
    Side,
)
from trading_api.models.common import error_responses
from trading_api.shared.auth import (
    FORBIDDEN_RESPONSE,
    CurrentPrincipal,
    require_account,
)

from .errors import (
    BrokerError,
    ConflictError,
    NotFoundError,
    StorageUnavailableError,
)
from .service import BrokerService

DEFAULT_ACCOUNT = "DEMO-1"
AccountParam = Annotated[
    str,
    Query(
        alias="accountId",
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The account to act on; created on first use.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the request safe to retry: a retry with the same key and "
        "order gets the first answer and places nothing; the same key with a "
        "different order is a 409. Keys are per account.",
    ),
]
OrderId = Annotated[str, Path(max_length=32)]
SymbolParam = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9:._-]+$")]


async def owned_account(
    principal: CurrentPrincipal, account_id: AccountParam = DEFAULT_ACCOUNT
) -> None:
    """403 unless the caller owns the account (unknown accounts alike)."""
    require_account(principal, account_id)


def create_router(service: BrokerService) -> APIRouter:
    """The broker REST routes, bound to ``service``; each checks ownership."""
    router = APIRouter(
        dependencies=[Depends(owned_account)], responses=FORBIDDEN_RESPONSE
    )
    _add_order_routes(router, service)
    _add_position_routes(router, service)
    _add_account_routes(router, service)
    return router


def _add_order_routes(router: APIRouter, service: BrokerService) -> None:
    @router.post(
        "/orders",
        response_model=PlaceOrderResult,
        status_code=201,
        responses=error_responses(400, 409),
    )
    async def place_order(
        order: PreOrder,
        response: Response,
        account_id: AccountParam = DEFAULT_ACCOUNT,
        idempotency_key: IdempotencyKey = None,
    ) -> PlaceOrderResult:
        """Place an order; MARKET fills at once, others when the price crosses."""
        if idempotency_key is None:
            return PlaceOrderResult(
                order_id=await service.place_order(account_id, order)
            )
        order_id, replayed = await service.place_order_once(
            account_id, order, idempotency_key
        )
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return PlaceOrderResult(order_id=order_id)

    @router.post(
        "/orders/preview",
        response_model=OrderPreviewResult,
        status_code=200,
        responses=error_responses(400),
    )
    async def preview_order(
        order: PreOrder, account_id: AccountParam = DEFAULT_ACCOUNT
    ) -> OrderPreviewResult:
        """Show cost, margin and problems of an order without placing it."""
        return await service.preview_order(account_id, order)

    @router.put(
        "/orders/{order_id}",
        response_model=Order,
        status_code=200,
        responses=error_responses(400, 404, 409),
    )
    async def modify_order(
        order_id: OrderId,
        changes: OrderModification,
        account_id: AccountParam = DEFAULT_ACCOUNT,
    ) -> Order:
        """Change quantity, prices or brackets of a working or inactive order."""
        return await service.modify_order(account_id, order_id, changes)

    @router.delete(
        "/orders/{order_id}",
        response_model=Order,
        status_code=200,
        responses=error_responses(404, 409),
    )
    async def cancel_order(
        order_id: OrderId, account_id: AccountParam = DEFAULT_ACCOUNT
    ) -> Order:
        """Cancel a working or inactive order (a filled one is a conflict)."""
        return await service.cancel_order(account_id, order_id)

    @router.get("/orders", response_model=list[Order], status_code=200)
    async def list_orders(account_id: AccountParam = DEFAULT_ACCOUNT) -> list[Order]:
        """Every order of the account, in any state, oldest first."""
        return await service.orders(account_id)


def _add_position_routes(router: APIRouter, service: BrokerService) -> None:
    @router.get("/positions", response_model=list[Position], status_code=200)
    async def list_positions(
        account_id: AccountParam = DEFAULT_ACCOUNT,
    ) -> list[Position]:
        """The account's open positions (one per symbol; the id is the symbol)."""
        return await service.positions(account_id)

    @router.delete(
        "/positions/{position_id}",
        response_model=PlaceOrderResult,
        status_code=200,
        responses=error_responses(400, 404, 409),
    )
    async def close_position(
        position_id: SymbolParam,
        amount: Annotated[float | None, Query(gt=0, le=1_000_000)] = None,
        account_id: AccountParam = DEFAULT_ACCOUNT,
    ) -> PlaceOrderResult:
        """Close a position, or ``amount`` of it, at market; returns the order id."""
        return PlaceOrderResult(
            order_id=await service.close_position(account_id, position_id, amount)
        )

    @router.put(
        "/positions/{position_id}/brackets",
        response_model=Position,
        status_code=200,
        responses=error_responses(400, 404, 409),
    )
    async def edit_position_brackets(
        position_id: SymbolParam,
        brackets: Brackets,
        account_id: AccountParam = DEFAULT_ACCOUNT,
    ) -> Position:
        """Set, move or remove (null) a position's take-profit and stop-loss."""
        return await service.set_position_brackets(account_id, position_id, brackets)

    @router.get(
        "/executions/{symbol}",
        response_model=list[Execution],
        status_code=200,
        responses=error_responses(400),
    )
    async def list_executions(
        symbol: SymbolParam, account_id: AccountParam = DEFAULT_ACCOUNT
    ) -> list[Execution]:
        """The account's fills in ``symbol``, oldest first."""
        return await service.executions(account_id, symbol)


def _add_account_routes(router: APIRouter, service: BrokerService) -> None:
    @router.get("/account", response_model=AccountInfo, status_code=200)
    async def get_account(account_id: AccountParam = DEFAULT_ACCOUNT) -> AccountInfo:
        """Balance, equity, realized and unrealized P&L, margin."""
        return await service.account_info(account_id)

    @router.get(
        "/leverage/info",
        response_model=LeverageInfo,
        status_code=200,
        responses=error_responses(400),
    )
    async def get_leverage_info(
        symbol: Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z0-9:._-]+$")],
        order_type: Annotated[OrderType, Query(alias="orderType")],
        side: Side,
        account_id: AccountParam = DEFAULT_ACCOUNT,
    ) -> LeverageInfo:
        """The leverage in force for a symbol and its allowed range."""
        params = LeverageInfoParams(symbol=symbol, order_type=order_type, side=side)
        return await service.leverage_info(account_id, params)

    @router.put(
        "/leverage/set",
        response_model=LeverageSetResult,
        status_code=200,
        responses=error_responses(400, 409),
    )
    async def set_leverage(
        params: LeverageSetParams, account_id: AccountParam = DEFAULT_ACCOUNT
    ) -> LeverageSetResult:
        """Apply a leverage to a symbol."""
        return await service.set_leverage(account_id, params)

    @router.post(
        "/leverage/preview",
        response_model=LeveragePreviewResult,
        status_code=200,
        responses=error_responses(400),
    )
    async def preview_leverage(
        params: LeveragePreviewParams, account_id: AccountParam = DEFAULT_ACCOUNT
    ) -> LeveragePreviewResult:
        """What a leverage would mean, with problems listed instead of refused."""
        return await service.preview_leverage(account_id, params)


ERROR_STATUSES: dict[type[Exception], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    StorageUnavailableError: 503,
    BrokerError: 400,
    MarketError: 400,
}
"""Broker errors as HTTP: unknown id 404; wrong state, a limit or an idempotency
key reused for another order 409; a change that could not be stored (nothing
changed) 503; an unknown symbol, a quantity off the symbol's
step or any other rule 400."""
