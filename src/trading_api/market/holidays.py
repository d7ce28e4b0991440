"""Exchange holidays by rule: the days a market that trades on weekdays is shut.

:data:`NYSE` holds the New York Stock Exchange's full-day closures (Nasdaq
keeps the same days), worked out from the rules of each holiday, so any year
has them without a table:

==========================  ==============================================
New Year's Day              1 January; a Sunday moves it to Monday 2nd, a
                            Saturday cancels it (the Friday before is the
                            last trading day of the year and stays open)
Martin Luther King Jr. Day  third Monday of January (from 1998)
Washington's Birthday       third Monday of February
Good Friday                 two days before Easter Sunday (Gregorian computus)
Memorial Day                last Monday of May
Juneteenth                  19 June (from 2022); Saturday -> Friday,
                            Sunday -> Monday
Independence Day            4 July; Saturday -> Friday, Sunday -> Monday
Labor Day                   first Monday of September
Thanksgiving Day            fourth Thursday of November
Christmas Day               25 December; Saturday -> Friday, Sunday -> Monday
==========================  ==============================================

Closures decided case by case (a national day of mourning, a storm) follow no
rule and are not here; neither are the 13:00 early closes (the eves of
Independence Day and Christmas, the day after Thanksgiving): those days trade
the full session here.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

_EPOCH = date(1970, 1, 1).toordinal()


def easter(year: int) -> date:
    """Easter Sunday of ``year`` in the Gregorian calendar (anonymous computus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (0 = Monday) of a month; ``n = -1`` the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A fixed-date holiday on a weekend is kept on the nearest weekday."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def nyse_holidays(year: int) -> dict[date, str]:
    """The NYSE's full-day closures in ``year``, by date, with their names."""
    found: dict[date, str] = {}
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:
        found[_observed(new_year)] = "New Year's Day"
    if year >= 1998:
        found[_nth_weekday(year, 1, 0, 3)] = "Martin Luther King Jr. Day"
    found[_nth_weekday(year, 2, 0, 3)] = "Washington's Birthday"
    found[easter(year) - timedelta(days=2)] = "Good Friday"
    found[_nth_weekday(year, 5, 0, -1)] = "Memorial Day"
    if year >= 2022:
        found[_observed(date(year, 6, 19))] = "Juneteenth"
    found[_observed(date(year, 7, 4))] = "Independence Day"
    found[_nth_weekday(year, 9, 0, 1)] = "Labor Day"
    found[_nth_weekday(year, 11, 3, 4)] = "Thanksgiving Day"
    found[_observed(date(year, 12, 25))] = "Christmas Day"
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class HolidayCalendar:
    """The full-day closures of an exchange, by rule.

    Attributes:
        name: The exchange whose rules these are (``NYSE``).
    """

    name: str

    def holidays(self, year: int) -> dict[date, str]:
        """The closures in ``year``, by date, with their names."""
        return dict(_holidays(self.name, year))

    def is_holiday(self, day: int) -> bool:
        """Whether the date ``day`` (days since 1970-01-01) is a closure."""
        return day in _closed_days(self.name, _year_of(day))

    def between(self, first: date, last: date) -> list[date]:
        """The closures from ``first`` to ``last``, both included, in order."""
        return [
            day
            for year in range(first.year, last.year + 1)
            for day, _ in _holidays(self.name, year)
            if first <= day <= last
        ]


NYSE = HolidayCalendar("NYSE")
"""The New York Stock Exchange's (and Nasdaq's) full-day holidays."""

_RULES = {"NYSE": nyse_holidays}


@lru_cache(maxsize=512)
def _holidays(name: str, year: int) -> tuple[tuple[date, str], ...]:
    return tuple(_RULES[name](year).items())


@lru_cache(maxsize=512)
def _closed_days(name: str, year: int) -> frozenset[int]:
    return frozenset(day.toordinal() - _EPOCH for day, _ in _holidays(name, year))


@lru_cache(maxsize=65_536)
def _year_of(day: int) -> int:
    return date.fromordinal(day + _EPOCH).year
