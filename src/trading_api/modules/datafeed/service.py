"""The market data service: symbols, history, quotes and live streams.

Everything comes from the shared market library (``trading_api.market``): history
and live values are a pure function of (symbol, time), so the REST history, the
WebSocket stream and the broker's fills agree, and tests pin time and prices
through the :class:`~trading_api.market.Market` they pass in. Live streams are
driven by :meth:`DatafeedService.advance`, which publishes whatever is due; the
module's background task calls it a few times a second, tests call it directly
after moving their clock.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import BaseModel

from trading_api.market import (
    EXCHANGES,
    HISTORY_START,
    INSTRUMENTS,
    MAX_BARS,
    RESOLUTIONS,
    SYMBOL_TYPES,
    Instrument,
    Market,
    MarketError,
    UnknownSymbolError,
)
from trading_api.market import Bar as MarketBar
from trading_api.models.bars import (
    Bar,
    BarsHistory,
    BarsSubscriptionRequest,
    HistoryMetadata,
    Resolution,
)
from trading_api.models.datafeed import (
    DatafeedConfiguration,
    Exchange,
    QuoteData,
    QuotesSubscriptionRequest,
    QuoteValues,
    SearchSymbolResultItem,
    SymbolInfo,
    SymbolType,
)
from trading_api.shared.ws.topics import parse_topic

__all__ = [
    "DatafeedError",
    "DatafeedService",
    "InvalidRequestError",
    "MarketError",
    "UnknownSymbolError",
]

Publish = Callable[[BaseModel], None]
INTRADAY_MULTIPLIERS = ["1", "5", "15", "30", "60", "240"]


class DatafeedError(Exception):
    """A request the datafeed cannot serve; the message says why."""


class InvalidRequestError(DatafeedError):
    """The request is well-formed but breaks a rule."""


@dataclass
class _Feed:
    """One stream item of a topic: a symbol's bar or quote, on its own schedule.

    ``name`` is the symbol as the subscriber wrote it: quotes carry it back, as
    TradingView matches quotes by the name it asked for.
    """

    name: str
    instrument: Instrument
    resolution: Resolution | None
    interval: float
    due: float
    last: BaseModel | None = None


@dataclass
class _Topic:
    publish: Publish
    feeds: list[_Feed]


class DatafeedService:
    """Symbols, bars and quotes of the simulated market, TradingView style."""

    def __init__(
        self,
        market: Market | None = None,
        *,
        bar_interval: float = 1.0,
        fast_interval: float = 0.5,
        slow_interval: float = 5.0,
    ) -> None:
        """Create the service.

        Args:
            market: The market to read (its clock is the service's clock); the
                real-time market by default.
            bar_interval: Seconds between live bar updates of a topic.
            fast_interval: Seconds between quote updates of ``fast_symbols``.
            slow_interval: Seconds between quote updates of the other symbols.
        """
        self._market = market if market is not None else Market()
        self._bar_interval = bar_interval
        self._fast_interval = fast_interval
        self._slow_interval = slow_interval
        self._topics: dict[str, _Topic] = {}

    @property
    def market(self) -> Market:
        """The market the service reads."""
        return self._market

    def server_time(self) -> int:
        """The market clock's time, whole UNIX seconds."""
        return int(self._market.now())

    def configuration(self) -> DatafeedConfiguration:
        """What the datafeed supports."""
        return DatafeedConfiguration(
            supported_resolutions=list(RESOLUTIONS),
            exchanges=[Exchange(value=k, name=k, desc=v) for k, v in EXCHANGES.items()],
            symbols_types=[
                SymbolType(name=v, value=k) for k, v in SYMBOL_TYPES.items()
            ],
            currency_codes=sorted({i.currency for i in INSTRUMENTS}),
            supports_marks=False,
            supports_timescale_marks=False,
            supports_time=True,
            supports_search=True,
            supports_group_request=False,
        )

    def search(
        self,
        user_input: str,
        exchange: str = "",
        symbol_type: str = "",
        max_results: int = 30,
    ) -> list[SearchSymbolResultItem]:
        """Symbols whose name or description contains ``user_input`` (any case)."""
        needle = user_input.strip().upper()
        hits = [
            i
            for i in INSTRUMENTS
            if (needle in i.name or needle in i.description.upper())
            and (not exchange or i.exchange == exchange)
            and (not symbol_type or i.type == symbol_type)
        ]
        hits.sort(key=lambda i: (not i.name.startswith(needle), i.name))
        return [
            SearchSymbolResultItem(
                symbol=i.name,
                full_name=i.ticker,
                description=i.description,
                exchange=i.exchange,
                ticker=i.ticker,
                type=i.type,
                session=i.session.tradingview,
                timezone=i.session.timezone,
            )
            for i in hits[:max_results]
        ]

    def resolve(self, symbol: str) -> SymbolInfo:
        """Everything the chart needs to know about ``symbol``.

        ``session_holidays`` lists the exchange's holidays from the first bar's
        year to the end of next year, by the market clock.
        """
        i = self._market.resolve(symbol)
        first = datetime.fromtimestamp(HISTORY_START, UTC).date()
        now = datetime.fromtimestamp(self._market.now(), UTC)
        holidays = i.session.holidays_between(first, date(now.year + 1, 12, 31))
        return SymbolInfo(
            name=i.name,
            ticker=i.ticker,
            full_name=i.ticker,
            description=i.description,
            type=i.type,
            session=i.session.tradingview,
            session_holidays=",".join(day.strftime("%Y%m%d") for day in holidays),
            exchange=i.exchange,
            listed_exchange=i.exchange,
            timezone=i.session.timezone,
            format="price",
            pricescale=i.pricescale,
            minmov=1,
            has_intraday=True,
            has_daily=True,
            has_weekly_and_monthly=True,
            supported_resolutions=list(RESOLUTIONS),
            intraday_multipliers=INTRADAY_MULTIPLIERS,
            volume_precision=0,
            data_status="streaming",
            currency_code=i.currency,
        )

    def bars(
        self,
        symbol: str,
        resolution: Resolution,
        from_time: int,
        to_time: int,
        count_back: int | None = None,
    ) -> BarsHistory:
        """Bars of ``symbol`` opening in ``[from_time, to_time)`` (UNIX seconds).

        With ``count_back``, the last ``count_back`` bars before ``to_time``
        whatever ``from_time`` says, as TradingView asks. A window holding more
        than ``MAX_BARS`` bars answers its latest ``MAX_BARS``. The last bar may be
        the live one, as it stands now. An empty answer says ``noData`` and, if
        there is an earlier bar, its time in ``nextTime``.
        """
        self._market.resolve(symbol)
        if count_back is not None and count_back > MAX_BARS:
            raise InvalidRequestError(
                f"count_back ({count_back}) is above the maximum {MAX_BARS}"
            )
        if count_back is None:
            found = self._market.bars(
                symbol, resolution, before=to_time, after=from_time
            )
        else:
            found = self._market.bars(
                symbol, resolution, before=to_time, count=count_back
            )
        meta = HistoryMetadata(no_data=not found)
        if not found and count_back is None:
            earlier = self._market.bars(symbol, resolution, before=from_time, count=1)
            if earlier:
                meta.next_time = earlier[0].time * 1000
        return BarsHistory(bars=[_bar(b) for b in found], meta=meta)

    def live_bar(self, symbol: str, resolution: Resolution) -> Bar:
        """The current (last, possibly partial) bar of ``symbol``."""
        live = self._market.live_bar(symbol, resolution)
        if live is None:  # only before the history starts
            raise InvalidRequestError(f"{symbol} has no bar yet")
        return _bar(live)

    def quotes(self, symbols: list[str]) -> list[QuoteData]:
        """Current quotes; unknown symbols get an ``s: "error"`` entry."""
        return [self._quote(symbol) for symbol in symbols]

    def _quote(self, symbol: str) -> QuoteData:
        """The quote of ``symbol``, named as asked (``n`` is ``symbol``)."""
        try:
            instrument = self._market.resolve(symbol)
        except UnknownSymbolError:
            return QuoteData(s="error", n=symbol, v=QuoteValues())
        return QuoteData(s="ok", n=symbol, v=self._quote_values(instrument))

    def _quote_values(self, i: Instrument) -> QuoteValues:
        quote = self._market.quote(i.ticker)
        return QuoteValues(
            ch=quote.change,
            chp=quote.change_percent,
            short_name=i.name,
            exchange=i.exchange,
            description=i.description,
            lp=quote.last,
            bid=quote.bid,
            ask=quote.ask,
            spread=quote.spread,
            open_price=quote.open,
            high_price=quote.high,
            low_price=quote.low,
            prev_close_price=quote.prev_close,
            volume=quote.volume,
        )

    async def create_topic(self, topic: str, publish: Publish) -> None:
        """Start streaming a topic (first subscriber): publish a snapshot now."""
        route, params = parse_topic(topic)
        now = self._market.now()
        if route == "bars":
            request = BarsSubscriptionRequest.model_validate(params)
            instrument = self._market.resolve(request.symbol)
            feeds = [
                _Feed(
                    request.symbol,
                    instrument,
                    request.resolution,
                    self._bar_interval,
                    now,
                )
            ]
        else:
            feeds = self._quote_feeds(QuotesSubscriptionRequest.model_validate(params))
        self._topics[topic] = _Topic(publish, feeds)
        self._publish_due(self._topics[topic], now)

    def _quote_feeds(self, request: QuotesSubscriptionRequest) -> list[_Feed]:
        now = self._market.now()
        feeds = []
        for symbol in dict.fromkeys([*request.symbols, *request.fast_symbols]):
            fast = symbol in request.fast_symbols
            interval = self._fast_interval if fast else self._slow_interval
            instrument = self._market.resolve(symbol)
            feeds.append(_Feed(symbol, instrument, None, interval, now))
        return feeds

    async def remove_topic(self, topic: str) -> None:
        """Stop streaming a topic (its last subscriber left)."""
        self._topics.pop(topic, None)

    def advance(self) -> None:
        """Publish every live value that is due at the clock's current time."""
        now = self._market.now()
        for topic in list(self._topics.values()):
            self._publish_due(topic, now)

    def _publish_due(self, topic: _Topic, now: float) -> None:
        for feed in topic.feeds:
            if now < feed.due:
                continue
            feed.due = now + feed.interval
            value = self._feed_value(feed)
            if value != feed.last:
                feed.last = value
                topic.publish(value)

    def _feed_value(self, feed: _Feed) -> BaseModel:
        if feed.resolution is not None:
            return self.live_bar(feed.instrument.ticker, feed.resolution)
        return QuoteData(s="ok", n=feed.name, v=self._quote_values(feed.instrument))

    async def run(self, poll_interval: float = 0.1) -> None:
        """Drive live streams forever (cancel the task to stop)."""
        while True:
            self.advance()
            await asyncio.sleep(poll_interval)


def _bar(bar: MarketBar) -> Bar:
    """A market bar on the wire: its time in milliseconds, as TradingView's."""
    return Bar(
        time=bar.time * 1000,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
    )
