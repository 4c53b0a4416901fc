"""THE capacity function: how many vehicles may cross here, this way, in each slot, and whether
only pre-registered goods may pass.

Booking, regulation, the dashboard and the simulation all call `compute_capacity` (or the
database-aware `service.crossing_capacity`, which only adds the run-time exceptions stored in the
database). Nothing else in borderflow computes opening hours or capacity.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from borderflow.clock import require_aware
from borderflow.errors import InvalidInput
from borderflow.network.calendar import (
    Note,
    exception_intervals,
    from_minute,
    side_working_mask,
    status_closed_intervals,
    to_minute,
)
from borderflow.network.schemas import (
    CalendarException,
    Crossing,
    Direction,
    ExceptionKind,
    Network,
    Route,
    Side,
)

DEFAULT_SLOT = timedelta(hours=1)
MAX_RANGE = timedelta(days=3 * 366)


@dataclass(frozen=True)
class SlotCapacity:
    start: datetime  # UTC
    end: datetime  # UTC
    open_minutes: int
    capacity: int
    preregistered_only: bool
    reasons: tuple[str, ...]


@dataclass
class CapacityTable:
    """Capacity of one crossing (one route or all), one direction, slot by slot."""

    crossing_id: str
    direction: Direction
    route_id: str | None
    slot: timedelta
    start: datetime  # UTC, first slot's start
    end: datetime  # UTC, end of the requested range (the last slot may be shorter)
    open_minutes: np.ndarray
    capacity: np.ndarray
    preregistered_only: np.ndarray
    notes: list[Note] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.capacity.shape[0])

    @property
    def total(self) -> int:
        return int(self.capacity.sum())

    def slot_start(self, i: int) -> datetime:
        return self.start + i * self.slot

    def reasons(self, i: int) -> tuple[str, ...]:
        a = to_minute(self.slot_start(i))
        b = a + int(self.slot.total_seconds() // 60)
        starts = [n.start for n in self.notes]
        upto = bisect.bisect_left(starts, b)
        seen: dict[str, None] = {}
        for note in self.notes[:upto]:
            if note.end > a:
                seen.setdefault(note.label)
        return tuple(seen)

    def slots(self) -> Iterator[SlotCapacity]:
        for i in range(len(self)):
            start = self.slot_start(i)
            yield SlotCapacity(
                start=start,
                end=min(start + self.slot, self.end),
                open_minutes=int(self.open_minutes[i]),
                capacity=int(self.capacity[i]),
                preregistered_only=bool(self.preregistered_only[i]),
                reasons=self.reasons(i),
            )

    def at(self, when: datetime) -> SlotCapacity:
        """The slot containing instant `when`."""
        when = require_aware(when, "when")
        i = int((when - self.start) // self.slot)
        if not 0 <= i < len(self):
            raise InvalidInput(f"{when.isoformat()} is outside the table's range", field="when")
        return next(self._one(i))

    def _one(self, i: int) -> Iterator[SlotCapacity]:
        start = self.slot_start(i)
        yield SlotCapacity(
            start,
            min(start + self.slot, self.end),
            int(self.open_minutes[i]),
            int(self.capacity[i]),
            bool(self.preregistered_only[i]),
            self.reasons(i),
        )


def _applies(exc: CalendarException, route: Route, direction: Direction) -> bool:
    if exc.route is not None and exc.route != route.id:
        return False
    return exc.direction is None or exc.direction is direction


def _slot_minutes(slot: timedelta) -> int:
    seconds = slot.total_seconds()
    if seconds < 60 or seconds % 60:
        raise InvalidInput("slot must be a whole number of minutes, at least 1", field="slot")
    return int(seconds // 60)


def compute_capacity(
    network: Network,
    *,
    crossing_id: str,
    direction: Direction,
    start: datetime,
    end: datetime,
    route_id: str | None = None,
    slot: timedelta = DEFAULT_SLOT,
    extra_exceptions: Iterable[CalendarException] = (),
) -> CapacityTable:
    """Clearance capacity per slot over `[start, end)`.

    `start` and `end` must be timezone-aware (a naive datetime raises `NaiveDatetimeError`).
    Slots start at `start` (floored to the minute) and last `slot`; the last one may be cut short
    by `end`. The exact clearance of a slot is Σ over routes of lanes × rate × open-minutes/60 ×
    factor; capacities are whole vehicles, counted cumulatively from `start` (a slot gets the
    vehicles completed within it), so the slots of a range add up to ⌊its exact total⌋ whatever
    the slot length.
    `extra_exceptions` are run-time exceptions (the database's) added to the network file's.
    """
    start_utc = require_aware(start, "start")
    end_utc = require_aware(end, "end")
    if end_utc <= start_utc:
        raise InvalidInput("end must be after start", field="end")
    if end_utc - start_utc > MAX_RANGE:
        raise InvalidInput("range is longer than three years", field="end")
    slot_min = _slot_minutes(slot)
    crossing: Crossing = network.crossing(crossing_id)
    routes = [crossing.route(route_id)] if route_id is not None else list(crossing.routes)
    t0 = to_minute(start_utc)
    n_real = math.ceil((end_utc - from_minute(t0)).total_seconds() / 60)
    n_slots = math.ceil(n_real / slot_min)
    n = n_slots * slot_min
    in_range = np.zeros(n, dtype=bool)
    in_range[:n_real] = True

    candidates = list(network.exceptions_for(crossing_id))
    candidates += [e for e in extra_exceptions if "*" in e.crossings or crossing_id in e.crossings]
    home = network.network.home_tz

    notes: list[Note] = []
    status_spans = status_closed_intervals(network, crossing, t0, n)
    if status_spans:
        label = f"status {crossing.status.state.value}"
        if crossing.status.state.value == "open":
            label = "not yet open"
        if crossing.status.reason:
            label += f": {crossing.status.reason}"
        notes += [Note(a, b, label) for a, b in status_spans]

    exact = np.zeros(n_slots, dtype=np.float64)  # fractional vehicles per slot, all routes
    open_any = np.zeros(n, dtype=bool)
    prereg_any = np.zeros(n, dtype=bool)
    cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for route in routes:
        rate = route.directions.get(direction)
        if rate is None or rate.per_hour == 0:
            continue
        excs = [e for e in candidates if _applies(e, route, direction)]
        key = tuple(id(e) for e in excs)
        if key not in cache:
            cache[key] = _route_masks(network, crossing, excs, t0, n, status_spans, notes, home)
        open_mask, factor, prereg = cache[key]
        open_mask = open_mask & in_range
        effective = (open_mask * factor).reshape(n_slots, slot_min).sum(axis=1)
        exact += effective * (rate.per_hour / 60.0)
        open_any |= open_mask
        prereg_any |= prereg & open_mask

    # Whole vehicles: accumulate the exact clearance from the range's start and give each slot
    # the vehicles completed within it. Slots then add up to ⌊exact total⌋ whatever their
    # length, and a 4.5-per-hour gate alternates 4 and 5 instead of losing the half each hour.
    completed = np.floor(np.cumsum(exact) + 1e-6).astype(np.int64)
    capacity = np.diff(completed, prepend=np.int64(0))
    # Notes are collected per route; keep each once, sorted for the slot lookup.
    unique = sorted(set(notes), key=lambda x: (x.start, x.end, x.label))
    return CapacityTable(
        crossing_id=crossing_id,
        direction=direction,
        route_id=route_id,
        slot=timedelta(minutes=slot_min),
        start=from_minute(t0),
        end=end_utc,
        open_minutes=open_any.reshape(n_slots, slot_min).sum(axis=1),
        capacity=capacity,
        preregistered_only=np.asarray(prereg_any.reshape(n_slots, slot_min).any(axis=1)),
        notes=unique,
    )


def _route_masks(
    network: Network,
    crossing: Crossing,
    excs: list[CalendarException],
    t0: int,
    n: int,
    status_spans: list[tuple[int, int]],
    notes: list[Note],
    home: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    open_mask = side_working_mask(network, crossing, Side.vn, t0, n, excs, notes)
    open_mask &= side_working_mask(network, crossing, Side.cn, t0, n, excs, notes)
    closed = np.zeros(n, dtype=bool)
    for a, b in status_spans:
        closed[a - t0 : b - t0] = True
    factor = np.ones(n, dtype=np.float64)
    prereg = np.zeros(n, dtype=bool)
    for e in excs:
        spans = exception_intervals(e, home, t0, n)
        if not spans:
            continue
        label = f"{e.kind.value.replace('_', ' ')}: {e.reason}"
        if e.kind is ExceptionKind.capacity:
            label = f"capacity ×{e.factor:g}: {e.reason}"
        notes.extend(Note(a, b, label) for a, b in spans)
        for a, b in spans:
            sl = slice(a - t0, b - t0)
            if e.kind in (ExceptionKind.closed, ExceptionKind.suspended):
                closed[sl] = True
            elif e.kind is ExceptionKind.preregistered_only:
                prereg[sl] = True
            elif e.kind is ExceptionKind.capacity:
                assert e.factor is not None
                factor[sl] *= e.factor
    return open_mask & ~closed, factor, prereg
