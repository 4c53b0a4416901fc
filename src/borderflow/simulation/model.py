"""The border model: vehicles from demand, the crossings' capacity from the live capacity
function, and the three policies (today's first-come queue, GoSwift-style booked slots,
borderflow) driving the event kernel.

One `Model` is built per scenario (capacity tables, rates: deterministic work done once); each
replication draws its vehicles and service times from its own seed and runs each policy on the
same draw, so policies are compared on the same trucks.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from heapq import heapreplace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from borderflow.declarations.cargo import DEFAULT_SHELF_LIFE_HOURS, CargoClass
from borderflow.network.capacity import compute_capacity
from borderflow.network.loader import load_network
from borderflow.network.schemas import Direction, Network, Side
from borderflow.queue.allocation import NO_DEADLINE, allocate_arrays
from borderflow.queue.policy import PriorityClass, QueuePolicy
from borderflow.simulation.engine import NO_SLOT, CalendarGate, Engine, Lanes, QueueGate
from borderflow.simulation.ledger import SlotLedger
from borderflow.simulation.scenario import (
    CapacityChange,
    Demand,
    Dist,
    Scenario,
    ScenarioFileError,
    Stage,
)

REROUTE_HOURS = 1.0
"""Driving time between two crossings' yards when a truck is re-routed (Lang Son's crossings
are 15–40 km apart)."""

BOOKING_MARGIN_DAYS = 60
"""Slots are known this far past the scenario's end, so late bookings still find a place."""

STREAMS = ("arrivals", "travel", "lateness", "no_show", "service", "channels")


@dataclass(frozen=True)
class StreamSpec:
    """What the vehicles of one demand stream share."""

    keys: tuple[str, ...]  # acceptable "crossing/direction", preferred first
    crossing_ids: tuple[str, ...]
    direction: Direction
    cargo: CargoClass
    travel_hours: float
    travel_sd_hours: float
    shelf_life: float | None

    @property
    def priority(self) -> PriorityClass:
        return PriorityClass.perishable if self.shelf_life is not None else PriorityClass.regular


@dataclass
class Fleet:
    """The vehicles of one replication, sorted by `ready` (intended arrival at the border)."""

    ready: npt.NDArray[np.float64]
    stream: npt.NDArray[np.int64]
    travel: npt.NDArray[np.float64]
    lateness: npt.NDArray[np.float64]
    no_show: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.ready)


@dataclass
class Initial:
    """A vehicle already in the system when a forecast starts from the live platform."""

    stream: int
    state: str  # "in_yard" | "en_route" | "planned"
    arrived: float | None = None  # hours from the start (negative: before it)
    eta: float | None = None
    slot_key: str | None = None
    slot_index: int | None = None


@dataclass
class KeyTables:
    capacity: npt.NDArray[np.int64]
    prereg: npt.NDArray[np.bool_]
    """What the queue knows at the start: the network's calendars and the changes known then."""
    after: list[tuple[float, npt.NDArray[np.int64]]] = field(default_factory=list)
    """(announced at, capacity from then) for changes not known from the start."""

    @property
    def actual(self) -> npt.NDArray[np.int64]:
        """What the gate really lets through: every change applied, announced or not."""
        return self.after[-1][1] if self.after else self.capacity


class Model:
    def __init__(self, scenario: Scenario, *, network: Network | None = None) -> None:
        self.scenario = scenario
        self.network = network if network is not None else (
            load_network(scenario.network) if scenario.network else None)
        self.policy: QueuePolicy = scenario.queue_rules()
        self.L = scenario.slot_minutes / 60.0
        self.t0 = scenario.start.astimezone(UTC)
        self.hours = scenario.days * 24.0
        self.streams: list[StreamSpec] = [self._spec(d) for d in scenario.demand]
        self.replay: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]] | None = None
        if scenario.arrivals_csv:
            self.replay = self._read_replay(scenario.arrivals_csv)
        self.keys = sorted({k for s in self.streams for k in s.keys})
        self.crossing_ids = sorted({k.split("/")[0] for k in self.keys})
        self.tables = {k: self._tables(k) for k in self.keys if not self._lanes_gate(k)}
        self.yard_capacity = {c: self._yard_capacity(c) for c in self.crossing_ids}
        self.overflow_capacity = sum(
            a.capacity for a in (self.network.staging_areas if self.network else [])
            if a.kind == "overflow")
        self.staging_capacity = scenario.staging_capacity if scenario.staging_capacity \
            is not None else sum(a.capacity for a in (
                self.network.staging_areas if self.network else []) if a.kind == "staging")
        self.rates = [self._hourly_rates(d) for d in scenario.demand]

    # ----------------------------------------------------------------------------- building
    def _spec(self, d: Demand) -> StreamSpec:
        if self.network is not None:
            for c in d.crossings:
                self.network.crossing(c)  # raises CrossingNotFound naming it
        keys = tuple(f"{c}/{d.direction.value}" for c in d.crossings)
        return StreamSpec(keys, tuple(d.crossings), d.direction, d.cargo, d.travel_hours,
                          d.travel_sd_hours, d.shelf_life)

    def _lanes_gate(self, key: str) -> bool:
        setup = self.scenario.crossings.get(key.split("/")[0])
        return setup is not None and setup.gate.lanes is not None

    def _yard_capacity(self, crossing_id: str) -> int:
        setup = self.scenario.crossings.get(crossing_id)
        if setup is not None and setup.yard_capacity is not None:
            return setup.yard_capacity
        if self.network is None:
            return 10**9
        return sum(y.capacity for y in self.network.crossing(crossing_id).yards)

    def _capacity(self, crossing_id: str, direction: Direction,
                  changes: list[CapacityChange]) -> tuple[npt.NDArray[np.int64],
                                                          npt.NDArray[np.bool_]]:
        assert self.network is not None
        end = self.t0 + timedelta(hours=self.hours) + timedelta(days=BOOKING_MARGIN_DAYS)
        table = compute_capacity(self.network, crossing_id=crossing_id, direction=direction,
                                 start=self.t0, end=end, slot=timedelta(hours=self.L),
                                 extra_exceptions=changes)
        cap = table.capacity.astype(np.int64)
        setup = self.scenario.crossings.get(crossing_id)
        limit = setup.acceptance_per_day.get(direction) if setup else None
        if limit is not None:
            cap = self._clip_daily(cap, limit)
        return cap, np.asarray(table.preregistered_only, dtype=bool)

    def _clip_daily(self, cap: npt.NDArray[np.int64], limit: int) -> npt.NDArray[np.int64]:
        """The other side accepts at most `limit` vehicles per day of its own calendar."""
        assert self.network is not None
        zone = ZoneInfo(self.network.sides[Side.cn].tz)
        starts = [self.t0 + timedelta(hours=j * self.L) for j in range(len(cap))]
        day = np.array([s.astimezone(zone).toordinal() for s in starts])
        out = cap.copy()
        for d in np.unique(day):
            idx = np.flatnonzero(day == d)
            cum = np.minimum(np.cumsum(cap[idx]), limit)
            out[idx] = np.diff(cum, prepend=0)
        return out

    def _tables(self, key: str) -> KeyTables:
        crossing_id, direction = key.split("/")[0], Direction(key.split("/")[1])
        known = [c for c in self.scenario.capacity_changes
                 if c.announced is None or c.announced <= self.scenario.start]
        later = sorted((c for c in self.scenario.capacity_changes
                        if c.announced is not None and c.announced > self.scenario.start),
                       key=lambda c: c.announced or self.scenario.start)
        cap, prereg = self._capacity(crossing_id, direction, known)
        out = KeyTables(cap, prereg)
        for i, change in enumerate(later):
            assert change.announced is not None
            at = (change.announced.astimezone(UTC) - self.t0).total_seconds() / 3600
            new_cap, _ = self._capacity(crossing_id, direction, known + later[:i + 1])
            out.after.append((at, new_cap))
        return out

    def _hourly_rates(self, d: Demand) -> npt.NDArray[np.float64]:
        """Expected arrivals in each hour of the scenario for one stream."""
        n = math.ceil(self.hours)
        home = ZoneInfo(self.network.network.home_tz if self.network else "UTC")
        profile = np.ones(24) if d.hourly_profile is None else np.asarray(d.hourly_profile)
        profile = profile / profile.sum()
        rates = np.empty(n)
        for h in range(n):
            local = (self.t0 + timedelta(hours=h)).astimezone(home)
            factor = 1.0
            for p in d.peaks:
                if p.from_ <= local.date() <= p.to:
                    factor *= p.factor
            rates[h] = d.per_day * factor * profile[local.hour]
        if n > self.hours:  # a partial last hour
            rates[-1] *= self.hours - (n - 1)
        return rates

    def _read_replay(self, path: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        times: list[float] = []
        kinds: list[int] = []
        index: dict[StreamSpec, int] = {}
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                for line, row in enumerate(csv.DictReader(fh), start=2):
                    try:
                        at = datetime.fromisoformat(row["arrival"])
                        if at.tzinfo is None:
                            raise ValueError("arrival must carry a UTC offset")
                        crossings = tuple(c for c in row["crossings"].split("|") if c)
                        direction = Direction(row["direction"])
                        cargo = CargoClass(row.get("cargo") or "general")
                        travel = float(row.get("travel_hours") or 0)
                        shelf_raw = row.get("shelf_life_hours")
                        default = DEFAULT_SHELF_LIFE_HOURS[cargo]
                        shelf = float(shelf_raw) if shelf_raw else (
                            float(default) if default is not None else None)
                    except (KeyError, ValueError, AttributeError, TypeError) as exc:
                        why = f"missing column {exc}" if isinstance(exc, KeyError) else (
                            "a value is missing" if not isinstance(exc, ValueError) else str(exc))
                        raise ScenarioFileError(path, [(f"line {line}", why)]) from exc
                    if not crossings:
                        raise ScenarioFileError(path, [(f"line {line}", "no crossing")])
                    known = {c.id for c in self.network.crossings} if self.network else None
                    unknown = [c for c in crossings if known is not None and c not in known]
                    if unknown:
                        raise ScenarioFileError(path, [(f"line {line}",
                                                        f"unknown crossing {unknown[0]!r}")])
                    spec = StreamSpec(tuple(f"{c}/{direction.value}" for c in crossings),
                                      crossings, direction, cargo, travel, 0.0, shelf)
                    if spec not in index:
                        index[spec] = len(self.streams)
                        self.streams.append(spec)
                    times.append((at.astimezone(UTC) - self.t0).total_seconds() / 3600)
                    kinds.append(index[spec])
        except OSError as exc:
            raise ScenarioFileError(path, [("", f"cannot read: {exc}")]) from exc
        return np.asarray(times), np.asarray(kinds, dtype=np.int64)

    # ------------------------------------------------------------------------------ drawing
    def rngs(self, seed: int, replication: int) -> dict[str, np.random.Generator]:
        """Independent generators per source of randomness for one replication; the same
        (seed, replication) always gives the same streams, whatever the policy."""
        return {name: np.random.default_rng(
                    np.random.SeedSequence(seed, spawn_key=(replication, i)))
                for i, name in enumerate(STREAMS)}

    def draw(self, rngs: dict[str, np.random.Generator]) -> Fleet:
        """The vehicles of one replication (uses the arrivals, travel, lateness and no-show
        streams; the service streams are left for the stations)."""
        ready_parts, stream_parts = [], []
        for i, rates in enumerate(self.rates):
            counts = rngs["arrivals"].poisson(rates)
            hours = np.repeat(np.arange(len(rates), dtype=np.float64), counts)
            ready_parts.append(hours + rngs["arrivals"].random(len(hours)))
            stream_parts.append(np.full(len(hours), i, dtype=np.int64))
        if self.replay is not None:
            ready_parts.append(self.replay[0])
            stream_parts.append(self.replay[1])
        ready = np.concatenate(ready_parts) if ready_parts else np.zeros(0)
        stream = np.concatenate(stream_parts) if stream_parts else np.zeros(0, dtype=np.int64)
        keep = ready < self.hours
        order = np.argsort(ready[keep], kind="stable")
        ready, stream = ready[keep][order], stream[keep][order]
        n = len(ready)
        travel = np.array([s.travel_hours for s in self.streams])[stream] if n else np.zeros(0)
        sd = np.array([s.travel_sd_hours for s in self.streams])[stream] if n else np.zeros(0)
        noise = rngs["travel"].normal(0.0, 1.0, n) * sd
        late_sd = self.scenario.lateness_sd_hours
        lateness = rngs["lateness"].normal(0.0, late_sd, n) if late_sd else np.zeros(n)
        no_show = rngs["no_show"].random(n) < self.scenario.no_show_rate
        # `travel` is the planned driving time (what dispatch advice uses); `lateness` is how far
        # the real arrival strays from plan (road time noise plus the driver's own lateness).
        return Fleet(ready, stream, travel, np.maximum(lateness + noise, -travel), no_show)

    def service_times(self, stage: Stage, fleet: Fleet,
                      rng: np.random.Generator, chan: np.random.Generator) -> list[float]:
        """Per vehicle service time (hours) at one stage, by cargo class, with channels."""
        n = len(fleet)
        cargo = np.array([s.cargo.value for s in self.streams], dtype=object)[fleet.stream] \
            if n else np.zeros(0, dtype=object)
        out = sample(stage.service, n, rng)
        for cls, dist in stage.service_by_cargo.items():
            mask = cargo == cls.value
            out[mask] = sample(dist, int(mask.sum()), rng)
        if stage.channels is not None:
            u = chan.random(n)
            ch = stage.channels
            yellow = (u >= ch.green) & (u < ch.green + ch.yellow)
            red = u >= ch.green + ch.yellow
            if ch.yellow_extra is not None:
                out[yellow] += sample(ch.yellow_extra, int(yellow.sum()), rng)
            if ch.red_extra is not None:
                out[red] += sample(ch.red_extra, int(red.sum()), rng)
        return (out / 60.0).tolist()


def sample(dist: Dist, n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """n draws (minutes) from a service-time distribution."""
    if dist.kind == "exponential":
        return rng.exponential(dist.mean, n)
    if dist.kind == "deterministic":
        return np.full(n, dist.mean)
    if dist.kind == "lognormal":
        m, s = dist.mean, float(dist.sd_minutes or 0)
        sigma2 = math.log(1 + (s / m) ** 2)
        return rng.lognormal(math.log(m) - sigma2 / 2, math.sqrt(sigma2), n)
    values = np.asarray(dist.values_minutes, dtype=np.float64)
    return values[rng.integers(0, len(values), n)]


# ---------------------------------------------------------------------------------- running
PLANNED, EN_ROUTE, HELD, IN_YARD, CROSSED, NOT_DISPATCHED, NO_SHOW = range(7)


@dataclass
class RunOutcome:
    """Everything one policy run produced (turned into figures by `results`)."""

    policy: str
    fleet: Fleet
    key_of: list[int]  # index into model.keys, -1 if never assigned
    arrived: list[float]
    crossed: list[float]
    state: list[int]
    events: int
    series: dict[str, Any]
    max_outside: dict[str, int]
    max_outside_total: int
    max_held: int


class Run:
    """One policy over one fleet."""

    def __init__(self, model: Model, policy: str, fleet: Fleet,
                 rngs: dict[str, np.random.Generator],
                 initial: list[Initial] | None = None) -> None:
        self.m = model
        self.rules = model.scenario.policy_named(policy)
        self.policy = self.rules.name
        self.n_drawn = len(fleet)
        self.initial: list[Initial] = initial or []
        if self.initial:
            fleet = _with_initial(fleet, self.initial)
        self.fleet = fleet
        self.engine = Engine()
        n = len(fleet)
        self.n = n
        self.key_index = {k: i for i, k in enumerate(model.keys)}
        self.key_of = [-1] * n
        self.arrived = [math.nan] * n
        self.crossed = [math.nan] * n
        self.state = [PLANNED] * n
        self.due = [math.nan] * n  # when this vehicle's crossing is due (booked policies)
        self.slot = [-1] * n
        self.rank = [0] * n
        self.depart_at = [math.nan] * n
        self.at_gate = [False] * n
        self.ready = fleet.ready.tolist()
        self.stream = fleet.stream.tolist()
        self.travel = fleet.travel.tolist()
        self.lateness = fleet.lateness.tolist()
        self.no_show = fleet.no_show.tolist()
        self.specs = model.streams
        self.crossing_of_key = [model.crossing_ids.index(k.split("/")[0]) for k in model.keys]
        self.occupancy = [0] * len(model.crossing_ids)
        self.yard_cap = [model.yard_capacity[c] for c in model.crossing_ids]
        self.max_outside = [0] * len(model.crossing_ids)
        self.total_yard_cap = sum(self.yard_cap) + model.overflow_capacity
        self.total_occupancy = 0
        self.max_outside_total = 0
        self.held = 0
        self.max_held = 0
        self.series: dict[str, Any] = {"hour": [], "yard": defaultdict(list),
                                       "outside": defaultdict(list), "held": [],
                                       "on_road": []}
        self._build_stations(rngs)
        self.ledger: SlotLedger | None = None
        if self.rules.books:
            rules = self.rules.queue_rules(model.policy)
            self.ledger = SlotLedger(t0=model.t0, slot_hours=model.L, policy=rules)
            perishable_keys = {k for sp in model.streams if sp.shelf_life is not None
                               for k in sp.keys}
            for k, t in model.tables.items():
                self.ledger.add(k, k.split("/")[0], t.capacity.tolist(), t.prereg.tolist(),
                                reserve=k in perishable_keys)

    # ----------------------------------------------------------------------------- stations
    def _build_stations(self, rngs: dict[str, np.random.Generator]) -> None:
        m, engine = self.m, self.engine
        self.entry: list[Any] = []  # per key: first station's arrive
        self.gates: list[Any] = []
        # per key: the stages in order as (lanes, service times, cargo classes or None), and
        # the gate as (lanes, service times) for a queueing gate or None for the calendar
        self.plans: list[tuple[list[tuple[int, list[float], set[CargoClass] | None]],
                               tuple[int, list[float]] | None]] = []
        for ki, key in enumerate(m.keys):
            crossing_id = key.split("/")[0]
            setup = m.scenario.crossings.get(crossing_id)
            cargo_of_stream = [s.cargo for s in m.streams]
            if setup is not None and setup.gate.lanes is not None:
                assert setup.gate.service is not None
                gate_stage = Stage(name="gate", lanes=setup.gate.lanes,
                                   service=setup.gate.service)
                times = m.service_times(gate_stage, self.fleet, rngs["service"],
                                        rngs["channels"])
                gate: Any = Lanes(engine, setup.gate.lanes, times, self._cross, _noop)
                gate_arrive = gate.arrive
                gate_plan: tuple[int, list[float]] | None = (setup.gate.lanes, times)
            elif not self.rules.books:
                gate_plan = None
                gate = CalendarGate(engine, m.L, m.tables[key].actual.tolist(), self._cross)
                gate_arrive = gate.arrive
            else:
                gate_plan = None
                gate = QueueGate(engine, m.L, m.tables[key].actual.tolist(), self._cross,
                                 self._place, self._present)
                gate_arrive = self._at_booked_gate
            self.gates.append(gate)
            nxt = gate_arrive
            plan: list[tuple[int, list[float], set[CargoClass] | None]] = []
            for stage in reversed(setup.stages if setup else []):
                times = m.service_times(stage, self.fleet, rngs["service"], rngs["channels"])
                plan.insert(0, (stage.lanes, times,
                                set(stage.applies_to) if stage.applies_to is not None else None))
                station = Lanes(engine, stage.lanes, times, None, nxt)
                if stage.applies_to is not None:
                    nxt = _skip_unless(set(stage.applies_to), cargo_of_stream, self.stream,
                                       station.arrive, nxt)
                else:
                    nxt = station.arrive
            self.entry.append(nxt)
            self.plans.append((plan, gate_plan))
            del ki

    # ------------------------------------------------------------------------------ flow
    def start(self) -> None:
        engine = self.engine
        for h in range(math.ceil(self.m.hours) + 1):
            engine.at(float(h), self._sample, h)
        fifo = not self.rules.books
        for i, ini in enumerate(self.initial):
            self._start_initial(self.n_drawn + i, ini)
        times: list[float] = []
        who: list[int] = []
        if fifo:
            for v in range(self.n_drawn):
                self.key_of[v] = self.key_index[self.specs[self.stream[v]].keys[0]]
                depart = self.ready[v] - self.travel[v]
                self.depart_at[v] = depart
                if self.no_show[v]:
                    self.state[v] = NO_SHOW
                    continue
                self.state[v] = EN_ROUTE
                times.append(max(depart + self.travel[v] + self.lateness[v], depart))
                who.append(v)
            callback = self._arrive
        else:
            ahead = self.m.scenario.declare_ahead_hours \
                if self.rules.book_when_declaring else 0.0
            for v in range(self.n_drawn):
                decide = self.ready[v] - self.travel[v]
                times.append(decide - ahead if ahead else decide)
                who.append(v)
            callback = self._book
        order = sorted(range(len(times)), key=times.__getitem__)  # stable: ties keep v order
        engine.feed([times[i] for i in order], callback, [who[i] for i in order])
        if self.ledger is not None:  # the physical first-come queue has nothing to re-plan
            for t_a, _ in self._announcements():
                engine.at(t_a, self._replan, 0)

    def _start_initial(self, v: int, ini: Initial) -> None:
        """A vehicle the live platform already knows: in a yard, on the road, or booked and
        not yet left; its booking (if any) is already in the ledger."""
        spec = self.specs[ini.stream]
        key = ini.slot_key or spec.keys[0]
        self.key_of[v] = self.key_index[key]
        if ini.slot_index is not None and self.ledger is not None and key in self.ledger.books:
            self._assign(v, (key, ini.slot_index,
                             self.ledger.take(key, ini.slot_index, spec.priority)))
        if ini.state == "in_yard":
            self.state[v] = EN_ROUTE
            self.engine.at(0.0, self._arrive, v)
        elif ini.state == "en_route":
            self.state[v] = EN_ROUTE
            self.depart_at[v] = math.nan
            self.engine.at(max(ini.eta or 0.0, 0.0), self._arrive, v)
        elif self.slot[v] >= 0 and self.rules.dispatch_advice:
            self.engine.at(max(self._advised_departure(v), 0.0), self._depart, v)
        else:
            self.engine.at(max(self.ready[v] - self.travel[v], 0.0), self._depart, v)

    def _announcements(self) -> list[tuple[float, dict[str, npt.NDArray[np.int64]]]]:
        by_time: dict[float, dict[str, npt.NDArray[np.int64]]] = defaultdict(dict)
        for k, t in self.m.tables.items():
            for at, cap in t.after:
                by_time[at][k] = cap
        return sorted(by_time.items())

    def _go(self, v: int, depart: float) -> None:
        """The truck leaves its origin at `depart`; it reaches the border area (or doesn't)."""
        self.depart_at[v] = depart
        if self.no_show[v]:
            self.state[v] = NO_SHOW
            return
        self.state[v] = EN_ROUTE
        arrival = depart + self.travel[v] + self.lateness[v]
        self.engine.at(max(arrival, depart), self._arrive, v)

    def _arrive(self, v: int) -> None:
        now = self.engine.now
        self.arrived[v] = now
        if v >= self.n_drawn:  # known to the platform: it arrived when the platform saw it
            known = self.initial[v - self.n_drawn].arrived
            if known is not None:
                self.arrived[v] = min(known, now)
        in_yard_already = v >= self.n_drawn and self.initial[v - self.n_drawn].state == "in_yard"
        if self.rules.books and self.slot[v] >= 0 and not in_yard_already:
            call_at = self.due[v] - self.m.scenario.call_forward_lead_hours
            if call_at > now:  # wait at the staging point / waiting area until called
                self.state[v] = HELD
                self.held += 1
                if self.held > self.max_held:
                    self.max_held = self.held
                self._note_outside()
                self.engine.at(call_at, self._call_forward, v)
                return
        self._enter_yard(v)

    def _call_forward(self, v: int) -> None:
        if self.state[v] != HELD:
            return
        call_at = self.due[v] - self.m.scenario.call_forward_lead_hours
        if call_at > self.engine.now + 1e-9:  # re-planned to a later slot meanwhile
            self.engine.at(call_at, self._call_forward, v)
            return
        self.held -= 1
        self._enter_yard(v)

    def _enter_yard(self, v: int) -> None:
        self.state[v] = IN_YARD
        c = self.crossing_of_key[self.key_of[v]]
        occ = self.occupancy[c] + 1
        self.occupancy[c] = occ
        if occ - self.yard_cap[c] > self.max_outside[c]:
            self.max_outside[c] = occ - self.yard_cap[c]
        self.total_occupancy += 1
        self._note_outside()
        self.entry[self.key_of[v]](v)

    def _note_outside(self) -> None:
        """Vehicles on the road: beyond the yards and overflow lots, plus those held beyond
        the staging points' room."""
        out = max(self.total_occupancy - self.total_yard_cap, 0) + max(
            self.held - self.m.staging_capacity, 0)
        if out > self.max_outside_total:
            self.max_outside_total = out

    def _cross(self, v: int) -> None:
        if self.state[v] != IN_YARD:
            return
        self.crossed[v] = self.engine.now
        self._leave_yard(v)
        self.state[v] = CROSSED

    def _leave_yard(self, v: int) -> None:
        c = self.crossing_of_key[self.key_of[v]]
        self.occupancy[c] -= 1
        self.total_occupancy -= 1

    # -------------------------------------------------------------------- booked policies
    def _book(self, v: int) -> None:
        """The declarant books (its declared crossing, or with re-routing any acceptable one;
        with perishable priority, perishables first and never past the shelf life) and is
        told when to leave."""
        assert self.ledger is not None
        now = self.engine.now
        spec = self.specs[self.stream[v]]
        ready = self.ready[v]
        rules = self.rules
        keys = spec.keys if rules.reroute else spec.keys[:1]
        perishable = spec.shelf_life is not None
        deadline = ready + spec.shelf_life if (
            perishable and rules.perishable_priority and spec.shelf_life is not None) else None
        got = self.ledger.book(keys, ready=ready, deadline=deadline,
                               priority=rules.priority(perishable), now=now)
        if got is None:
            if rules.no_slot_no_dispatch and perishable:
                self.state[v] = NOT_DISPATCHED
                return
            self.key_of[v] = self.key_index[spec.keys[0]]
            self._go(v, ready - self.travel[v])  # comes anyway, without a slot
            return
        self._assign(v, got)
        depart = self._advised_departure(v) if rules.dispatch_advice \
            else ready - self.travel[v]  # leaves when loaded
        self.engine.at(max(depart, now), self._depart, v)

    def _advised_departure(self, v: int) -> float:
        """Dispatch advice: leave so as to reach the staging point `call_forward_lead` before
        the slot with a margin for the road's spread (default: two standard deviations of
        travel and lateness), never before the goods are ready."""
        sc = self.m.scenario
        spec = self.specs[self.stream[v]]
        margin = sc.dispatch_margin_hours if sc.dispatch_margin_hours is not None else \
            2.0 * math.hypot(spec.travel_sd_hours, sc.lateness_sd_hours)
        return max(self.ready[v] - self.travel[v],
                   self.due[v] - sc.call_forward_lead_hours - margin - self.travel[v])

    def _depart(self, v: int) -> None:
        if self.state[v] == PLANNED:
            self._go(v, self.engine.now)

    def _assign(self, v: int, got: tuple[str, int, int]) -> None:
        key, j, rank = got
        self.key_of[v] = self.key_index[key]
        self.slot[v] = j
        self.rank[v] = rank
        cap = self.ledger.books[key].capacity[j] if self.ledger else 1
        self.due[v] = j * self.m.L + (rank + 0.5) * self.m.L / max(cap, 1)

    def _at_booked_gate(self, v: int) -> None:
        """Checks done: join the gate's line at the vehicle's place in the electronic queue.
        Late within the grace window keeps the place; later, it is lost and the next free
        slot taken (the back of the line) — under borderflow on any acceptable crossing, the
        truck driving over if it is another one."""
        now = self.engine.now
        j = self.slot[v]
        grace = self.m.policy.grace.total_seconds() / 3600
        if j < 0 or now > (j + 1) * self.m.L + grace:
            assert self.ledger is not None
            key = self.m.keys[self.key_of[v]]
            keys = [key]
            if self.rules.reroute:
                keys += [k for k in self.specs[self.stream[v]].keys if k != key]
            got = self.ledger.book(keys, ready=now, deadline=None,
                                   priority=PriorityClass.regular, now=now)
            if got is None:
                self.slot[v], self.rank[v] = NO_SLOT, v  # no slot left: last in line
            elif got[0] != key:  # re-routed: leave this yard, drive to the other crossing
                self._leave_yard(v)
                self._assign(v, got)
                self.state[v] = EN_ROUTE
                self.engine.at(now + REROUTE_HOURS, self._enter_yard, v)
                return
            else:
                self._assign(v, got)
        self.at_gate[v] = True
        self.gates[self.key_of[v]].arrive(v)

    def _place(self, v: int) -> tuple[int, int]:
        return self.slot[v], self.rank[v]

    def _present(self, v: int) -> bool:
        return self.state[v] == IN_YARD

    def _replan(self, _: int) -> None:
        """A capacity change is announced: every booking from now on is re-allocated at once
        (borderflow: optimally, with re-routing, perishables first, by the live allocator;
        GoSwift: re-booked in the old order at the same crossing)."""
        assert self.ledger is not None
        now = self.engine.now
        changes = dict(self._announcements()).get(now, {})
        j0 = math.ceil(now / self.m.L - 1e-9)
        for key, cap in changes.items():
            self.ledger.set_capacity(key, cap.tolist(), j0)
        affected = [v for v in range(self.n)
                    if self.slot[v] >= j0 and self.state[v] in (PLANNED, EN_ROUTE, HELD, IN_YARD)]
        for key in self.m.keys:
            if key in self.ledger.books:
                self.ledger.release_from(key, j0)
        if self.rules.optimal_replan and affected:
            self._replan_optimal(affected, j0)
        else:
            affected.sort(key=lambda v: (self.slot[v], self.due[v]))
            for v in affected:
                key = self.m.keys[self.key_of[v]]
                got = self.ledger.book([key], ready=max(self.ready[v], now), deadline=None,
                                       priority=PriorityClass.regular, now=now)
                if got is None:
                    self.slot[v] = -1
                else:
                    self._reschedule(v, got)

    def _replan_optimal(self, affected: list[int], j0: int) -> None:
        assert self.ledger is not None
        now = self.engine.now
        keys = [k for k in self.m.keys if k in self.ledger.books]
        col = {k: i for i, k in enumerate(keys)}
        s_gate, s_start, s_cap = [], [], []
        for k in keys:
            cap = self.ledger.books[k].capacity
            for j in range(j0, len(cap)):
                if cap[j] > 0:
                    s_gate.append(col[k])
                    s_start.append(j)
                    s_cap.append(cap[j])
        slot_index = np.asarray(s_start, dtype=np.int64)
        scale = 3600  # slot indices → seconds-like integer times
        weights = self.m.policy.weights
        ready, gates, w, deadline = [], [], [], []
        for v in affected:
            spec = self.specs[self.stream[v]]
            r = max(self.ready[v], now)
            ready.append(math.ceil(r / self.m.L - 1e-9) * scale)
            row = [False] * len(keys)
            if self.state[v] == PLANNED:
                for k in spec.keys:
                    if k in col:
                        row[col[k]] = True
            else:  # already on the road or at the border: stays at its crossing
                row[col[self.m.keys[self.key_of[v]]]] = True
            gates.append(row)
            w.append(weights[spec.priority])
            if self.state[v] == PLANNED and spec.shelf_life is not None:
                deadline.append(int((self.ready[v] + spec.shelf_life) // self.m.L) * scale)
            else:
                deadline.append(NO_DEADLINE)
        horizon = (int(slot_index.max()) + 1) * scale if len(slot_index) else scale
        result = allocate_arrays(
            slot_gate=np.asarray(s_gate, dtype=np.int64), slot_start=slot_index * scale,
            slot_capacity=np.asarray(s_cap, dtype=np.int64), vehicle_ready=ready,
            vehicle_gates=np.asarray(gates, dtype=bool).reshape(len(affected), len(keys)),
            vehicle_weight=w, vehicle_deadline=deadline,
            unassigned_at=horizon + int(self.m.policy.unassigned_penalty_hours) * scale)
        order = sorted(range(len(affected)), key=lambda i: (int(result.slot[i]), -w[i], i))
        for i in order:
            v = affected[i]
            s = int(result.slot[i])
            if s < 0:
                if self.state[v] == PLANNED:
                    self.state[v] = NOT_DISPATCHED
                else:
                    self.slot[v] = -1
                continue
            key = keys[s_gate[s]]
            j = s_start[s]
            spec = self.specs[self.stream[v]]
            self._reschedule(v, (key, j, self.ledger.take(key, j, spec.priority)))

    def _reschedule(self, v: int, got: tuple[str, int, int]) -> None:
        self._assign(v, got)
        if self.at_gate[v] and self.state[v] == IN_YARD:
            self.gates[self.key_of[v]].arrive(v)
        if self.state[v] == PLANNED and self.rules.dispatch_advice:
            self.engine.at(max(self._advised_departure(v), self.engine.now), self._depart, v)

    # ------------------------------------------------------------------ FIFO without events
    def _run_fifo_direct(self) -> RunOutcome:
        """The FIFO policy without the event kernel: with no bookings, holds or re-plans the
        stations do not interact except through the order vehicles reach them, so each
        station is one pass over its vehicles in that order (Lindley's recursion for the
        lanes, the token rule of `CalendarGate` for the gate). Gives what `start` + the kernel
        give (same times, figures and event count), barring exact ties in time."""
        m, fleet, until = self.m, self.fleet, self.m.hours
        n = self.n
        depart = fleet.ready - fleet.travel
        arrival = np.maximum(depart + fleet.travel + fleet.lateness, depart)
        come = ~fleet.no_show & (arrival <= until)
        first_key = np.array([self.key_index[s.keys[0]] for s in self.specs],
                             dtype=np.int64)[fleet.stream] if n else np.zeros(0, np.int64)
        crossed = np.full(n, math.nan)
        events = sum(1 for h in range(math.ceil(until) + 1) if h <= until)
        events += int(come.sum())
        cargo = [s.cargo for s in self.specs]
        stream = self.stream
        for ki, (plan, gate_plan) in enumerate(self.plans):
            mine = np.flatnonzero(come & (first_key == ki))
            t = arrival[mine]
            o = np.argsort(t, kind="stable")
            order, at = mine[o].tolist(), t[o].tolist()
            for lanes, service, classes in plan:
                if classes is not None:
                    inside = [cargo[stream[v]] in classes for v in order]
                    sub = [v for v, x in zip(order, inside, strict=True) if x]
                    sub_at = [a for a, x in zip(at, inside, strict=True) if x]
                    _, fin, done = _lanes_pass(sub, sub_at, lanes, service, until)
                    it = iter(fin)
                    at = [next(it) if x else a for a, x in zip(at, inside, strict=True)]
                else:
                    _, at, done = _lanes_pass(order, at, lanes, service, until)
                events += done
                o2 = sorted(range(len(at)), key=at.__getitem__)
                order, at = [order[i] for i in o2], [at[i] for i in o2]
            if gate_plan is not None:
                lanes, service = gate_plan
                starts, _, done = _lanes_pass(order, at, lanes, service, until)
                events += done
                times = starts
            else:
                times, done = _calendar_pass(at, m.L, m.tables[m.keys[ki]].actual.tolist(),
                                             until)
                events += done
            if order:
                crossed[np.asarray(order)] = times
        crossed[~(crossed <= until)] = math.nan
        did_cross = ~np.isnan(crossed)
        arrived = np.where(come, arrival, math.nan)
        state = np.full(n, EN_ROUTE, dtype=np.int64)
        state[fleet.no_show] = NO_SHOW
        state[come] = IN_YARD
        state[did_cross] = CROSSED
        # yard occupancy: +1 on arrival, -1 on crossing, per crossing and in all
        crossing_of_key = np.asarray(self.crossing_of_key, dtype=np.int64)
        cx = crossing_of_key[first_key] if n else np.zeros(0, np.int64)
        hours = [h for h in range(math.ceil(until) + 1) if h <= until]
        series: dict[str, Any] = {"hour": hours, "yard": {}, "outside": {},
                                  "held": [0] * len(hours)}
        max_outside: dict[str, int] = {}
        ev_t = np.concatenate([arrival[come], crossed[did_cross]])
        ev_d = np.concatenate([np.ones(int(come.sum()), np.int64),
                               -np.ones(int(did_cross.sum()), np.int64)])
        ev_c = np.concatenate([cx[come], cx[did_cross]])
        o = np.argsort(ev_t, kind="stable")
        ev_t, ev_d, ev_c = ev_t[o], ev_d[o], ev_c[o]
        grid = np.asarray(hours, dtype=np.float64)
        for c, crossing_id in enumerate(m.crossing_ids):
            sel = ev_c == c
            occ = np.cumsum(ev_d[sel])
            before = np.searchsorted(ev_t[sel], grid, side="left")
            yard = np.concatenate([[0], occ])[before]
            cap = self.yard_cap[c]
            series["yard"][crossing_id] = yard.tolist()
            series["outside"][crossing_id] = np.maximum(yard - cap, 0).tolist()
            peak = occ[ev_d[sel] > 0].max() - cap if sel.any() and (ev_d[sel] > 0).any() else 0
            max_outside[crossing_id] = max(int(peak), 0)
        total = np.cumsum(ev_d)
        peak_total = int(total[ev_d > 0].max()) - self.total_yard_cap if len(total) else 0
        at_grid = np.concatenate([[0], total])[np.searchsorted(ev_t, grid, side="left")]
        series["on_road"] = np.maximum(at_grid - self.total_yard_cap, 0).tolist()
        return RunOutcome(
            self.policy, fleet, first_key.tolist(), arrived.tolist(), crossed.tolist(),
            state.tolist(), events, series, max_outside, max(peak_total, 0), 0)

    # ---------------------------------------------------------------------------- sampling
    def _sample(self, h: int) -> None:
        s = self.series
        s["hour"].append(h)
        for c, crossing_id in enumerate(self.m.crossing_ids):
            s["yard"][crossing_id].append(self.occupancy[c])
            s["outside"][crossing_id].append(max(self.occupancy[c] - self.yard_cap[c], 0))
        s["held"].append(self.held)
        s["on_road"].append(max(self.total_occupancy - self.total_yard_cap, 0)
                            + max(self.held - self.m.staging_capacity, 0))

    def run(self, *, kernel: bool = False) -> RunOutcome:
        """Run to the scenario's end. The first-come policy with no initial vehicles takes the
        direct path (the same results, see `_run_fifo_direct`) unless `kernel` is set."""
        if not self.rules.books and not self.initial and not kernel:
            return self._run_fifo_direct()
        self.start()
        self.engine.run(until=self.m.hours)
        return RunOutcome(
            self.policy, self.fleet, self.key_of, self.arrived, self.crossed, self.state,
            self.engine.events,
            {"hour": self.series["hour"], "yard": dict(self.series["yard"]),
             "outside": dict(self.series["outside"]), "held": self.series["held"],
             "on_road": self.series["on_road"]},
            {c: max(self.max_outside[i], 0) for i, c in enumerate(self.m.crossing_ids)},
            max(self.max_outside_total, 0), self.max_held)


def _lanes_pass(order: list[int], at: list[float], lanes: int, service: list[float],
                until: float) -> tuple[list[float], list[float], int]:
    """A first-come station of `lanes` lanes without events: vehicles `order` (in the order
    they reach it) at times `at`; returns (start, finish) per position and the finishes that
    happen by `until` (the events the kernel would have processed)."""
    free = [-math.inf] * lanes  # a heap of the times the lanes become free
    starts, finishes = [0.0] * len(order), [0.0] * len(order)
    done = 0
    for i, v in enumerate(order):
        t = at[i]
        first = free[0]
        start = t if t >= first else first
        finish = start + service[v]
        heapreplace(free, finish)
        starts[i], finishes[i] = start, finish
        if finish <= until:
            done += 1
    return starts, finishes, done


def _calendar_pass(at: list[float], slot_hours: float, capacity: list[int],
                   until: float) -> tuple[list[float], int]:
    """`CalendarGate` without events: vehicles in the order they reach the gate, at times `at`;
    each takes the first unused token at or after max(its arrival, the previous crossing);
    returns the crossing times (inf: never) and the crossings by `until`."""
    L, n = slot_hours, len(capacity)
    nxt = [n] * (n + 1)
    for j in range(n - 1, -1, -1):
        nxt[j] = j if capacity[j] > 0 else nxt[j + 1]
    out = [math.inf] * len(at)
    last = -math.inf  # when the previous vehicle crossed
    j, k = 0, -1  # the token it used: token k of slot j
    done = 0
    ceil = math.ceil
    for i, t in enumerate(at):
        if t <= last:  # it waited: the next token after the previous one
            k += 1
            while k >= capacity[j]:
                j, k = nxt[j + 1], 0
                if j >= n:
                    return out, done  # closed to the end of the table
        else:  # the gate was idle: the first unused token at or after t
            jt = nxt[min(max(int(t // L), 0), n)]
            used = k + 1 if jt == j else 0
            j = jt
            while j < n:
                c = capacity[j]
                k = ceil((t - j * L) / (L / c) - 0.5 - 1e-12)
                if k < used:
                    k = used
                if k < c:
                    break
                j, used = nxt[j + 1], 0
            else:
                return out, done
        last = j * L + (k + 0.5) * (L / capacity[j])
        out[i] = last
        if last <= until:
            done += 1
    return out, done


def _with_initial(fleet: Fleet, initial: list[Initial]) -> Fleet:
    """The drawn fleet plus the vehicles a forecast starts with (appended, in that order)."""
    ready = [ini.arrived if ini.arrived is not None else (ini.eta if ini.eta is not None
             else 0.0) for ini in initial]
    m = len(initial)
    return Fleet(
        np.concatenate([fleet.ready, np.asarray(ready, dtype=np.float64)]),
        np.concatenate([fleet.stream, np.asarray([i.stream for i in initial], dtype=np.int64)]),
        np.concatenate([fleet.travel, np.zeros(m)]),
        np.concatenate([fleet.lateness, np.zeros(m)]),
        np.concatenate([fleet.no_show, np.zeros(m, dtype=bool)]))


def _noop(_: int) -> None:
    return None


def _skip_unless(classes: set[CargoClass], cargo_of_stream: list[CargoClass],
                 stream: list[int], station: Any, nxt: Any) -> Any:
    def route(v: int) -> None:
        if cargo_of_stream[stream[v]] in classes:
            station(v)
        else:
            nxt(v)
    return route
