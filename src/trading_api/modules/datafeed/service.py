"""The simulated market data service: symbols, history, quotes and live streams.

History and live values are a pure function of (symbol, time) (see ``series``), so
the REST history and the WebSocket stream always agree, and tests pin time by
injecting a clock. Live streams are driven by :meth:`DatafeedService.advance`, which
publishes whatever is due; the module's background task calls it a few times a
second, tests call it directly after moving their clock.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

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
from trading_api.modules.datafeed.history import (
    HISTORY_START,
    align,
    bar_at,
    previous_start,
    window_starts,
)
from trading_api.modules.datafeed.series import DAY
from trading_api.modules.datafeed.symbols import (
    EXCHANGES,
    INSTRUMENTS,
    SYMBOL_TYPES,
    Instrument,
)
from trading_api.shared.ws.topics import parse_topic

Clock = Callable[[], float]
Publish = Callable[[BaseModel], None]
SPREAD_TICKS = 2


class DatafeedError(Exception):
    """A request the datafeed cannot serve; the message says why."""


class UnknownSymbolError(DatafeedError):
    """The symbol is not in the catalogue."""

    def __init__(self, symbol: str) -> None:
        """Name the unknown symbol and where to find valid ones."""
        super().__init__(f"unknown symbol {symbol!r}; search with GET /search")


class InvalidRequestError(DatafeedError):
    """The request is well-formed but breaks a rule (e.g. an empty time window)."""


@dataclass
class _Feed:
    """One stream item of a topic: a symbol's bar or quote, on its own schedule."""

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
    """Symbols, bars and quotes of a simulated 24x7 market."""

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        bar_interval: float = 1.0,
        fast_interval: float = 0.5,
        slow_interval: float = 5.0,
    ) -> None:
        """Create the service.

        Args:
            clock: Returns the current UNIX time in seconds.
            bar_interval: Seconds between live bar updates of a topic.
            fast_interval: Seconds between quote updates of ``fast_symbols``.
            slow_interval: Seconds between quote updates of the other symbols.
        """
        self._clock = clock
        self._bar_interval = bar_interval
        self._fast_interval = fast_interval
        self._slow_interval = slow_interval
        self._by_ticker = {i.ticker: i for i in INSTRUMENTS}
        self._by_name = {i.name: i for i in INSTRUMENTS}
        self._topics: dict[str, _Topic] = {}

    def configuration(self) -> DatafeedConfiguration:
        """What the datafeed supports."""
        return DatafeedConfiguration(
            supported_resolutions=[r.value for r in Resolution],
            exchanges=[Exchange(value=k, name=k, desc=v) for k, v in EXCHANGES.items()],
            symbols_types=[
                SymbolType(name=v, value=k) for k, v in SYMBOL_TYPES.items()
            ],
            currency_codes=["USD", "JPY"],
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
            )
            for i in hits[:max_results]
        ]

    def instrument(self, symbol: str) -> Instrument:
        """Find a symbol by ticker (``NASDAQ:AAPL``) or bare name (``AAPL``)."""
        found = self._by_ticker.get(symbol) or self._by_name.get(symbol)
        if found is None:
            raise UnknownSymbolError(symbol)
        return found

    def resolve(self, symbol: str) -> SymbolInfo:
        """Everything the chart needs to know about ``symbol``."""
        i = self.instrument(symbol)
        return SymbolInfo(
            name=i.name,
            ticker=i.ticker,
            full_name=i.ticker,
            description=i.description,
            type=i.type,
            session="24x7",
            exchange=i.exchange,
            listed_exchange=i.exchange,
            timezone="Etc/UTC",
            format="price",
            pricescale=i.pricescale,
            minmov=1,
            has_intraday=True,
            has_daily=True,
            has_weekly_and_monthly=True,
            supported_resolutions=[r.value for r in Resolution],
            intraday_multipliers=["1", "5", "15", "30", "60", "240"],
            volume_precision=0,
            data_status="streaming",
            currency_code="JPY" if i.name.endswith("JPY") else "USD",
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

        With ``count_back``, the last ``count_back`` bars before ``to_time``. The
        last bar may be the live one, as it stands now.
        """
        instrument = self.instrument(symbol)
        if count_back is None and to_time <= from_time:
            raise InvalidRequestError(
                f"from_time ({from_time}) must be before to_time ({to_time})"
            )
        now = self._clock()
        starts = window_starts(
            resolution,
            from_time=from_time,
            to_time=to_time,
            count_back=count_back,
            now=now,
        )
        bars = [self._bar(instrument, resolution, s, now) for s in starts]
        meta = HistoryMetadata(no_data=not bars)
        if not bars:
            before = previous_start(resolution, align(resolution, min(from_time, now)))
            if from_time > HISTORY_START and before >= HISTORY_START:
                meta.next_time = before * 1000
        return BarsHistory(bars=bars, meta=meta)

    def _bar(
        self, instrument: Instrument, resolution: Resolution, start: int, now: float
    ) -> Bar:
        values = bar_at(instrument.series, resolution, start, now)
        return Bar(time=start * 1000, **values._asdict())

    def live_bar(self, symbol: str, resolution: Resolution) -> Bar:
        """The current (last, possibly partial) bar of ``symbol``."""
        now = self._clock()
        instrument = self.instrument(symbol)
        return self._bar(instrument, resolution, align(resolution, now), now)

    def quotes(self, symbols: list[str]) -> list[QuoteData]:
        """Current quotes; unknown symbols get an ``s: "error"`` entry."""
        return [self._quote(symbol) for symbol in symbols]

    def _quote(self, symbol: str) -> QuoteData:
        try:
            instrument = self.instrument(symbol)
        except UnknownSymbolError:
            return QuoteData(s="error", n=symbol, v=QuoteValues())
        return QuoteData(s="ok", n=symbol, v=self._quote_values(instrument))

    def _quote_values(self, i: Instrument) -> QuoteValues:
        now = self._clock()
        day = i.series.partial(0, int(now // DAY), now)
        series = i.series
        tick = 1 / i.pricescale
        change = series.round(day.close - day.open)
        return QuoteValues(
            ch=change,
            chp=round(change / day.open * 100, 2),
            short_name=i.name,
            exchange=i.exchange,
            description=i.description,
            lp=day.close,
            bid=series.round(day.close - tick * SPREAD_TICKS / 2),
            ask=series.round(day.close + tick * SPREAD_TICKS / 2),
            spread=series.round(tick * SPREAD_TICKS),
            open_price=day.open,
            high_price=day.high,
            low_price=day.low,
            prev_close_price=day.open,
            volume=day.volume,
        )

    async def create_topic(self, topic: str, publish: Publish) -> None:
        """Start streaming a topic (first subscriber): publish a snapshot now."""
        route, params = parse_topic(topic)
        now = self._clock()
        if route == "bars":
            request = BarsSubscriptionRequest.model_validate(params)
            instrument = self.instrument(request.symbol)
            feeds = [_Feed(instrument, request.resolution, self._bar_interval, now)]
        else:
            feeds = self._quote_feeds(QuotesSubscriptionRequest.model_validate(params))
        self._topics[topic] = _Topic(publish, feeds)
        self._publish_due(self._topics[topic], now)

    def _quote_feeds(self, request: QuotesSubscriptionRequest) -> list[_Feed]:
        now = self._clock()
        feeds = []
        for symbol in dict.fromkeys([*request.symbols, *request.fast_symbols]):
            fast = symbol in request.fast_symbols
            interval = self._fast_interval if fast else self._slow_interval
            instrument = self.instrument(symbol)
            feeds.append(_Feed(instrument, None, interval, now))
        return feeds

    async def remove_topic(self, topic: str) -> None:
        """Stop streaming a topic (its last subscriber left)."""
        self._topics.pop(topic, None)

    def advance(self) -> None:
        """Publish every live value that is due at the clock's current time."""
        now = self._clock()
        for topic in list(self._topics.values()):
            self._publish_due(topic, now)

    def _publish_due(self, topic: _Topic, now: float) -> None:
        for feed in topic.feeds:
            if now < feed.due:
                continue
            feed.due = now + feed.interval
            value = self._feed_value(feed, now)
            if value != feed.last:
                feed.last = value
                topic.publish(value)

    def _feed_value(self, feed: _Feed, now: float) -> BaseModel:
        i = feed.instrument
        if feed.resolution is not None:
            return self._bar(i, feed.resolution, align(feed.resolution, now), now)
        return QuoteData(s="ok", n=i.ticker, v=self._quote_values(i))

    async def run(self, poll_interval: float = 0.1) -> None:
        """Drive live streams forever (cancel the task to stop)."""
        while True:
            self.advance()
            await asyncio.sleep(poll_interval)
