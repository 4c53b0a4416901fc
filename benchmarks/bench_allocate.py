"""Benchmark: the optimal re-planning allocator (issue 4).

Target: 50,000 vehicles over 4 gates and 96 hourly slots, exactly optimal, in **< 1 s** of solve
time on this machine.

Run from the repository root (about 1–3 minutes):

    .venv/bin/python benchmarks/bench_allocate.py [--seeds 1 2 3] [--repeats 5] [--full-lp]

Per seed and weight model, a random instance of the issue's shape is built (`instance()`): ready
times spread over the horizon with a day profile (some vehicles already waiting), gate subsets
(a home gate, often one or more alternatives), cargo priority classes with weights {1, 2, 3, 5}
(or, in the "continuous" model, class weight × a value factor, 3 decimals), perishables with a
deadline = ready + shelf life (6–48 h), capacities by gate and hour of day summing to about 85 %
of the demand, so some vehicles stay unassigned. Then:

1. `allocate(instance)` (validated models in, `Plan` out: everything but JSON parsing) is timed
   over `--repeats` runs (min and median); `allocate_arrays` (arrays in, arrays out) likewise;
2. the plan is checked with `check_plan` (capacity, gates, ready, deadline, every vehicle
   exactly once) and its cost recomputed in floats with `plan_cost`;
3. HiGHS (dual simplex, `highspy`) solves the *aggregated transportation LP* of the same
   instance, built here independently of the allocator: one column per (class of vehicles with
   the same weight and the same eligible slot set, eligible slot) plus an "unassigned" column per
   class, a supply row per class, a capacity row per slot. With `--full-lp` it also solves the
   per-vehicle LP (one column per vehicle × eligible slot; several million columns);
4. costs must agree within 1e-6 relative; the time ratio HiGHS / allocator is printed.

Exit status 1 if any plan is infeasible, any cost disagrees, or a median exceeds 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import highspy
import numpy as np
import ortools

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
    perishable = (cls == 3) | ((cls == 2) & (cargo.random(VEHICLES) < 0.5))
    shelf = cargo.choice(SHELF_LIFE_HOURS, size=VEHICLES)
    # capacity: ~85 % of demand, by gate share and hour-of-day profile, some closed hours
    hours = np.arange(HOURS)
    demand_per_hour = VEHICLES / HOURS
    slots = []
    for g, gate in enumerate(GATES):
        rate = 0.85 * demand_per_hour * GATE_SHARE[g] * day_profile(hours + 0.5) / 0.7
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


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, list[float]]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return result, times


# -- the reference: HiGHS on an LP built here, independently of the allocator -------------------


def eligible_slots(inst: AllocationInstance) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per vehicle, the indices of its eligible slots; slot starts and capacities."""
    start = np.array([us(s.start) for s in inst.slots])
    cap = np.array([s.capacity for s in inst.slots], dtype=float)
    gate = np.array([s.gate for s in inst.slots])
    by_gate = {g: np.flatnonzero(gate == g) for g in GATES}
    result = []
    for v in inst.vehicles:
        ready, deadline = us(v.ready), 2**63 - 1 if v.deadline is None else us(v.deadline)
        idx = np.concatenate([by_gate[g] for g in v.gates if g in by_gate])
        result.append(np.sort(idx[(start[idx] >= ready) & (start[idx] <= deadline)]))
    return result, start, cap


def solve_lp(columns: list[tuple[float, list[int]]], row_lo: np.ndarray, row_hi: np.ndarray,
             col_hi: np.ndarray) -> tuple[float, float, str]:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("solver", "simplex")
    highs.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(columns), len(row_lo)
    lp.col_cost_ = np.array([c for c, _ in columns])
    lp.col_lower_, lp.col_upper_ = np.zeros(len(columns)), col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.cumsum([0] + [len(r) for _, r in columns]).astype(np.int32)
    lp.a_matrix_.index_ = np.array([k for _, r in columns for k in r], dtype=np.int32)
    lp.a_matrix_.value_ = np.ones(len(lp.a_matrix_.index_))
    highs.passModel(lp)
    started = time.perf_counter()
    highs.run()
    elapsed = time.perf_counter() - started
    status = highs.modelStatusToString(highs.getModelStatus())
    return float(highs.getInfo().objective_function_value), elapsed, status


def aggregated_lp(inst: AllocationInstance, elig: list[np.ndarray], start: np.ndarray,
                  cap: np.ndarray) -> tuple[float, float, str, int]:
    """Classes = same weight and same eligible slot set; cost uses slot times, plus the constant
    −Σ w·ready added back."""
    ref = us(T0)  # hours from T0 keep the coefficients small
    end = us(inst.horizon_end) + round(inst.unassigned_penalty_hours * US_PER_HOUR) - ref
    classes: dict[tuple[float, bytes], int] = {}
    for v, e in zip(inst.vehicles, elig, strict=True):
        key = (v.weight, e.tobytes())
        classes[key] = classes.get(key, 0) + 1
    columns: list[tuple[float, list[int]]] = []
    supply = []
    n_cls = len(classes)
    for c, ((w, raw), count) in enumerate(classes.items()):
        supply.append(count)
        columns.append((w * end / US_PER_HOUR, [c]))
        columns += [(w * (start[k] - ref) / US_PER_HOUR, [c, n_cls + int(k)])
                    for k in np.frombuffer(raw, dtype=np.int64)]
    constant = -sum(v.weight * (us(v.ready) - ref) / US_PER_HOUR for v in inst.vehicles)
    row = np.concatenate([np.array(supply, dtype=float), cap])
    lo = np.concatenate([np.array(supply, dtype=float), np.zeros(len(cap))])
    cost, elapsed, status = solve_lp(columns, lo, row, np.full(len(columns), np.inf))
    return cost + constant, elapsed, status, len(columns)


def full_lp(inst: AllocationInstance, elig: list[np.ndarray], start: np.ndarray,
            cap: np.ndarray) -> tuple[float, float, str, int]:
    end = us(inst.horizon_end) + round(inst.unassigned_penalty_hours * US_PER_HOUR)
    n = len(inst.vehicles)
    columns: list[tuple[float, list[int]]] = []
    for i, (v, e) in enumerate(zip(inst.vehicles, elig, strict=True)):
        r = us(v.ready)
        columns.append((v.weight * (end - r) / US_PER_HOUR, [i]))
        columns += [(v.weight * (start[k] - r) / US_PER_HOUR, [i, n + int(k)]) for k in e]
    lo = np.concatenate([np.ones(n), np.zeros(len(cap))])
    hi = np.concatenate([np.ones(n), cap])
    cost, elapsed, status = solve_lp(columns, lo, hi, np.ones(len(columns)))
    return cost, elapsed, status, len(columns)


# -- the run -------------------------------------------------------------------------------------


def run_case(seed: int, weights: str, repeats: int, with_full_lp: bool) -> bool:
    print(f"\n== seed {seed}, weights {weights} ==")
    inst = instance(seed, weights)
    raw = arrays(inst)
    plan, t_models = timed(lambda: allocate(inst), repeats)
    result, t_arrays = timed(lambda: allocate_arrays(**raw), repeats)
    assert isinstance(plan, Plan)
    problems = check_plan(inst, plan)
    cost = plan_cost(inst, plan)
    same = np.array_equal(result.slot >= 0, np.isin(
        np.array([v.id for v in inst.vehicles]), [a.vehicle for a in plan.assignments]))
    print(f"vehicles {len(inst.vehicles):,}, slot capacity {sum(s.capacity for s in inst.slots):,}"
          f", assigned {len(plan.assignments):,}, unassigned {len(plan.unassigned):,}")
    print(f"flow network: {result.classes:,} classes, {result.nodes:,} nodes, {result.arcs:,} "
          f"arcs; weight decimals {result.weight_decimals}, exact {result.exact}")
    print(f"feasibility: {'ok' if not problems else problems[:5]}; arrays agree with models: "
          f"{same}")
    med_m, med_a = statistics.median(t_models), statistics.median(t_arrays)
    print(f"allocate (models):       min {min(t_models):.3f} s, median {med_m:.3f} s")
    print(f"allocate_arrays:         min {min(t_arrays):.3f} s, median {med_a:.3f} s")
    print(f"allocator cost           {cost:,.6f} weight·h (reported {plan.cost:,.6f})")
    elig, start, cap = eligible_slots(inst)
    ok = not problems and same and plan.exact
    refs = [("aggregated LP", aggregated_lp)] + ([("per-vehicle LP", full_lp)]
                                                if with_full_lp else [])
    for name, build in refs:
        started = time.perf_counter()
        ref_cost, ref_time, status, n_cols = build(inst, elig, start, cap)
        total = time.perf_counter() - started
        rel = abs(ref_cost - cost) / max(1.0, abs(ref_cost))
        agree = status == "Optimal" and rel <= 1e-6
        ok &= agree
        print(f"HiGHS {name}: {n_cols:,} columns, status {status}, solve {ref_time:.3f} s "
              f"(with building {total:.1f} s), cost {ref_cost:,.6f}, relative gap {rel:.1e} "
              f"{'ok' if agree else 'DISAGREES'}; ratio HiGHS / allocate {ref_time / med_m:.0f}×")
    passed = ok and med_m < TARGET_S
    print(f"{'PASS' if passed else 'FAIL'}: median {med_m:.3f} s vs < {TARGET_S:.0f} s target")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--weights", nargs="+", default=["classes", "continuous"],
                        choices=["classes", "continuous"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full-lp", action="store_true",
                        help="also solve the per-vehicle LP with HiGHS (slow, several GB)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
          f"{platform.python_version()}, NumPy {np.__version__}, OR-Tools {ortools.__version__},"
          f" HiGHS {highspy.Highs().version()}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results = [run_case(seed, w, args.repeats, args.full_lp)
               for w in args.weights for seed in args.seeds]
    print(f"\n{'PASS' if all(results) else 'FAIL'}: {sum(results)}/{len(results)} cases")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
