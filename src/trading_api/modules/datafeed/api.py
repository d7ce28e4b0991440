"""Datafeed REST routes (TradingView UDF-style), relative to ``/api/v1/datafeed``.

Times in requests are UNIX seconds as in TradingView's UDF; ``Bar.time`` in answers
is UNIX milliseconds as in TradingView's ``Bar``. Domain errors become HTTP errors
through :data:`ERROR_STATUSES` only: unknown symbol 404, broken rule 400.

Every route is public: market data belongs to no user, and a chart page shows it
before anyone signs in (TradingView's library calls these from the browser).
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from trading_api.market import MAX_BARS
from trading_api.models.bars import BarsHistory, Resolution
from trading_api.models.common import error_responses
from trading_api.models.datafeed import (
    DatafeedConfiguration,
    QuoteData,
    QuotesRequest,
    SearchSymbolResultItem,
    SymbolInfo,
)
from trading_api.shared.auth import public

from .service import DatafeedError, DatafeedService, MarketError, UnknownSymbolError

LATEST_TIME = 4_102_444_800  # 2100-01-01: later timestamps are certainly mistakes.
Symbol = Annotated[str, Query(min_length=1, max_length=64, examples=["NASDAQ:AAPL"])]
Timestamp = Annotated[int, Query(ge=0, le=LATEST_TIME, description="UNIX seconds")]
Filter = Annotated[str, Query(max_length=32)]


def create_router(service: DatafeedService) -> APIRouter:
    """The datafeed REST routes, bound to ``service``."""
    router = APIRouter()

    @router.get("/config", response_model=DatafeedConfiguration, status_code=200)
    @public
    async def get_config() -> DatafeedConfiguration:
        """What the datafeed supports: resolutions, exchanges, symbol types."""
        return service.configuration()

    @router.get("/time", response_model=int, status_code=200)
    @public
    async def get_time() -> int:
        """The server's time in UNIX seconds (TradingView's ``getServerTime``)."""
        return service.server_time()

    @router.get("/search", response_model=list[SearchSymbolResultItem], status_code=200)
    @public
    async def search_symbols(
        user_input: Annotated[str, Query(max_length=64)] = "",
        exchange: Filter = "",
        symbol_type: Filter = "",
        max_results: Annotated[int, Query(ge=1, le=100)] = 30,
    ) -> list[SearchSymbolResultItem]:
        """Find symbols by name or description, optionally per exchange and type."""
        return service.search(user_input, exchange, symbol_type, max_results)

    @router.get(
        "/resolve/{symbol}",
        response_model=SymbolInfo,
        status_code=200,
        responses=error_responses(404),
    )
    @public
    async def resolve_symbol(
        symbol: Annotated[str, Path(max_length=64, examples=["NASDAQ:AAPL"])],
    ) -> SymbolInfo:
        """Everything the chart needs about a symbol (ticker or bare name)."""
        return service.resolve(symbol)

    # A plain function: FastAPI runs it in its thread pool, so computing up to
    # 5000 bars does not hold up the event loop that serves the WebSockets.
    @router.get(
        "/bars",
        response_model=BarsHistory,
        status_code=200,
        responses=error_responses(404),
    )
    @public
    def get_bars(
        symbol: Symbol,
        resolution: Resolution,
        from_time: Timestamp,
        to_time: Timestamp,
        count_back: Annotated[
            int | None,
            Query(
                ge=1,
                le=MAX_BARS,
                description=(
                    f"Answer the last count_back bars before to_time, whatever "
                    f"from_time says; at most {MAX_BARS}."
                ),
            ),
        ] = None,
    ) -> BarsHistory:
        """Bars opening in [from_time, to_time), or the last count_back before it.

        Bars exist only while the symbol's session is open. A window holding more
        than 5000 bars answers its latest 5000 (ask again with to_time set to the
        first bar's time for the earlier ones). An empty window (to_time at or
        before from_time included) answers noData, with nextTime the opening of
        the last bar before from_time when there is one.
        """
        return service.bars(symbol, resolution, from_time, to_time, count_back)

    @router.post("/quotes", response_model=list[QuoteData], status_code=200)
    @public
    async def get_quotes(request: QuotesRequest) -> list[QuoteData]:
        """Current quotes; an unknown symbol gets an entry with ``s: "error"``."""
        return service.quotes(request.symbols)

    return router


ERROR_STATUSES: dict[type[Exception], int] = {
    UnknownSymbolError: 404,
    MarketError: 400,
    DatafeedError: 400,
}
"""Datafeed errors as HTTP: unknown symbol 404, any other problem 400."""
