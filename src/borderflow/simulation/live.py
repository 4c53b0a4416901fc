"""Forecasts "starting from now": the simulation started from the live platform's state.

Every vehicle the platform knows — booked (active or unplaced bookings) or declared and not yet
booked (submitted or amended shipments) — is put into the border model as it is now: in a yard
when its arrival was recorded, otherwise on the road, due at the border at the start of its
declared arrival window (or now, if that has begun). A booking keeps its slot in the simulated
ledger; a slot already started by the forecast's start is not kept (the vehicle re-books at the
gate, as a late one does). No new demand is drawn: the forecast says what happens to the
vehicles already known, on the network's calendars plus the run-time calendar exceptions stored
in the database, under the live queue's rules.

`forecast` only reads; `save_forecast` stores one (the caller commits) so that
`forecast_accuracy` can later compare what was expected with what happened.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow import __version__
from borderflow.clock import Clock, require_aware
from borderflow.declarations.cargo import CargoClass
from borderflow.declarations.models import Shipment
from borderflow.declarations.schemas import ShipmentStatus
from borderflow.errors import InvalidInput
from borderflow.network.schemas import Direction, Network
from borderflow.network.service import stored_exceptions
from borderflow.queue.ledger import align
from borderflow.queue.models import Booking, BookingEvent
from borderflow.queue.policy import BookingStatus, QueuePolicy
from borderflow.simulation.model import Initial, Model
from borderflow.simulation.models import ForecastItemRow, ForecastRow
from borderflow.simulation.results import combine, summarize
from borderflow.simulation.run import Run
from borderflow.simulation.scenario import CapacityChange, Demand, PolicyName, Scenario

MAX_HOURS = 168
LIVE_BOOKINGS = (BookingStatus.active.value, BookingStatus.unplaced.value)
UNBOOKED_SHIPMENTS = (ShipmentStatus.submitted.value, ShipmentStatus.amended.value)
CALL_FORWARD_LEAD_HOURS = 0.0
"""Booked vehicles on the road are called to the gate at their place's time, not earlier. A
vehicle already in a yard is in line at once: when a place is free and nobody ahead of it is
there, the gate calls it forward, so it may cross before its slot (`QueueGate`)."""
CROSSED_ACTION = "crossed"
"""The `BookingEvent.action` tracking writes when a vehicle goes through the gate."""


@dataclass(frozen=True)
class ForecastItem:
    """One known vehicle and when it is expected to cross (None: not within the horizon)."""

    shipment_id: uuid.UUID
    booking_id: uuid.UUID | None
    crossing_id: str
    direction: Direction
    state: str  # "in_yard" | "en_route"
    slot_start: datetime | None
    expected_cross_at: datetime | None


@dataclass(frozen=True)
class Forecast:
    network_id: str
    made_at: datetime
    start: datetime
    hours: int
    policy: PolicyName
    seed: int
    replications: int
    scenario_hash: str
    code_version: str
    items: list[ForecastItem]
    summary: dict[str, Any] = field(default_factory=dict)
    """`overall`, `by_crossing` ("crossing/direction" → figures) and `series` (hourly yard
    occupancy, queue outside the yards and vehicles held upstream), as `results.summarize`."""


@dataclass(frozen=True)
class _Known:
    """A vehicle as the platform knows it, before it is turned into an `Initial`."""

    shipment_id: uuid.UUID
    booking_id: uuid.UUID | None
    crossings: tuple[str, ...]  # acceptable, the booked (or preferred) one first
    direction: Direction
    cargo: CargoClass
    shelf_life_hours: float | None
    arrived_at: datetime | None
    arrival_from: datetime
    slot_start: datetime | None


def _known_vehicles(session: Session, network: Network) -> list[_Known]:
    """Live bookings with their shipments, then submitted shipments without a live booking."""
    known_crossings = {c.id for c in network.crossings}
    out: list[_Known] = []
    booked = session.execute(
        select(Booking, Shipment).join(Shipment, Shipment.id == Booking.shipment_id)
        .where(Booking.status.in_(LIVE_BOOKINGS))
        .order_by(Booking.created_at, Booking.id)).all()
    for booking, shipment in booked:
        crossings = (booking.crossing_id, *(c for c in shipment.crossings
                                            if c != booking.crossing_id))
        slot = booking.slot_start if booking.status == BookingStatus.active.value else None
        out.append(_known(shipment, booking.id, crossings, booking.arrived_at, slot))
    live = select(Booking.shipment_id).where(Booking.status.in_(LIVE_BOOKINGS))
    unbooked = session.scalars(
        select(Shipment).where(Shipment.status.in_(UNBOOKED_SHIPMENTS),
                               Shipment.id.not_in(live))
        .order_by(Shipment.submitted_at, Shipment.created_at, Shipment.id)).all()
    for shipment in unbooked:
        out.append(_known(shipment, None, tuple(shipment.crossings), None, None))
    # A crossing the network no longer has cannot be simulated: keep the others; a vehicle with
    # none left is still listed (expected None) so that every known vehicle appears once.
    return [k if set(k.crossings) <= known_crossings else _filtered(k, known_crossings)
            for k in out]


def _known(shipment: Shipment, booking_id: uuid.UUID | None, crossings: tuple[str, ...],
           arrived_at: datetime | None, slot_start: datetime | None) -> _Known:
    return _Known(
        shipment_id=shipment.id, booking_id=booking_id, crossings=crossings,
        direction=Direction(shipment.direction), cargo=CargoClass(shipment.cargo_class),
        shelf_life_hours=(float(shipment.shelf_life_hours)
                          if shipment.shelf_life_hours else None),
        arrived_at=arrived_at, arrival_from=shipment.arrival_from, slot_start=slot_start)


def _filtered(k: _Known, known: set[str]) -> _Known:
    kept = tuple(c for c in k.crossings if c in known)
    return _Known(k.shipment_id, k.booking_id, kept, k.direction, k.cargo, k.shelf_life_hours,
                  k.arrived_at, k.arrival_from, k.slot_start if kept[:1] == k.crossings[:1]
                  else None)


def _hours(at: datetime, start: datetime) -> float:
    return (at - start).total_seconds() / 3600


def build_scenario(*, network: Network, start: datetime, hours: int, policy: PolicyName,
                   seed: int, replications: int, queue_policy: QueuePolicy,
                   streams: list[tuple[tuple[str, ...], Direction, CargoClass, float | None]],
                   changes: list[CapacityChange]) -> Scenario:
    """The scenario of a forecast: no drawn demand (per_day 0), one stream per kind of known
    vehicle, plus an empty one per crossing and direction so every one has figures."""
    demand = [Demand(crossings=list(c), direction=d, cargo=cargo, per_day=0,
                     shelf_life_hours=shelf) for c, d, cargo, shelf in streams]
    demand += [Demand(crossings=[c.id], direction=d, per_day=0)
               for c in network.crossings for d in Direction]
    overrides = queue_policy.model_dump(mode="json", exclude_defaults=True)
    overrides.pop("slot_minutes", None)
    return Scenario(
        name="live-forecast", title=f"Forecast from the live state at {start.isoformat()}",
        network=network.id, start=start, days=hours / 24, slot_minutes=queue_policy.slot_minutes,
        policy=policy, queue_policy=overrides, demand=demand, capacity_changes=changes,
        call_forward_lead_hours=CALL_FORWARD_LEAD_HOURS, seed=seed, replications=replications)


def forecast(session: Session, *, network: Network, clock: Clock, hours: int = 72,
             policy: PolicyName = PolicyName.borderflow, seed: int = 0, replications: int = 1,
             queue_policy: QueuePolicy | None = None) -> Forecast:
    """Simulate the next `hours` from the platform's current state (reads only)."""
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidInput(f"hours must be between 1 and {MAX_HOURS}", field="hours")
    if not 1 <= replications <= 1000:
        raise InvalidInput("replications must be between 1 and 1000", field="replications")
    if seed < 0:
        raise InvalidInput("seed must not be negative", field="seed")
    rules = queue_policy or QueuePolicy()
    made_at = require_aware(clock.now(), "now").astimezone(UTC)
    start = align(made_at, rules)  # the live ledger's slot grid (aligned on UTC midnight)
    end = start + timedelta(hours=hours)
    slot_hours = rules.slot_minutes / 60

    vehicles = _known_vehicles(session, network)
    stream_of: dict[tuple[tuple[str, ...], Direction, CargoClass, float | None], int] = {}
    initial: list[Initial] = []
    placed: list[int] = []  # index into `initial` per vehicle, -1 for the unplaceable
    for k in vehicles:
        if not k.crossings:
            placed.append(-1)
            continue
        key = (k.crossings, k.direction, k.cargo, k.shelf_life_hours)
        stream = stream_of.setdefault(key, len(stream_of))
        slot_key = f"{k.crossings[0]}/{k.direction.value}"
        slot_index = None
        if k.slot_start is not None and k.slot_start >= start:
            slot_index = math.floor(_hours(k.slot_start, start) / slot_hours + 1e-9)
        if k.arrived_at is not None:
            ini = Initial(stream, "in_yard", arrived=_hours(k.arrived_at, start),
                          slot_key=slot_key, slot_index=slot_index)
        else:
            eta = _hours(max(k.arrival_from, made_at), start)
            ini = Initial(stream, "en_route", eta=eta, slot_key=slot_key, slot_index=slot_index)
        placed.append(len(initial))
        initial.append(ini)

    changes = [CapacityChange.model_validate(e.model_dump(by_alias=True))
               for e in stored_exceptions(session, network=network, start=start,
                                          end=end + timedelta(days=7))]
    scenario = build_scenario(network=network, start=start, hours=hours, policy=policy,
                              seed=seed, replications=replications, queue_policy=rules,
                              streams=list(stream_of), changes=changes)
    model = Model(scenario, network=network)
    summaries: list[dict[str, Any]] = []
    crossed_at: list[list[float]] = [[] for _ in initial]
    key_of: list[int] = [-1] * len(initial)
    for r in range(replications):
        rngs = model.rngs(seed, r)
        fleet = model.draw(rngs)  # empty: every stream has per_day 0
        outcome = Run(model, policy, fleet, rngs, initial=initial).run()
        summaries.append(summarize(model, outcome))
        offset = len(fleet)
        for i in range(len(initial)):
            t = outcome.crossed[offset + i]
            if not math.isnan(t):
                crossed_at[i].append(t)
            if r == 0:
                key_of[i] = outcome.key_of[offset + i]

    items: list[ForecastItem] = []
    for k, i in zip(vehicles, placed, strict=True):
        expected: datetime | None = None
        crossing = k.crossings[0] if k.crossings else "unknown"
        if i >= 0:
            times = crossed_at[i]
            # Crossed in most replications: the mean of those crossing times.
            if times and 2 * len(times) >= replications:
                expected = start + timedelta(hours=float(np.mean(times)))
            if key_of[i] >= 0:
                crossing = model.keys[key_of[i]].split("/")[0]
        items.append(ForecastItem(
            shipment_id=k.shipment_id, booking_id=k.booking_id, crossing_id=crossing,
            direction=k.direction, state="in_yard" if k.arrived_at is not None else "en_route",
            slot_start=k.slot_start, expected_cross_at=expected))

    if replications > 1:
        summary = combine(summaries)
        summary.pop("events", None)
    else:
        summary = {k: v for k, v in summaries[0].items() if k not in ("series", "events")}
    summary["series"] = summaries[0]["series"]  # replication 0, for the dashboard's plots
    summary["start"] = start.isoformat()
    summary["vehicles_known"] = len(vehicles)
    return Forecast(
        network_id=network.id, made_at=made_at, start=start, hours=hours, policy=policy,
        seed=seed, replications=replications, scenario_hash=scenario.digest(),
        code_version=__version__, items=items, summary=_plain(summary))


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python numbers, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------- storing
def save_forecast(session: Session, forecast: Forecast, actor: str) -> ForecastRow:
    """Store a forecast and its items (the caller commits)."""
    row = ForecastRow(
        id=uuid.uuid4(), network_id=forecast.network_id, made_at=forecast.made_at,
        made_by=actor, starts_at=forecast.start, horizon_hours=forecast.hours,
        policy=forecast.policy.value, seed=forecast.seed, replications=forecast.replications,
        scenario_hash=forecast.scenario_hash, code_version=forecast.code_version,
        summary=forecast.summary)
    session.add(row)
    session.flush()
    session.add_all([ForecastItemRow(
        forecast_id=row.id, booking_id=item.booking_id, shipment_id=item.shipment_id,
        crossing_id=item.crossing_id, direction=item.direction.value, state=item.state,
        slot_start=item.slot_start, expected_cross_at=item.expected_cross_at)
        for item in forecast.items])
    session.flush()
    return row


def latest_forecast(session: Session, *, network_id: str
                    ) -> tuple[ForecastRow, list[ForecastItemRow]] | None:
    row = session.scalar(select(ForecastRow).where(ForecastRow.network_id == network_id)
                         .order_by(ForecastRow.made_at.desc(), ForecastRow.id).limit(1))
    if row is None:
        return None
    return row, items_of(session, forecast_id=row.id)


def items_of(session: Session, *, forecast_id: uuid.UUID) -> list[ForecastItemRow]:
    return list(session.scalars(select(ForecastItemRow)
                                .where(ForecastItemRow.forecast_id == forecast_id)
                                .order_by(ForecastItemRow.id)))


# ------------------------------------------------------------------------------ checking
@dataclass(frozen=True)
class Accuracy:
    """Forecast against what happened, for one crossing (or all): errors are actual − expected
    crossing time in hours, over every (forecast, booking) pair whose booking has crossed."""

    compared: int
    mean_error_hours: float | None
    """Bias: positive when vehicles crossed later than forecast."""
    mean_absolute_error_hours: float | None
    p90_absolute_error_hours: float | None
    not_expected: int
    """Crossed although the forecast expected no crossing within its horizon."""


def _accuracy(errors: list[float], not_expected: int) -> Accuracy:
    if not errors:
        return Accuracy(0, None, None, None, not_expected)
    e = np.asarray(errors, dtype=np.float64)
    a = np.abs(e)
    return Accuracy(len(e), round(float(e.mean()), 4), round(float(a.mean()), 4),
                    round(float(np.percentile(a, 90)), 4), not_expected)


def forecast_accuracy(session: Session, *, since: datetime, network_id: str | None = None,
                      crossings: frozenset[str] | None = None
                      ) -> tuple[Accuracy, dict[str, Accuracy]]:
    """Overall and per crossing (the crossing the forecast expected): forecasts made since
    `since`, their booked vehicles that have crossed since (status `crossed`, the time of the
    booking's first "crossed" event). `crossings` limits it to those crossings."""
    since = require_aware(since, "since")
    crossed = (select(BookingEvent.booking_id, func.min(BookingEvent.at).label("at"))
               .where(BookingEvent.action == CROSSED_ACTION)
               .group_by(BookingEvent.booking_id).subquery())
    stmt = (select(ForecastItemRow.crossing_id, ForecastItemRow.expected_cross_at, crossed.c.at)
            .join(ForecastRow, ForecastRow.id == ForecastItemRow.forecast_id)
            .join(Booking, Booking.id == ForecastItemRow.booking_id)
            .join(crossed, crossed.c.booking_id == ForecastItemRow.booking_id)
            .where(ForecastRow.made_at >= since,
                   Booking.status == BookingStatus.crossed.value)
            .order_by(ForecastItemRow.id))
    if network_id is not None:
        stmt = stmt.where(ForecastRow.network_id == network_id)
    if crossings is not None:
        stmt = stmt.where(ForecastItemRow.crossing_id.in_(sorted(crossings)))
    errors: dict[str, list[float]] = defaultdict(list)
    missed: dict[str, int] = defaultdict(int)
    for crossing_id, expected, actual in session.execute(stmt):
        if expected is None:
            missed[crossing_id] += 1
        else:
            errors[crossing_id].append(_hours(_utc(actual), expected))
    by_crossing = {c: _accuracy(errors.get(c, []), missed.get(c, 0))
                   for c in sorted({*errors, *missed})}
    overall = _accuracy([e for v in errors.values() for e in v], sum(missed.values()))
    return overall, by_crossing


def _utc(value: datetime) -> datetime:
    """`min()` over a UTCDateTime column comes back without the column's type on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
