"""Trading sessions in real time zones: when a symbol trades.

A session is one daily window, the same length every trading day, opening at a
local wall-clock time in its time zone (daylight saving included, through
``zoneinfo``). Each window belongs to a *trading date*: the calendar date it
closes on. An overnight session (FX: 17:00 to 17:00 New York) opens the evening
before its trading date, as TradingView counts it. A session with a holiday
calendar (US stocks: the NYSE's, :mod:`trading_api.market.holidays`) does not
trade on its holidays: no bars, no price moves, no fills.

Days are numbered like TradingView's charts: the day index of a trading date is
days since 1970-01-01, so ``day * 86_400`` is the UTC midnight its daily bar
carries.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from trading_api.market.holidays import NYSE, HolidayCalendar

DAY = 86_400
_EPOCH = date(1970, 1, 1).toordinal()
_WEEKDAYS = frozenset(range(1, 6))
_EVERY_DAY = frozenset(range(1, 8))


@dataclass(frozen=True)
class Session:
    """A daily trading window in a time zone.

    Attributes:
        name: A short identifier (``us-stocks``, ``fx``, ``crypto``).
        timezone: The IANA time zone of the exchange (``America/New_York``).
        opens: Local opening time.
        duration: Seconds the window stays open (a whole number of minutes).
        weekdays: ISO weekdays (1 = Monday) of the trading dates that trade.
        overnight: The window opens on the calendar day before its trading date.
        holidays: The exchange's full-day closures, if it has any.
    """

    name: str
    timezone: str
    opens: clock_time
    duration: int
    weekdays: frozenset[int]
    overnight: bool = False
    holidays: HolidayCalendar | None = None

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def tradingview(self) -> str:
        """The session as TradingView's ``LibrarySymbolInfo.session`` spells it."""
        if self.duration == DAY and self.weekdays == _EVERY_DAY:
            return "24x7"
        start = self.opens.strftime("%H%M")
        end = (datetime(2000, 1, 1, self.opens.hour, self.opens.minute)) + timedelta(
            seconds=self.duration
        )
        # TradingView numbers days from Sunday = 1, so ISO Monday (1) is 2.
        days = "".join(str(d % 7 + 1) for d in sorted(self.weekdays))
        return f"{start}-{end.strftime('%H%M')}:{days}"

    def holidays_between(self, first: date, last: date) -> list[date]:
        """The holidays from ``first`` to ``last`` (both included), in order."""
        return [] if self.holidays is None else self.holidays.between(first, last)

    def opening(self, day: int) -> int:
        """When the window of trading date ``day`` opens (UNIX seconds)."""
        return _opening(self, day)

    def trades_on(self, day: int) -> bool:
        """Whether trading date ``day`` has a window: a trading weekday that is
        not a holiday."""
        if (day + 3) % 7 + 1 not in self.weekdays:  # ISO weekday; day 0 a Thursday
            return False
        return self.holidays is None or not self.holidays.is_holiday(day)

    def day_of(self, t: float) -> int:
        """The trading date whose window contains or follows ``t`` on its date.

        The window of the returned day may have closed already (after 16:00) or
        not opened yet (before 09:30), and the day may not trade at all.
        """
        local = datetime.fromtimestamp(t, UTC).astimezone(self._zone)
        day = local.date().toordinal() - _EPOCH
        if self.overnight and local.time() >= self.opens:
            day += 1
        return day

    def day_at(self, t: float) -> int | None:
        """The trading date in session at ``t``, or None while closed."""
        day = self.day_of(t)
        if self.trades_on(day) and 0 <= t - self.opening(day) < self.duration:
            return day
        return None

    def is_open(self, t: float) -> bool:
        """Whether the market trades at ``t`` (opening included, close excluded)."""
        return self.day_at(t) is not None

    def next_open(self, t: float) -> float:
        """The first instant at or after ``t`` when it trades (``t`` if open)."""
        if self.is_open(t):
            return t
        day = self.day_of(t)
        if not (self.trades_on(day) and t < self.opening(day)):
            day = self.next_day(day)
        return float(self.opening(day))

    def last_day(self, t: float) -> int:
        """The trading date in session at ``t``, else the last one closed by ``t``."""
        day = self.day_of(t)
        if self.trades_on(day) and self.opening(day) <= t:
            return day
        return self.previous_day(day)

    def previous_day(self, day: int) -> int:
        """The trading date before ``day``."""
        day -= 1
        while not self.trades_on(day):
            day -= 1
        return day

    def next_day(self, day: int) -> int:
        """The trading date after ``day``."""
        day += 1
        while not self.trades_on(day):
            day += 1
        return day


@lru_cache(maxsize=16_384)
def _opening(session: Session, day: int) -> int:
    local = date.fromordinal(day + _EPOCH) - timedelta(days=int(session.overnight))
    return int(datetime.combine(local, session.opens, session._zone).timestamp())


US_STOCKS = Session(
    "us-stocks", "America/New_York", clock_time(9, 30), 23_400, _WEEKDAYS, False, NYSE
)
"""NYSE and Nasdaq regular hours: 09:30-16:00 New York time, Monday to Friday,
closed on the NYSE's holidays."""
FX = Session("fx", "America/New_York", clock_time(17, 0), DAY, _WEEKDAYS, True)
"""FX 24x5: from Sunday 17:00 to Friday 17:00 New York time, dated by the close."""
CRYPTO = Session("crypto", "Etc/UTC", clock_time(0, 0), DAY, _EVERY_DAY)
"""Crypto 24x7: every UTC day, never closed."""
