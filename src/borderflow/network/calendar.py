"""Both sides' calendars as minute masks over a time range.

Time is counted in whole minutes since the Unix epoch (UTC). A *mask* is a NumPy boolean array,
one cell per minute of the range `[t0, t0 + n)`. Each side's working time is built in that side's
own time zone (Vietnam UTC+7, China UTC+8) from its weekly hours, its country's public holidays
(the `holidays` package) and the exceptions that concern it; the crossing is open only where
both sides are.

Precedence, from weakest to strongest:
1. weekly hours of each side (`[sides.*.hours]`, overridable per crossing);
2. `hours` exceptions replace a side's hours on their days; `open` exceptions with hours too;
3. a public holiday closes a side whose rule is `on_holidays = "closed"`, except where an
   `open` or `preregistered_only` exception covers it (an opening agreement);
4. `closed` and `suspended` exceptions and a crossing's status close the crossing, whatever
   the hours say.
`capacity` exceptions scale the clearance rate; `preregistered_only` marks restricted time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np

from borderflow.network.schemas import (
    WEEKDAYS,
    CalendarException,
    Crossing,
    CrossingState,
    ExceptionKind,
    HolidayRule,
    Interval,
    Network,
    Side,
    SideScope,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_minute(value: datetime) -> int:
    """Epoch minute of an aware datetime (floored)."""
    return int((value - EPOCH).total_seconds() // 60)


def from_minute(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


@dataclass(frozen=True)
class Note:
    """Why some stretch of time is not normal: a holiday, an exception, the crossing's status."""

    start: int  # epoch minute, inclusive
    end: int  # epoch minute, exclusive
    label: str


@lru_cache(maxsize=64)
def holiday_dates(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    cal = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return dict(cal.items())


def _side_applies(exc: CalendarException, side: Side) -> bool:
    return exc.side is SideScope.both or exc.side.value == side.value


def _local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def _window_minutes(day: date, window: Interval, zone: ZoneInfo) -> tuple[int, int]:
    start = _local_day_start(day, zone)
    return (
        to_minute(start + timedelta(minutes=window.start_minute)),
        to_minute(start + timedelta(minutes=window.end_minute)),
    )


def _local_dates(t0: int, n: int, zone: ZoneInfo) -> list[date]:
    first = from_minute(t0).astimezone(zone).date() - timedelta(days=1)
    last = from_minute(t0 + n).astimezone(zone).date() + timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def exception_intervals(
    exc: CalendarException, home_tz: str, t0: int, n: int
) -> list[tuple[int, int]]:
    """The stretches of `[t0, t0+n)` an exception covers, as epoch-minute intervals."""
    hi = t0 + n
    if exc.starts is not None:
        a = to_minute(exc.starts)
        b = to_minute(exc.ends) if exc.ends is not None else hi
        return [(max(a, t0), min(b, hi))] if b > t0 and a < hi else []
    assert exc.from_ is not None
    zone = ZoneInfo(exc.tz or home_tz)
    if exc.window is None:
        a = to_minute(_local_day_start(exc.from_, zone))
        b = to_minute(_local_day_start(exc.to + timedelta(days=1), zone)) if exc.to else hi
        return [(max(a, t0), min(b, hi))] if b > t0 and a < hi else []
    out = []
    for day in _local_dates(t0, n, zone):
        if day < exc.from_ or (exc.to is not None and day > exc.to):
            continue
        a, b = _window_minutes(day, exc.window, zone)
        if b > t0 and a < hi:
            out.append((max(a, t0), min(b, hi)))
    return out


def _paint(mask: np.ndarray, t0: int, intervals: Iterable[tuple[int, int]], value: bool) -> None:
    n = mask.shape[0]
    for a, b in intervals:
        lo, hi = max(a - t0, 0), min(b - t0, n)
        if hi > lo:
            mask[lo:hi] = value


def side_working_mask(
    network: Network,
    crossing: Crossing,
    side: Side,
    t0: int,
    n: int,
    exceptions: list[CalendarException],
    notes: list[Note],
) -> np.ndarray:
    """Minutes of `[t0, t0+n)` in which `side` of `crossing` works."""
    info = network.sides[side]
    hours = network.side_hours(crossing, side)
    zone = ZoneInfo(info.tz)
    home = network.network.home_tz
    mine = [e for e in exceptions if _side_applies(e, side)]
    overrides = [
        e
        for e in mine
        if e.kind in (ExceptionKind.hours, ExceptionKind.open) and e.hours and e.from_ is not None
    ]
    openings = [e for e in mine if e.kind is ExceptionKind.open and not e.hours and e.from_]
    work = np.zeros(n, dtype=bool)
    holiday_closed = np.zeros(n, dtype=bool)
    for day in _local_dates(t0, n, zone):
        windows: list[Interval] = (
            list(hours.windows) if WEEKDAYS[day.weekday()] in hours.days else []
        )
        for e in overrides:  # later entries win
            assert e.from_ is not None
            if e.from_ <= day and (e.to is None or day <= e.to):
                windows = list(e.hours or [])
        if not windows and any(_covers_day(e, day) for e in openings):
            windows = list(hours.windows)  # an opening agreement on a normal day off
        spans = [_window_minutes(day, w, zone) for w in windows]
        _paint(work, t0, spans, True)
        name = holiday_dates(info.country, info.subdivision, day.year).get(day)
        if name is not None and hours.on_holidays is HolidayRule.closed:
            day_start = to_minute(_local_day_start(day, zone))
            day_end = to_minute(_local_day_start(day + timedelta(days=1), zone))
            _paint(holiday_closed, t0, spans, True)
            notes.append(Note(day_start, day_end, f"{side.value.upper()} holiday: {name}"))
    lift = np.zeros(n, dtype=bool)
    for e in mine:
        if e.kind in (ExceptionKind.open, ExceptionKind.preregistered_only):
            spans = exception_intervals(e, home, t0, n)
            _paint(lift, t0, spans, True)
            if e.kind is ExceptionKind.open and e.starts is not None:
                _paint(work, t0, spans, True)  # opened for these instants, hours or not
    return work & ~(holiday_closed & ~lift)


def _covers_day(exc: CalendarException, day: date) -> bool:
    assert exc.from_ is not None
    return exc.from_ <= day and (exc.to is None or day <= exc.to)


def status_closed_intervals(
    network: Network, crossing: Crossing, t0: int, n: int
) -> list[tuple[int, int]]:
    """When the crossing's status keeps it shut: suspended/closed from `since` on; an open
    crossing with `since` (opened on that day) was shut before it."""
    status = crossing.status
    hi = t0 + n
    since: int | None = None
    if status.since is not None:
        if isinstance(status.since, datetime):
            since_dt = status.since
        else:
            since_dt = _local_day_start(status.since, ZoneInfo(network.network.home_tz))
        since = to_minute(since_dt)
    if status.state is CrossingState.open:
        return [(t0, min(since, hi))] if since is not None and since > t0 else []
    start = t0 if since is None else max(since, t0)
    return [(start, hi)] if start < hi else []
