"""Benchmark: capacity of one crossing over a year, hourly (issue: foundation).

Target: `compute_capacity` for one crossing, one direction, over a year in 1-hour slots runs in
well under a second (< 1 s).

Run from the repository root:

    .venv/bin/python benchmarks/bench_capacity.py [--repeats N]

In the same run the results are checked against two references, and the script exits non-zero if
any slot differs:

1. a naive, independent pure-Python model that walks the year minute by minute and decides, from
   the network file alone (side hours, the `holidays` calendars with each side's `on_holidays`
   rule, the file's exceptions, the crossing's status), whether each route is open, then adds
   lanes × rate × open minutes / 60 × factor per slot with exact fractions;
2. `compute_capacity` called once per 1-hour slot (8,760 calls), which checks that one long call
   and many short ones agree.

Figures are printed; `docs/benchmarks.md` records a run.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays
import numpy as np

from borderflow.network.capacity import CapacityTable, SlotCapacity, compute_capacity
from borderflow.network.loader import load_network
from borderflow.network.schemas import (
    WEEKDAYS,
    CalendarException,
    Crossing,
    CrossingState,
    Direction,
    ExceptionKind,
    HolidayRule,
    Interval,
    Network,
    Route,
    Side,
    SideScope,
)

NETWORK = "lang-son"
HOME = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2025, 1, 1, tzinfo=HOME)
END = datetime(2026, 1, 1, tzinfo=HOME)
SLOT = timedelta(hours=1)
CASES = [
    ("huu-nghi", Direction.export),
    ("huu-nghi", Direction.import_),
    ("chi-ma", Direction.export),
    ("chi-ma", Direction.import_),
]
TARGET_S = 1.0
MINUTE = timedelta(minutes=1)
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Reference 1: naive minute-by-minute model, independent of borderflow.network.calendar
# --------------------------------------------------------------------------------------------


Window = tuple[int, int]  # minutes of the local day, [start, end)


def windows_of(intervals: list[Interval]) -> tuple[Window, ...]:
    return tuple((w.start_minute, w.end_minute) for w in intervals)


def in_windows(minute: int, windows: tuple[Window, ...]) -> bool:
    return any(a <= minute < b for a, b in windows)


def on_days(exc: CalendarException, day: date) -> bool:
    assert exc.from_ is not None
    return exc.from_ <= day and (exc.to is None or day <= exc.to)


class Moment:
    """One minute of the range, read on each zone's wall clock (computed once per zone)."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant
        self._local: dict[ZoneInfo, tuple[date, int]] = {}

    def local(self, zone: ZoneInfo) -> tuple[date, int]:
        """(local date, minute of the local day)."""
        if zone not in self._local:
            wall = self.instant.astimezone(zone)
            self._local[zone] = (wall.date(), wall.hour * 60 + wall.minute)
        return self._local[zone]


class NaiveModel:
    """Is one route of a crossing open, one way, in a given minute? Decided minute by minute
    from the network file, without borderflow.network.calendar."""

    def __init__(
        self, network: Network, crossing: Crossing, route: Route, direction: Direction
    ) -> None:
        self.home = ZoneInfo(network.network.home_tz)
        status = crossing.status
        self.status_state = status.state
        self.status_since: datetime | None = None
        if isinstance(status.since, datetime):
            self.status_since = status.since
        elif isinstance(status.since, date):  # a day in the network's home zone
            d = status.since
            self.status_since = datetime(d.year, d.month, d.day, tzinfo=self.home)

        def concerns(e: CalendarException) -> bool:
            if "*" not in e.crossings and crossing.id not in e.crossings:
                return False
            if e.route is not None and e.route != route.id:
                return False
            return e.direction is None or e.direction == direction

        self.excs = [e for e in network.exceptions if concerns(e)]
        self.sides = []
        for side in Side:
            info = network.sides[side]
            hours = crossing.hours.get(side) or info.hours
            mine = [e for e in self.excs if e.side == SideScope.both or e.side.value == side.value]
            self.sides.append(
                (
                    ZoneInfo(info.tz),
                    hours,
                    holidays.country_holidays(info.country, subdiv=info.subdivision),
                    [  # replace the day's hours; in file order, so the last one wins
                        e
                        for e in mine
                        if e.kind in (ExceptionKind.hours, ExceptionKind.open)
                        and e.hours
                        and e.from_ is not None
                    ],
                    [  # lift a holiday closure
                        e
                        for e in mine
                        if e.kind in (ExceptionKind.open, ExceptionKind.preregistered_only)
                    ],
                )
            )
        self.shutters = [
            e for e in self.excs if e.kind in (ExceptionKind.closed, ExceptionKind.suspended)
        ]
        self.scalers = [e for e in self.excs if e.kind == ExceptionKind.capacity]
        self.restricters = [e for e in self.excs if e.kind == ExceptionKind.preregistered_only]
        self._days: dict[tuple[int, date], tuple[tuple[Window, ...], bool]] = {}

    def day_rules(self, side_index: int, day: date) -> tuple[tuple[Window, ...], bool]:
        """A side's working windows on one of its local days, and whether the day is a holiday
        that closes it (memoised per day)."""
        key = (side_index, day)
        if key not in self._days:
            _, hours, holiday_days, overrides, _ = self.sides[side_index]
            windows = windows_of(hours.windows) if WEEKDAYS[day.weekday()] in hours.days else ()
            for e in overrides:
                if on_days(e, day):
                    windows = windows_of(e.hours or [])
            closes = hours.on_holidays == HolidayRule.closed and day in holiday_days
            self._days[key] = (windows, closes)
        return self._days[key]

    def covers(self, exc: CalendarException, when: Moment) -> bool:
        """Does the exception's date range (and daily window) include this minute?"""
        if exc.starts is not None:
            return exc.starts <= when.instant and (exc.ends is None or when.instant < exc.ends)
        day, minute = when.local(ZoneInfo(exc.tz) if exc.tz else self.home)
        if not on_days(exc, day):
            return False
        return exc.window is None or exc.window.start_minute <= minute < exc.window.end_minute

    def status_shut(self, when: Moment) -> bool:
        since = self.status_since
        if self.status_state == CrossingState.open:  # `since` = the day it opened
            return since is not None and when.instant < since
        return since is None or when.instant >= since

    def side_works(self, side_index: int, when: Moment) -> bool:
        zone, _, _, _, lifts = self.sides[side_index]
        day, minute = when.local(zone)
        windows, holiday_closes = self.day_rules(side_index, day)
        if not in_windows(minute, windows):
            return False
        if holiday_closes:
            return any(self.covers(e, when) for e in lifts)  # an opening agreement
        return True

    def state(self, when: Moment) -> tuple[bool, tuple[int, ...], bool]:
        """(open, indices of the capacity exceptions in force, pre-registered only)."""
        is_open = (
            not self.status_shut(when)
            and self.side_works(0, when)
            and self.side_works(1, when)
            and not any(self.covers(e, when) for e in self.shutters)
        )
        scaling = tuple(i for i, e in enumerate(self.scalers) if self.covers(e, when))
        prereg = any(self.covers(e, when) for e in self.restricters)
        return is_open, scaling, prereg

    def factor(self, scaling: tuple[int, ...]) -> Fraction:
        """The rate factor: the product of the capacity exceptions' factors, as written."""
        out = Fraction(1)
        for i in scaling:
            out *= Fraction(str(self.scalers[i].factor))
        return out


def naive_table(
    network: Network,
    crossing_id: str,
    direction: Direction,
    start: datetime,
    end: datetime,
    slot: timedelta = SLOT,
) -> tuple[list[int], list[int], list[bool]]:
    """(capacity, open minutes, pre-registered only) per slot of [start, end); `start` is a
    whole minute."""
    crossing = network.crossing(crossing_id)
    routes: list[tuple[NaiveModel, Fraction]] = []
    for r in crossing.routes:
        rate = r.directions.get(direction)
        if rate is None:
            continue
        per_hour = Fraction(rate.lanes) * Fraction(str(rate.rate_per_lane_per_hour))
        if per_hour > 0:
            routes.append((NaiveModel(network, crossing, r, direction), per_hour))
    # Routes concerned by exactly the same exceptions are open at the same minutes: ask once.
    keys = [tuple(id(e) for e in model.excs) for model, _ in routes]
    models: dict[tuple[int, ...], NaiveModel] = {}
    for key, (model, _) in zip(keys, routes, strict=True):
        models.setdefault(key, model)
    caps: list[int] = []
    opens: list[int] = []
    preregs: list[bool] = []
    slot_start = start.astimezone(UTC)
    end = end.astimezone(UTC)
    cumulative = Fraction(0)
    completed = 0
    while slot_start < end:
        minutes: dict[tuple[int, tuple[int, ...]], int] = {}  # (route, scaling) -> open minutes
        open_minutes = 0
        prereg = False
        for m in range(slot // MINUTE):
            when = Moment(slot_start + m * MINUTE)
            if when.instant >= end:
                break
            states = {key: model.state(when) for key, model in models.items()}
            any_open = False
            for i, key in enumerate(keys):
                is_open, scaling, restricted = states[key]
                if is_open:
                    minutes[i, scaling] = minutes.get((i, scaling), 0) + 1
                    any_open = True
                    prereg = prereg or restricted
            open_minutes += any_open
        # Σ over routes of lanes × rate × open minutes / 60 × factor, in exact fractions,
        # accumulated from the range's start; a slot gets the whole vehicles completed within
        # it (the rule in compute_capacity's docstring)
        effective = sum(
            (
                routes[i][1] * routes[i][0].factor(scaling) * count / 60
                for (i, scaling), count in minutes.items()
            ),
            Fraction(0),
        )
        cumulative += effective
        caps.append(math.floor(cumulative) - completed)
        completed = math.floor(cumulative)
        opens.append(open_minutes)
        preregs.append(prereg)
        slot_start += slot
    return caps, opens, preregs


# --------------------------------------------------------------------------------------------
# Reference 2: compute_capacity once per hour
# --------------------------------------------------------------------------------------------


def hourly_calls_table(
    network: Network, crossing_id: str, direction: Direction, start: datetime, end: datetime
) -> tuple[list[int], list[int], list[bool]]:
    """(capacity, open minutes, pre-registered only) per 1-hour slot, one call per slot."""
    caps: list[int] = []
    opens: list[int] = []
    preregs: list[bool] = []
    t = start
    while t < end:
        one = compute_capacity(
            network,
            crossing_id=crossing_id,
            direction=direction,
            start=t,
            end=min(t + SLOT, end),
            slot=SLOT,
        )
        caps.append(int(one.capacity[0]))
        opens.append(int(one.open_minutes[0]))
        preregs.append(bool(one.preregistered_only[0]))
        t += SLOT
    return caps, opens, preregs


# --------------------------------------------------------------------------------------------
# Timing and comparison
# --------------------------------------------------------------------------------------------


def timed(fn: Callable[[], T], repeats: int) -> tuple[list[float], T]:
    """Run `fn` `repeats` times (at least once): the wall times, and the last result."""
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def once(fn: Callable[[], T]) -> tuple[float, T]:
    times, result = timed(fn, 1)
    return times[0], result


def differences(
    table: CapacityTable, ref: tuple[list[int], list[int], list[bool]], name: str
) -> list[str]:
    caps, opens, preregs = ref
    if len(caps) != len(table):
        return [f"{name}: {len(caps)} slots, compute_capacity has {len(table)}"]
    pairs: list[tuple[str, list[int] | list[bool], list[int] | list[bool]]] = [
        ("capacity", table.capacity.tolist(), caps),
        ("open_minutes", table.open_minutes.tolist(), opens),
        ("preregistered_only", table.preregistered_only.tolist(), preregs),
    ]
    out = []
    for field, mine, theirs in pairs:
        bad = [i for i in range(len(mine)) if mine[i] != theirs[i]]
        for i in bad[:5]:
            when = table.slot_start(i).astimezone(HOME).isoformat()
            out.append(
                f"{name}: {field} at {when}: compute_capacity {mine[i]}, reference {theirs[i]}"
            )
        if len(bad) > 5:
            out.append(f"{name}: {field}: {len(bad) - 5} more slot(s) differ")
    return out


def materialise(table: CapacityTable) -> list[SlotCapacity]:
    return list(table.slots())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per case")
    args = parser.parse_args()

    print("Capacity benchmark: one crossing, one direction, a year in 1-hour slots")
    print(f"  range   {START.isoformat()} .. {END.isoformat()} ({(END - START) // SLOT} slots)")
    print(
        f"  python  {platform.python_version()}  numpy {np.__version__}  "
        f"holidays {holidays.__version__}  cpus {len(os.sched_getaffinity(0))}"
    )
    print(f"  machine {platform.machine()} {platform.platform()}")
    print()

    t_load, network = once(functools.partial(load_network, NETWORK))
    print(f"load_network({NETWORK!r}): {ms(t_load).strip()} (not included below)")
    print()

    def call(crossing_id: str, direction: Direction) -> CapacityTable:
        return compute_capacity(
            network, crossing_id=crossing_id, direction=direction, start=START, end=END, slot=SLOT
        )

    header = (
        f"{'crossing':<10} {'dir':<7} {'routes':>6} {'total':>7} | {'first':>12} "
        f"{'min':>12} {'median':>12} | {'slots()':>12} | {'naive ref':>10} {'ratio':>7} "
        f"| {'hourly ref':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    worst_median = 0.0
    for crossing_id, direction in CASES:
        one_call = functools.partial(call, crossing_id, direction)
        t_first, _ = once(one_call)
        times, table = timed(one_call, args.repeats)
        slot_times, slots = timed(functools.partial(materialise, table), max(3, args.repeats // 3))
        t_naive, naive = once(
            functools.partial(naive_table, network, crossing_id, direction, START, END)
        )
        t_hourly, hourly = once(
            functools.partial(hourly_calls_table, network, crossing_id, direction, START, END)
        )
        failures += differences(table, naive, f"{crossing_id} {direction.value} vs naive")
        failures += differences(table, hourly, f"{crossing_id} {direction.value} vs hourly")
        if [s.capacity for s in slots] != table.capacity.tolist():
            failures.append(f"{crossing_id} {direction.value}: slots() capacities differ")
        median = statistics.median(times)
        worst_median = max(worst_median, median)
        n_routes = len(network.crossing(crossing_id).routes)
        print(
            f"{crossing_id:<10} {direction.value:<7} {n_routes:>6} {table.total:>7} | "
            f"{ms(t_first):>12} {ms(min(times)):>12} {ms(median):>12} | "
            f"{ms(statistics.median(slot_times)):>12} | {t_naive:>9.2f}s {t_naive / median:>6.0f}× "
            f"| {t_hourly:>9.2f}s {t_hourly / median:>5.0f}×"
        )
    print()
    print("first = the case's first call (on the first row: cold holiday-calendar caches);")
    print(f"min/median over the next {args.repeats} runs;")
    print("slots() = list(table.slots()) on the computed table, median; ratio = reference time /")
    print("compute_capacity median. Naive ref = independent minute-by-minute model; hourly ref =")
    print("compute_capacity called once per 1-hour slot.")
    print()
    if failures:
        print("RESULTS DISAGREE:")
        for line in failures:
            print("  " + line)
        print("FAIL: results differ from the reference")
        return 1
    print(
        "results: identical to both references (capacity, open minutes, pre-registered flag, "
        "every slot)"
    )
    verdict = "PASS" if worst_median < TARGET_S else "FAIL"
    print(
        f"{verdict}: worst median {ms(worst_median).strip()} vs target < {TARGET_S:g} s "
        "for a year, hourly"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
