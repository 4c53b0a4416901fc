"""Benchmark: the optimal re-planning allocator (issue 4).

Target: 50,000 vehicles over 4 gates and 96 hourly slots, exactly optimal, in **< 1 s** of solve
time on this machine.

Run from the repository root (default: about 2–3 minutes, almost all of it HiGHS):

    .venv/bin/python benchmarks/bench_allocate.py [--seeds 1 2 3] [--repeats 7]
        [--weights classes continuous uniform] [--lp aggregated full | --lp]
        [--lp-time-limit SECONDS]

Per seed and weight model a random instance of the issue's shape is built (`instance()`,
independent streams from `SeedSequence(seed)`): ready times over the horizon with a day profile
(some vehicles already waiting at its start), gate subsets (a home gate and 0–3 alternatives),
cargo priority classes with weights {1, 2, 3, 5} ("classes"; "continuous": class weight × a
value factor in [0.8, 1.25], 3 decimals; "uniform": every weight drawn from [0.5, 5] with 6
decimals, i.e. all distinct), perishables (all weight-5 cargo, half of weight-3)
with a deadline = ready + shelf life (6, 12, 24 or 48 h), capacities by gate and hour of day
(Poisson around 85 % of the demand, 3 % of the gate-hours closed), so some stay unassigned. Then:

1. `allocate_arrays` (arrays in, slot per vehicle out: the solve) and `allocate` (validated
   models in, `Plan` of 50,000 pydantic objects out) are timed over `--repeats` runs, wall
   clock (min, median) and CPU time of this process (steadier on a shared machine);
2. the plan is checked with `check_plan` (capacity, gates, ready, deadline, every vehicle
   exactly once), its cost recomputed in floats with `plan_cost`, and its optimality certified
   exactly by `certify_arrays` (no negative cycle in the slot-level residual graph);
3. HiGHS (`highspy`, interior point + crossover, faster than its dual simplex here) solves the
   instance's transportation LP built here, independently of the allocator: `aggregated` has one
   row per class of vehicles with the same weight and the same eligible slot set, one column per
   (class, eligible slot) plus an "unassigned" column per class, a capacity row per slot;
   `full` has one row per vehicle (millions of columns: slow, several GB);
4. costs must agree within 1e-6 relative; the time ratio HiGHS run / allocator median is printed.
   With all-distinct weights the aggregated LP has one row per vehicle and HiGHS may not finish
   within `--lp-time-limit`: then the ratio is a lower bound and optimality rests on the
   certificate.

Exit status 1 if any plan is infeasible, not exact or not certified, any cost disagrees with a
solved LP, or the `allocate_arrays` median is not under 1 s.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any

import highspy
import numpy as np

from borderflow.queue.allocation import (
    US_PER_HOUR,
    AllocationInstance,
    Plan,
    SlotIn,
    VehicleIn,
    allocate,
    allocate_arrays,
    check_plan,
    plan_cost,
)
from borderflow.queue.allocation_certificate import certify_arrays

HANOI = timezone(timedelta(hours=7))
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=HANOI)
GATES = ("huu-nghi", "tan-thanh", "chi-ma", "coc-nam")
GATE_SHARE = np.array([0.40, 0.28, 0.20, 0.12])
HOURS = 96
VEHICLES = 50_000
PENALTY_HOURS = 12.0
CLASS_WEIGHT = np.array([1.0, 2.0, 3.0, 5.0])  # regular, express, chilled, fresh perishable
CLASS_SHARE = np.array([0.60, 0.18, 0.12, 0.10])
SHELF_LIFE_HOURS = np.array([6, 12, 24, 48])
TARGET_S = 1.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_profile(hour: np.ndarray) -> np.ndarray:
    """Relative traffic by hour of day: quiet at night, peak in the late morning."""
    return 0.35 + 0.65 * np.exp(-(((hour % 24) - 11.0) / 4.5) ** 2)


def instance(seed: int, weights: str) -> AllocationInstance:
    arrivals, gates_rng, cargo, capacity_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    # ready times: a day profile over [-3 h, 93 h), minute resolution
    minutes = np.arange(-3 * 60, (HOURS - 3) * 60)
    p = day_profile(minutes / 60.0)
    ready_min = arrivals.choice(minutes, size=VEHICLES, p=p / p.sum())
    # gates: a home gate by share, then 0-3 alternatives
    home = gates_rng.choice(len(GATES), size=VEHICLES, p=GATE_SHARE)
    extra = gates_rng.choice(4, size=VEHICLES, p=[0.40, 0.35, 0.15, 0.10])
    masks = np.zeros((VEHICLES, len(GATES)), dtype=bool)
    masks[np.arange(VEHICLES), home] = True
    for i in np.flatnonzero(extra):
        others = [g for g in range(len(GATES)) if g != home[i]]
        masks[i, gates_rng.choice(others, size=extra[i], replace=False)] = True
    # cargo: priority class, perishables' shelf life
    cls = cargo.choice(len(CLASS_WEIGHT), size=VEHICLES, p=CLASS_SHARE)
    weight = CLASS_WEIGHT[cls]
    if weights == "continuous":
        weight = np.round(weight * cargo.uniform(0.8, 1.25, size=VEHICLES), 3)
    elif weights == "uniform":
        weight = np.round(cargo.uniform(0.5, 5.0, size=VEHICLES), 6)
    perishable = (cls == 3) | ((cls == 2) & (cargo.random(VEHICLES) < 0.5))
    shelf = cargo.choice(SHELF_LIFE_HOURS, size=VEHICLES)
    # capacity: ~85 % of demand, by gate share and hour-of-day profile, some closed hours
    hours = np.arange(HOURS)
    demand_per_hour = VEHICLES / HOURS
    slots = []
    for g, gate in enumerate(GATES):
        profile = day_profile(hours + 0.5)
        rate = 0.85 * demand_per_hour * GATE_SHARE[g] * profile / profile.mean()
        cap = capacity_rng.poisson(rate)
        cap[capacity_rng.random(HOURS) < 0.03] = 0  # closures, maintenance
        slots += [SlotIn(gate=gate, start=T0 + h * timedelta(hours=1), capacity=int(cap[h]))
                  for h in range(HOURS)]
    vehicles = [
        VehicleIn(
            id=f"V{i:06d}", ready=T0 + timedelta(minutes=int(ready_min[i])),
            gates=[GATES[g] for g in np.flatnonzero(masks[i])], weight=float(weight[i]),
            deadline=(T0 + timedelta(minutes=int(ready_min[i]), hours=int(shelf[i]))
                      if perishable[i] else None),
        )
        for i in range(VEHICLES)
    ]
    return AllocationInstance(horizon_end=T0 + timedelta(hours=HOURS),
                              unassigned_penalty_hours=PENALTY_HOURS, slots=slots,
                              vehicles=vehicles)


def us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def arrays(inst: AllocationInstance) -> dict[str, Any]:
    gate_index = {g: k for k, g in enumerate(GATES)}
    v = inst.vehicles
    mask = np.zeros((len(v), len(GATES)), dtype=bool)
    for i, x in enumerate(v):
        mask[i, [gate_index[g] for g in x.gates]] = True
    return dict(
        slot_gate=np.array([gate_index[s.gate] for s in inst.slots]),
        slot_start=np.array([us(s.start) for s in inst.slots]),
        slot_capacity=np.array([s.capacity for s in inst.slots]),
        vehicle_ready=np.array([us(x.ready) for x in v]), vehicle_gates=mask,
        vehicle_weight=np.array([x.weight for x in v]),
        vehicle_deadline=np.array([2**63 - 1 if x.deadline is None else us(x.deadline)
                                   for x in v]),
        unassigned_at=us(inst.horizon_end) + round(inst.unassigned_penalty_hours * US_PER_HOUR),
    )


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, list[float], list[float]]:
    """Result, wall-clock times and CPU times (this process) of `repeats` calls."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return result, wall, cpu


def figures(wall: list[float], cpu: list[float]) -> str:
    return (f"min {min(wall):.3f} s, median {statistics.median(wall):.3f} s "
            f"(CPU min {min(cpu):.3f} s, median {statistics.median(cpu):.3f} s)")


# -- the reference: HiGHS on an LP built here, independently of the allocator -------------------


def solve_lp(rows: list[tuple[int, float, np.ndarray]], start_h: np.ndarray, cap: np.ndarray,
             end_h: float, time_limit: float) -> tuple[float, float, str, int]:
    """min Σ_r w_r (Σ_k start_h[k] x_rk + end_h u_r)  s.t.  Σ_k x_rk + u_r = count_r (one row per
    class or vehicle r, k over its eligible slots), Σ_r x_rk <= cap_k, x, u >= 0; HiGHS IPM with
    crossover (faster than dual simplex here). Returns objective, run time, status, columns."""
    n_rows = len(rows)
    count = np.array([c for c, _, _ in rows], dtype=float)
    weight = np.array([w for _, w, _ in rows])
    lengths = np.array([len(e) for _, _, e in rows])
    row_of = np.repeat(np.arange(n_rows), lengths)
    slot = np.concatenate([e for _, _, e in rows]).astype(np.int64)
    n_cols = n_rows + len(slot)
    highs = highspy.Highs()
    for option, value in (("output_flag", False), ("solver", "ipm"), ("time_limit", time_limit)):
        highs.setOptionValue(option, value)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows + len(cap)
    lp.col_cost_ = np.concatenate([weight * end_h, weight[row_of] * start_h[slot]])
    lp.col_lower_, lp.col_upper_ = np.zeros(n_cols), np.full(n_cols, np.inf)
    lp.row_lower_ = np.concatenate([count, np.zeros(len(cap))])
    lp.row_upper_ = np.concatenate([count, cap])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([np.arange(n_rows), n_rows + 2 * np.arange(len(slot) + 1)])
    pairs = np.column_stack([row_of, n_rows + slot]).reshape(-1)
    lp.a_matrix_.index_ = np.concatenate([np.arange(n_rows), pairs]).astype(np.int32)
    lp.a_matrix_.value_ = np.ones(n_rows + 2 * len(slot))
    highs.passModel(lp)
    started = time.perf_counter()
    highs.run()
    elapsed = time.perf_counter() - started
    status = highs.modelStatusToString(highs.getModelStatus())
    return float(highs.getInfo().objective_function_value), elapsed, status, n_cols


def reference(inst: AllocationInstance, per_vehicle: bool,
              time_limit: float) -> tuple[float, float, str, int]:
    """The instance's LP, either aggregated (rows = classes of vehicles with the same weight
    and the same eligible slot set) or per vehicle; costs in hours from T0, plus the constant
    −Σ weight × ready."""
    start = np.array([us(s.start) for s in inst.slots])
    gate = np.array([s.gate for s in inst.slots])
    by_gate = {g: np.flatnonzero(gate == g) for g in GATES}
    classes: dict[tuple[float, bytes], int] = {}
    rows: list[tuple[int, float, np.ndarray]] = []
    for v in inst.vehicles:
        ready, deadline = us(v.ready), 2**63 - 1 if v.deadline is None else us(v.deadline)
        idx = np.sort(np.concatenate([by_gate[g] for g in v.gates if g in by_gate]))
        idx = idx[(start[idx] >= ready) & (start[idx] <= deadline)].astype(np.int64)
        if per_vehicle:
            rows.append((1, v.weight, idx))
        elif (key := (v.weight, idx.tobytes())) in classes:
            count, w, e = rows[classes[key]]
            rows[classes[key]] = (count + 1, w, e)
        else:
            classes[key] = len(rows)
            rows.append((1, v.weight, idx))
    ref = us(T0)
    end_h = (us(inst.horizon_end) - ref) / US_PER_HOUR + inst.unassigned_penalty_hours
    cost, elapsed, status, n_cols = solve_lp(
        rows, (start - ref) / US_PER_HOUR, np.array([s.capacity for s in inst.slots], dtype=float),
        end_h, time_limit)
    constant = -math.fsum(v.weight * (us(v.ready) - ref) / US_PER_HOUR for v in inst.vehicles)
    return cost + constant, elapsed, status, n_cols


# -- other shapes ----------------------------------------------------------------------------------

SHAPES: dict[str, dict[str, Any]] = {
    "4 gates x 96 hourly slots": {},
    "equal weights": dict(weights="equal"),
    "capacity 150 % of demand": dict(load=0.66),
    "capacity 50 % of demand": dict(load=2.0),
    "a deadline on every vehicle": dict(deadline_share=1.0),
    "every gate eligible": dict(gate_share=1.0),
    "one gate per vehicle": dict(gate_share=0.0),
    "7 days of hourly slots": dict(slots=168),
    "15-minute slots over 96 h": dict(slots=384, slot_seconds=900),
    "12 gates": dict(gates=12, gate_share=0.2),
}


def shaped(seed: int, *, gates: int = 4, slots: int = 96, slot_seconds: int = 3600,
           load: float = 1 / 0.85, weights: str = "uniform", deadline_share: float = 0.2,
           gate_share: float = 0.5) -> dict[str, Any]:
    """Arrays of a simpler generator than `instance()` (uniform ready times and capacities,
    each gate eligible with `gate_share` besides a home gate, 6-decimal weights in [0.5, 5]
    or all 1, deadlines within 48 h for `deadline_share`), for shapes beyond the issue's."""
    rng = np.random.default_rng(seed)
    mask = rng.random((VEHICLES, gates)) < gate_share
    mask[np.arange(VEHICLES), rng.integers(0, gates, VEHICLES)] = True
    horizon = slots * slot_seconds
    ready = rng.integers(-3 * 3600, horizon - 3 * 3600, VEHICLES)
    weight = (np.round(rng.uniform(0.5, 5, VEHICLES), 6) if weights == "uniform"
              else np.ones(VEHICLES))
    deadline = np.where(rng.random(VEHICLES) < deadline_share,
                        ready + rng.integers(0, 48 * 3600, VEHICLES), 2**63 - 1)
    return dict(slot_gate=np.repeat(np.arange(gates), slots),
                slot_start=np.tile(np.arange(slots) * slot_seconds, gates),
                slot_capacity=rng.poisson(VEHICLES / load / (gates * slots), gates * slots),
                vehicle_ready=ready, vehicle_gates=mask, vehicle_weight=weight,
                vehicle_deadline=deadline, unassigned_at=horizon + int(PENALTY_HOURS * 3600))


def run_shapes(seed: int, repeats: int) -> bool:
    print(f"\n== other shapes, 50,000 vehicles, seed {seed} ==", flush=True)
    passed = True
    for name, options in SHAPES.items():
        raw = shaped(seed, **options)
        result, wall, cpu = timed(lambda raw=raw: allocate_arrays(**raw), repeats)
        certified = certify_arrays(**raw, slot=result.slot) is not None
        passed &= certified and result.exact
        print(f"{name:28s} {len(raw['slot_start']):5,} slots  {figures(wall, cpu)}; "
              f"{result.searches:,} searches, {result.settled:,} settled; "
              f"{'certified optimal' if certified else 'NOT OPTIMAL'}", flush=True)
    return passed


# -- the run -------------------------------------------------------------------------------------


def run_case(seed: int, weights: str, repeats: int, lps: list[str], time_limit: float) -> bool:
    print(f"\n== seed {seed}, weights {weights} ==", flush=True)
    inst = instance(seed, weights)
    raw = arrays(inst)
    plan, wall_m, cpu_m = timed(lambda: allocate(inst), repeats)
    result, wall_a, cpu_a = timed(lambda: allocate_arrays(**raw), repeats)
    assert isinstance(plan, Plan)
    problems = check_plan(inst, plan)
    cost = plan_cost(inst, plan)
    cost_arrays = result.cost / US_PER_HOUR
    print(f"vehicles {len(inst.vehicles):,}; slot capacity {sum(s.capacity for s in inst.slots):,}"
          f"; assigned {len(plan.assignments):,}; unassigned {len(plan.unassigned):,}")
    print(f"solver: {result.searches:,} insertions needed a search, {result.settled:,} slots "
          f"settled in all; weight decimals {result.weight_decimals}; exact {result.exact}")
    print(f"feasibility (check_plan): {'ok' if not problems else problems[:5]}")
    print(f"allocate_arrays (solve):   {figures(wall_a, cpu_a)}")
    print(f"allocate (models in/out):  {figures(wall_m, cpu_m)}")
    print(f"allocator cost {cost:,.6f} weight·h (allocate_arrays: {cost_arrays:,.6f})")
    started = time.process_time()
    certified = certify_arrays(**raw, slot=result.slot) is not None
    print(f"dual certificate (no negative cycle in the slot-level residual graph): "
          f"{'optimal' if certified else 'NOT OPTIMAL'}, CPU {time.process_time() - started:.3f} s")
    ok = (not problems and plan.exact and certified
          and math.isclose(cost, cost_arrays, rel_tol=1e-9))
    median = statistics.median(wall_a)
    for kind in lps:
        ref_cost, ref_time, status, n_cols = reference(inst, kind == "full", time_limit)
        if status != "Optimal":  # e.g. the time limit: the certificate stands alone
            print(f"HiGHS {kind} LP: {n_cols:,} columns, {status} after {ref_time:.0f} s: time "
                  f"ratio HiGHS / allocate_arrays median >= {ref_time / median:,.0f}×",
                  flush=True)
            continue
        rel = abs(ref_cost - cost) / max(1.0, abs(ref_cost))
        agree = rel <= 1e-6
        ok &= agree
        print(f"HiGHS {kind} LP: {n_cols:,} columns, {status}, run {ref_time:.2f} s, cost "
              f"{ref_cost:,.6f}, relative difference {rel:.1e} {'ok' if agree else 'DISAGREES'};"
              f" time ratio HiGHS / allocate_arrays median: {ref_time / median:,.0f}×",
              flush=True)
    passed = ok and median < TARGET_S
    print(f"{'PASS' if passed else 'FAIL'}: allocate_arrays median {median:.3f} s vs "
          f"< {TARGET_S:.0f} s; plan feasible and optimal: {ok}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--weights", nargs="+", default=["classes"],
                        choices=["classes", "continuous", "uniform"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lp", nargs="*", default=["aggregated"], choices=["aggregated", "full"],
                        help="HiGHS references to solve (none: --lp with no value)")
    parser.add_argument("--lp-time-limit", type=float, default=1800.0)
    parser.add_argument("--shapes", action="store_true",
                        help="also time other shapes (more slots, gates, deadlines); certified")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
          f"{platform.python_version()}, NumPy {np.__version__}, Numba {version('numba')}, "
          f"highspy {version('highspy')}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    results = [run_case(seed, w, args.repeats, args.lp, args.lp_time_limit)
               for w in args.weights for seed in args.seeds]
    if args.shapes:
        results.append(run_shapes(args.seeds[0], args.repeats))
    print(f"\n{'PASS' if all(results) else 'FAIL'}: {sum(results)}/{len(results)} cases")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
