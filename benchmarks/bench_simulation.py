"""Benchmark: the what-if simulation engine against an equivalent SimPy model (issue #5).

Aims: the engine simulates ≥ 10× as many vehicles per second as an equivalent SimPy model, and
a 30-day Lang Son season of ≥ 100,000 vehicles runs in under 5 s on this machine.

Run from the repository root:

    .venv/bin/python benchmarks/bench_simulation.py [--repeats N] [--quick] [--profile]

Cases, each run under the FIFO policy in the engine (`borderflow.simulation.run.Run`) and in a
SimPy model of the same system, in the same process:

1. `mmc-200k`: the shipped `mmc` scenario (one always-open M/M/3 gate, ρ = 0.8) made faster and
   busier (λ = 24/h, mean service 6 min) over 365 days: ≈ 210,000 vehicles.
2. `season-100k`: `benchmarks/season-100k.toml`, a synthetic 30-day Lang Son season (August
   2025) of ≈ 104,000 vehicles over five crossings, export and import, customs (lognormal,
   channels) and fruit quarantine, gates on the live capacity function; demand is about twice
   today's real volumes and capacity is scaled ×2.2 to match (see the file).

The SimPy model takes the engine model's own draw (`Model.draw` for arrivals, lateness and
no-shows; `Model.service_times` per stage, in `Run._build_stations`'s order), so both simulate
identical trucks and service times. Its stations are `simpy.Resource(capacity=lanes)` (FIFO);
the calendar gate is a SimPy process reading vehicles from a `simpy.Store`: slot `j` of
`model.tables[key].capacity` has `c` tokens at `j·L + (k + ½)·L/c`, a token nobody waits for is
lost, vehicles cross first-come. Results must agree — the same vehicles crossed, each at the
same time (within 1e-6 h), and the same hourly yard occupancy — or the script exits 1.

On the season the engine alone is also timed under the `booked` and `borderflow` policies, and
`simulate(...)` (model build: network, capacity tables; the draw; the run; the figures) is
timed end to end for `fifo`, as `borderflow simulate` would run it with one worker.

Timed region, engine: `Run(model, policy, fleet, rngs).run()` (station set-up including the
service-time draws, then the run); SimPy: the same service-time draws, building the model and
`env.run`. The fleet draw (`Model.draw`) is outside both. Wall time is `time.perf_counter`
(min and median over the repeats); CPU is `time.process_time` (min), steadier on a shared
machine. Figures are printed; `docs/benchmarks.md` records a run. Exit status 1 if the engine
and SimPy disagree; an aim missed is reported (MISSED) without failing the run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import simpy

from borderflow.simulation import runner
from borderflow.simulation.model import Fleet, Model
from borderflow.simulation.run import Run, RunOutcome
from borderflow.simulation.runner import simulate
from borderflow.simulation.scenario import (
    Demand,
    Dist,
    Gate,
    PolicyName,
    Scenario,
    Stage,
    load_scenario,
)

HERE = Path(__file__).resolve().parent
SEASON_FILE = HERE / "season-100k.toml"
SPEED_AIM = 10.0  # engine vehicles/s ÷ SimPy vehicles/s
SEASON_VEHICLES_AIM = 100_000
SEASON_SECONDS_AIM = 5.0
TOLERANCE_H = 1e-6
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def mmc_scenario(days: float) -> Scenario:
    """The shipped M/M/3 check, busier: λ = 24/h, μ = 10/h per lane (ρ = 0.8 as shipped)."""
    base = load_scenario("mmc")
    gate_id = base.demand[0].crossings[0]
    setup = base.crossings[gate_id]
    gate = Gate(lanes=3, service=Dist(kind="exponential", mean_minutes=6))
    demand: Demand = base.demand[0].model_copy(update={"per_day": 576.0})
    return base.model_copy(update={
        "name": "bench-mmc-200k", "days": days, "warmup_days": 0, "demand": [demand],
        "crossings": {gate_id: setup.model_copy(update={"gate": gate})}})


def season_scenario(days: float | None) -> Scenario:
    scenario = load_scenario(str(SEASON_FILE))
    return scenario if days is None else scenario.model_copy(update={"days": days})


# --------------------------------------------------------------------------------------------
# The reference: the same system in SimPy (FIFO policy)
# --------------------------------------------------------------------------------------------


@dataclass
class SimpyOutcome:
    crossed: list[float]
    yard: dict[str, list[int]]
    events: int  # events SimPy scheduled


class SimpyCalendarGate:
    """The crossing's calendar as a SimPy process: tokens from the capacity table, one vehicle
    per token, first-come; a token nobody waits for is lost."""

    def __init__(self, env: simpy.Environment, slot_hours: float, capacity: Sequence[int],
                 on_cross: Callable[[int], None]) -> None:
        self.env = env
        self.L = slot_hours
        self.capacity = list(capacity)
        self.line: simpy.Store = simpy.Store(env)
        self.on_cross = on_cross
        self.j = 0  # the next token not yet used or lost: token k of slot j
        self.k = 0
        env.process(self.run())

    def next_token(self, now: float) -> float | None:
        """The first token at or after `now` (earlier ones are lost), or None: closed to the
        end of the table."""
        L, cap, n = self.L, self.capacity, len(self.capacity)
        if self.j < n and (self.j + 1) * L <= now:  # the whole slot is past: skip to now
            self.j, self.k = max(self.j + 1, int(now // L)), 0
        while self.j < n:
            c = cap[self.j]
            while self.k < c:
                at = self.j * L + (self.k + 0.5) * (L / c)
                if at >= now:
                    return at
                self.k += 1
            self.j, self.k = self.j + 1, 0
        return None

    def run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            v = yield self.line.get()  # the first in line (waits for one if none)
            at = self.next_token(env.now)
            if at is None:
                return
            yield env.timeout(at - env.now)
            self.k += 1
            self.on_cross(v)


def simpy_fifo(model: Model, fleet: Fleet, rngs: dict[str, np.random.Generator]) -> SimpyOutcome:
    """The border model under the FIFO policy, written as a process-based SimPy model."""
    scenario = model.scenario
    n = len(fleet)
    ready, travel = fleet.ready.tolist(), fleet.travel.tolist()
    lateness, no_show = fleet.lateness.tolist(), fleet.no_show.tolist()
    stream = fleet.stream.tolist()
    cargo = [model.streams[s].cargo for s in stream]
    key_of = [model.streams[s].keys[0] for s in stream]  # FIFO: the preferred crossing
    crossing_ids = model.crossing_ids
    crossing_index = {c: i for i, c in enumerate(crossing_ids)}

    # Arrivals: trucks leave when loaded and reach the border after travel and lateness.
    arrival: list[float] = []
    coming: list[int] = []
    for v in range(n):
        if no_show[v]:
            continue
        depart = ready[v] - travel[v]
        arrival.append(max(depart + travel[v] + lateness[v], depart))
        coming.append(v)
    start = min(0.0, min(arrival, default=0.0))
    env = simpy.Environment(initial_time=start)
    crossed = [math.nan] * n
    occupancy = [0] * len(crossing_ids)

    def cross(v: int) -> None:
        crossed[v] = env.now
        occupancy[crossing_index[key_of[v].split("/")[0]]] -= 1

    # Stations per crossing and direction, service times drawn in Run._build_stations's order
    # (for each key: a lanes gate's times first, then the stages from last to first).
    Step = tuple[simpy.Resource, list[float], set[Any] | None]
    steps: dict[str, list[Step]] = {}
    lanes_gate: dict[str, tuple[simpy.Resource, list[float]]] = {}
    calendar: dict[str, SimpyCalendarGate] = {}
    for key in model.keys:
        crossing_id = key.split("/")[0]
        setup = scenario.crossings.get(crossing_id)
        if setup is not None and setup.gate.lanes is not None:
            assert setup.gate.service is not None
            gate_stage = Stage(name="gate", lanes=setup.gate.lanes, service=setup.gate.service)
            times = model.service_times(gate_stage, fleet, rngs["service"], rngs["channels"])
            lanes_gate[key] = (simpy.Resource(env, capacity=setup.gate.lanes), times)
        else:
            calendar[key] = SimpyCalendarGate(env, model.L,
                                              model.tables[key].capacity.tolist(), cross)
        chain: list[Step] = []
        for stage in reversed(setup.stages if setup else []):
            times = model.service_times(stage, fleet, rngs["service"], rngs["channels"])
            classes = set(stage.applies_to) if stage.applies_to is not None else None
            chain.append((simpy.Resource(env, capacity=stage.lanes), times, classes))
        steps[key] = chain[::-1]

    def vehicle(v: int) -> Generator[simpy.Event, Any, None]:
        key = key_of[v]
        occupancy[crossing_index[key.split("/")[0]]] += 1
        for lanes, times, classes in steps[key]:
            if classes is not None and cargo[v] not in classes:
                continue
            with lanes.request() as req:
                yield req
                yield env.timeout(times[v])
        if key in lanes_gate:
            lanes, times = lanes_gate[key]
            with lanes.request() as req:
                yield req
                cross(v)  # crossing = the gate lane takes the vehicle
                yield env.timeout(times[v])
        else:
            calendar[key].line.put(v)

    def source() -> Generator[simpy.Event, Any, None]:
        for i in sorted(range(len(coming)), key=arrival.__getitem__):
            yield env.timeout(arrival[i] - env.now)
            env.process(vehicle(coming[i]))

    yard: dict[str, list[int]] = {c: [] for c in crossing_ids}

    def sample() -> None:
        for c, crossing_id in enumerate(crossing_ids):
            yard[crossing_id].append(occupancy[c])

    last_hour = math.ceil(model.hours)

    def sampler() -> Generator[simpy.Event, Any, None]:
        for h in range(last_hour + 1):
            yield env.timeout(h - env.now)
            sample()

    env.process(source())
    env.process(sampler())
    env.run(until=model.hours)
    for h in range(len(yard[crossing_ids[0]]), last_hour + 1):  # at `until` itself
        if h <= model.hours:
            sample()
    return SimpyOutcome(crossed, yard, next(env._eid))


# --------------------------------------------------------------------------------------------
# Timing and comparison
# --------------------------------------------------------------------------------------------


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]

    @property
    def best(self) -> float:
        return min(self.wall)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


def timed(fn: Callable[[], T], repeats: int) -> tuple[Timing, T]:
    """Run `fn` `repeats` times (at least once): wall and CPU times, and the last result."""
    wall, cpu = [], []
    result: T | None = None
    for _ in range(max(1, repeats)):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert result is not None
    return Timing(wall, cpu), result


def time_engine(model: Model, policy: PolicyName, repeats: int) -> tuple[Timing, int, RunOutcome]:
    wall, cpu = [], []
    out: RunOutcome | None = None
    n = 0
    for _ in range(max(1, repeats)):
        rngs = model.rngs(model.scenario.seed, 0)
        fleet = model.draw(rngs)
        c0, t0 = time.process_time(), time.perf_counter()
        out = Run(model, policy, fleet, rngs).run()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n = len(fleet)
    assert out is not None
    return Timing(wall, cpu), n, out


def time_simpy(model: Model, repeats: int) -> tuple[Timing, SimpyOutcome]:
    wall, cpu = [], []
    out: SimpyOutcome | None = None
    for _ in range(max(1, repeats)):
        rngs = model.rngs(model.scenario.seed, 0)
        fleet = model.draw(rngs)
        c0, t0 = time.process_time(), time.perf_counter()
        out = simpy_fifo(model, fleet, rngs)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert out is not None
    return Timing(wall, cpu), out


def disagreements(model: Model, mine: RunOutcome, ref: SimpyOutcome) -> tuple[list[str], str]:
    """Differences between the engine's and SimPy's results, and a one-line summary."""
    a = np.asarray(mine.crossed, dtype=np.float64)
    b = np.asarray(ref.crossed, dtype=np.float64)
    out: list[str] = []
    if len(a) != len(b):
        return [f"vehicles: engine {len(a)}, SimPy {len(b)}"], "vehicle counts differ"
    na, nb = int((~np.isnan(a)).sum()), int((~np.isnan(b)).sum())
    if na != nb:
        out.append(f"crossed: engine {na}, SimPy {nb}")
    both = ~np.isnan(a) & ~np.isnan(b)
    only = np.flatnonzero(np.isnan(a) != np.isnan(b))
    for v in only[:5]:
        out.append(f"vehicle {v}: engine crossed at {a[v]:.9f} h, SimPy at {b[v]:.9f} h")
    diff = np.abs(a[both] - b[both])
    worst = float(diff.max()) if len(diff) else 0.0
    bad = np.flatnonzero(both)[diff > TOLERANCE_H]
    for v in bad[:5]:
        out.append(f"vehicle {v}: engine crossed at {a[v]:.9f} h, SimPy at {b[v]:.9f} h")
    if len(bad) > 5:
        out.append(f"{len(bad) - 5} more vehicles cross at different times")
    for crossing_id in model.crossing_ids:
        if mine.series["yard"].get(crossing_id, []) != ref.yard[crossing_id]:
            out.append(f"hourly yard occupancy at {crossing_id} differs")
    exact = int((diff == 0).sum())
    summary = (f"{na:,} of {len(a):,} crossed in both; crossing times: {exact:,} identical, "
               f"max |Δ| {worst:.1e} h; hourly yard occupancy identical"
               if not out else "DIFFERENT")
    return out, summary


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    engine: str
    vehicles: int
    crossed: int
    events: int
    timing: Timing

    @property
    def rate(self) -> float:
        return self.vehicles / self.timing.best


def s(seconds: float) -> str:
    return f"{seconds:7.2f} s"


def print_rows(rows: list[Row]) -> None:
    header = (f"{'case':<12} {'engine':<22} {'vehicles':>9} {'crossed':>9} {'events':>10} | "
              f"{'wall min':>9} {'median':>9} {'CPU min':>9} | {'veh/s (min)':>11} "
              f"{'veh/s (med)':>11}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r.case:<12} {r.engine:<22} {r.vehicles:>9,} {r.crossed:>9,} {r.events:>10,} | "
              f"{s(r.timing.best):>9} {s(r.timing.median):>9} {s(min(r.timing.cpu)):>9} | "
              f"{r.rate:>11,.0f} {r.vehicles / r.timing.median:>11,.0f}")


def profile(model: Model, policy: PolicyName, top: int) -> str:
    rngs = model.rngs(model.scenario.seed, 0)
    fleet = model.draw(rngs)
    prof = cProfile.Profile()
    prof.enable()
    Run(model, policy, fleet, rngs).run()
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start:])


def crossed_count(out: RunOutcome) -> int:
    return sum(1 for t in out.crossed if not math.isnan(t))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--quick", action="store_true",
                        help="short horizons (mmc 30 days, season 5 days), one repeat: a smoke "
                             "test of the agreement check; the aims are not judged")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile the engine on the season, each policy")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats

    print("Simulation benchmark: borderflow's engine vs an equivalent SimPy model (FIFO)")
    print(f"  python  {platform.python_version()}  numpy {np.__version__}  simpy "
          f"{simpy.__version__}  cpus {len(os.sched_getaffinity(0))}  "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  machine {platform.machine()} {platform.platform()}")
    print(f"  repeats {repeats}{' (quick)' if args.quick else ''}")
    print()

    failures: list[str] = []
    rows: list[Row] = []
    ratios: list[tuple[str, float, float, float]] = []
    checks: list[str] = []

    # The season first, so that `simulate`'s first call is cold (network file, calendars).
    season = season_scenario(5 if args.quick else None)
    runner._MODELS.clear()
    t_cold = time.perf_counter()
    first = simulate(season, policies=[PolicyName.fifo], replications=1, workers=1)
    t_cold = time.perf_counter() - t_cold

    def simulate_warm() -> dict[str, Any]:
        runner._MODELS.clear()  # rebuild the model (capacity tables) every time
        return simulate(season, policies=[PolicyName.fifo], replications=1, workers=1)

    sim_timing, result = timed(simulate_warm, repeats)
    build_timing, model = timed(lambda: Model(season), repeats)
    season_vehicles = int(result["overall"]["vehicles"])
    if first["overall"] != result["overall"]:
        failures.append("season: simulate(...) gave different figures on a second call")

    cases: list[tuple[str, Model]] = [("season-100k", model),
                                      ("mmc-200k", Model(mmc_scenario(30 if args.quick
                                                                     else 365)))]
    engine_fifo: dict[str, Row] = {}
    for name, m in cases:
        print(f"{name}: running the engine and SimPy ({repeats} repeat(s) each) …", flush=True)
        e_timing, n, out = time_engine(m, PolicyName.fifo, repeats)
        r_timing, ref = time_simpy(m, repeats)
        bad, summary = disagreements(m, out, ref)
        failures += [f"{name}: {line}" for line in bad]
        checks.append(f"{name}: {summary}")
        row = Row(name, "borderflow engine", n, crossed_count(out), out.events, e_timing)
        rows.append(row)
        engine_fifo[name] = row
        rows.append(Row(name, "SimPy (events sched.)", n,
                        sum(1 for t in ref.crossed if not math.isnan(t)), ref.events, r_timing))
        ratios.append((name, r_timing.best / e_timing.best, r_timing.median / e_timing.median,
                       min(r_timing.cpu) / min(e_timing.cpu)))

    for policy in (PolicyName.booked, PolicyName.borderflow):
        print(f"season-100k: engine alone, {policy.value} …", flush=True)
        t, n, out = time_engine(model, policy, repeats)
        rows.append(Row("season-100k", f"engine, {policy.value}", n, crossed_count(out),
                        out.events, t))
    print()

    print_rows(rows)
    print()
    print("vehicles = the fleet drawn (no-shows included, they never reach the border);")
    print("events = events the engine processed (for SimPy: events it scheduled, which includes")
    print("the run's end); veh/s = vehicles / wall time. Engine: Run(...).run(); SimPy: the same")
    print("service-time draws, building the model and env.run(); the fleet draw is outside both.")
    print()
    print(f"{'case':<12} {'speed-up, wall min':>19} {'wall median':>12} {'CPU min':>8}   "
          f"aim ≥ {SPEED_AIM:g}×")
    for name, best, med, cpu in ratios:
        print(f"{name:<12} {best:>18.1f}× {med:>11.1f}× {cpu:>7.1f}×   "
              f"{'met' if best >= SPEED_AIM else 'NOT met'}")
    print()
    season_run = engine_fifo["season-100k"].timing
    print(f"season-100k, fifo: {season_vehicles:,} vehicles over {season.days:g} days")
    print(f"  simulate(...) end to end, first call (cold: network, calendars): {s(t_cold)}")
    print(f"  simulate(...) with the model rebuilt: wall min {s(sim_timing.best).strip()}, "
          f"median {s(sim_timing.median).strip()}, CPU min {s(min(sim_timing.cpu)).strip()}")
    print(f"  of which the model build (Model(...)): wall min {s(build_timing.best).strip()}, "
          f"median {s(build_timing.median).strip()}, CPU min {s(min(build_timing.cpu)).strip()}")
    print(f"  the run alone (Run(...).run()): wall min {s(season_run.best).strip()}, "
          f"median {s(season_run.median).strip()}, CPU min {s(min(season_run.cpu)).strip()}")
    print()
    for line in checks:
        print("agreement  " + line)
    print()
    if args.profile:
        for policy in PolicyName:
            print(f"cProfile, engine, season-100k, {policy.value} (by own time):")
            print(profile(model, policy, 15))
            print()
    if failures:
        print("RESULTS DISAGREE:")
        for line in failures:
            print("  " + line)
        print("FAIL: the engine and SimPy differ")
        return 1
    print(f"results: the engine and SimPy agree (same vehicles crossed, crossing times within "
          f"{TOLERANCE_H:g} h, same hourly yard occupancy)")
    if args.quick:
        print("quick run: the aims are not judged")
        return 0
    speed_ok = all(best >= SPEED_AIM for _, best, _, _ in ratios)
    season_ok = (season_vehicles >= SEASON_VEHICLES_AIM
                 and sim_timing.best < SEASON_SECONDS_AIM)
    worst = min(best for _, best, _, _ in ratios)
    print(f"{'PASS' if speed_ok else 'MISSED'}: speed-up vs SimPy {worst:.1f}× at worst (min "
          f"wall times) vs aim ≥ {SPEED_AIM:g}×")
    print(f"{'PASS' if season_ok else 'MISSED'}: 30-day season of {season_vehicles:,} vehicles, "
          f"simulate(...) {sim_timing.best:.2f} s (min; median {sim_timing.median:.2f} s) vs aim "
          f"< {SEASON_SECONDS_AIM:g} s for ≥ {SEASON_VEHICLES_AIM:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
