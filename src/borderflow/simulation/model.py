"""The border model: vehicles from demand and the crossings' capacity from the live capacity
function. One `Model` is built per scenario (capacity tables, rates: deterministic work done
once); each replication draws its vehicles (`draw`) and service times from its own seed, and
`simulation.run.Run` runs a policy on them, so policies are compared on the same trucks.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from borderflow.declarations.cargo import DEFAULT_SHELF_LIFE_HOURS, CargoClass
from borderflow.network.capacity import compute_capacity
from borderflow.network.loader import load_network
from borderflow.network.schemas import Direction, Network, Side
from borderflow.queue.policy import PriorityClass, QueuePolicy
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


def with_initial(fleet: Fleet, initial: list[Initial]) -> Fleet:
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
