"""The optimal re-planning allocator (issue 4): feasibility and optimality against an independent
LP solved by HiGHS on the direct (vehicle × eligible slot) formulation, hand-made optima, bad
instance files, the CLI end to end, determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from borderflow.queue.allocate_cli import allocate as allocate_command
from borderflow.queue.allocation import (
    NO_DEADLINE,
    AllocationInstance,
    Assignment,
    InvalidInstance,
    Plan,
    allocate,
    allocate_arrays,
    check_plan,
    parse_instance,
    plan_cost,
)

HANOI = timezone(timedelta(hours=7))
BEIJING = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, 6, 0, tzinfo=HANOI)
HOUR = timedelta(hours=1)
GATES = ("huu-nghi", "tan-thanh", "chi-ma")


# -- an independent reference: the direct LP, one column per (vehicle, eligible slot) -----------


def eligible(vehicle: Any, slot: Any) -> bool:
    return (slot.gate in vehicle.gates and slot.start >= vehicle.ready
            and (vehicle.deadline is None or slot.start <= vehicle.deadline))


def lp_optimum(instance: AllocationInstance) -> float:
    """min Σ w(t − r) x + Σ w(H + P − r) u, Σ_s x_is + u_i = 1, Σ_i x_is <= capacity_s."""
    n = len(instance.vehicles)
    if n == 0:
        return 0.0
    end = instance.horizon_end + timedelta(hours=instance.unassigned_penalty_hours)
    costs: list[float] = []
    rows: list[list[int]] = []
    for i, v in enumerate(instance.vehicles):
        costs.append(v.weight * ((end - v.ready) / HOUR))
        rows.append([i])
        for k, s in enumerate(instance.slots):
            if eligible(v, s):
                costs.append(v.weight * ((s.start - v.ready) / HOUR))
                rows.append([i, n + k])
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("solver", "simplex")
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(costs), n + len(instance.slots)
    lp.col_cost_ = np.array(costs)
    lp.col_lower_, lp.col_upper_ = np.zeros(len(costs)), np.ones(len(costs))
    lp.row_lower_ = np.concatenate([np.ones(n), np.zeros(len(instance.slots))])
    lp.row_upper_ = np.concatenate([np.ones(n), [float(s.capacity) for s in instance.slots]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.cumsum([0] + [len(r) for r in rows]).astype(np.int32)
    lp.a_matrix_.index_ = np.array([k for r in rows for k in r], dtype=np.int32)
    lp.a_matrix_.value_ = np.ones(sum(len(r) for r in rows))
    highs.passModel(lp)
    highs.run()
    assert highs.modelStatusToString(highs.getModelStatus()) == "Optimal"
    return float(highs.getInfo().objective_function_value)


# -- random small instances ----------------------------------------------------------------------


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from([UTC, HANOI, BEIJING]))
    gates = GATES[: draw(st.integers(1, 3))]
    n_slots = draw(st.integers(0, 12))
    slots = [
        {"gate": g, "start": (START + h * HOUR).astimezone(zone).isoformat(),
         "capacity": draw(st.sampled_from([0, 1, 1, 2, 3]))}
        for g in gates for h in sorted(draw(st.sets(st.integers(0, 11), max_size=n_slots)))
    ]
    vehicles = []
    for i in range(draw(st.integers(0, 40))):
        ready = START + timedelta(minutes=draw(st.integers(-90, 13 * 60)))
        mode = draw(st.sampled_from(["none", "none", "binding", "late", "before_ready"]))
        deadline = {
            "none": None,
            "binding": ready + timedelta(minutes=draw(st.integers(0, 5 * 60))),
            "late": ready + timedelta(hours=draw(st.integers(12, 30))),
            "before_ready": ready - timedelta(minutes=draw(st.integers(1, 60))),
        }[mode]
        chosen = draw(st.lists(st.sampled_from([*gates, "coc-nam"]), min_size=1, unique=True))
        vehicles.append({
            "id": f"V{draw(st.integers(0, 10**6)):07d}-{i}",
            "ready": ready.astimezone(zone).isoformat(),
            "gates": chosen,
            "weight": draw(st.sampled_from([1, 2, 3, 5]) | st.integers(0, 5000).map(
                lambda w: w / 1000)),  # priority classes (shared chains) or 3 decimals
            "deadline": None if deadline is None else deadline.isoformat(),
        })
    return {
        "horizon_end": (START + draw(st.integers(8, 14)) * HOUR).isoformat(),
        "unassigned_penalty_hours": draw(st.sampled_from([0, 0.5, 2, 6])),
        "slots": slots,
        "vehicles": vehicles,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_plan_is_feasible_complete_and_equals_the_lp_optimum(data: dict[str, Any]) -> None:
    instance = parse_instance(data)
    plan = allocate(instance)

    capacity = {(s.gate, s.start): s.capacity for s in instance.slots}
    used: dict[tuple[str, datetime], int] = {}
    vehicles = {v.id: v for v in instance.vehicles}
    for a in plan.assignments:
        v = vehicles[a.vehicle]
        assert a.gate in v.gates and (a.gate, a.slot_start) in capacity
        assert a.slot_start >= v.ready
        assert v.deadline is None or a.slot_start <= v.deadline
        used[(a.gate, a.slot_start)] = used.get((a.gate, a.slot_start), 0) + 1
    assert all(n <= capacity[key] for key, n in used.items())
    listed = [a.vehicle for a in plan.assignments] + plan.unassigned
    assert sorted(listed) == sorted(vehicles)  # each vehicle exactly once
    assert check_plan(instance, plan) == []

    assert plan.exact
    optimum = lp_optimum(instance)
    cost = plan_cost(instance, plan)
    assert plan.cost == pytest.approx(cost, rel=1e-9, abs=1e-9)
    assert cost == pytest.approx(optimum, rel=1e-6, abs=1e-6)


def to_arrays(instance: AllocationInstance) -> dict[str, Any]:
    """The instance as `allocate_arrays` takes it: times in seconds since the epoch."""
    gates = sorted({s.gate for s in instance.slots} | {g for v in instance.vehicles
                                                         for g in v.gates})
    end = instance.horizon_end + timedelta(hours=instance.unassigned_penalty_hours)
    return {
        "slot_gate": [gates.index(s.gate) for s in instance.slots],
        "slot_start": [int(s.start.timestamp()) for s in instance.slots],
        "slot_capacity": [s.capacity for s in instance.slots],
        "vehicle_ready": [int(v.ready.timestamp()) for v in instance.vehicles],
        "vehicle_gates": np.array([[g in v.gates for g in gates] for v in instance.vehicles],
                                  dtype=bool).reshape(len(instance.vehicles), len(gates)),
        "vehicle_weight": [v.weight for v in instance.vehicles],
        "vehicle_deadline": [NO_DEADLINE if v.deadline is None else int(v.deadline.timestamp())
                             for v in instance.vehicles],
        "unassigned_at": int(end.timestamp()),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(0, 2**32 - 1))
def test_arrays_with_any_float_weights_give_the_lp_optimum(data: dict[str, Any],
                                                          seed: int) -> None:
    """Weights redrawn as arbitrary floats (rounded to 6 decimals: the exact range)."""
    rng = np.random.default_rng(seed)
    for v in data["vehicles"]:
        v["weight"] = round(float(rng.choice([0.0, 1.0, rng.uniform(0, 10)])), 6)
    instance = parse_instance(data)
    result = allocate_arrays(**to_arrays(instance))
    plan = Plan(
        assignments=[Assignment(vehicle=v.id, gate=instance.slots[k].gate,
                                slot_start=instance.slots[k].start)
                     for v, k in zip(instance.vehicles, result.slot.tolist(), strict=True)
                     if k >= 0],
        unassigned=[v.id for v, k in zip(instance.vehicles, result.slot.tolist(), strict=True)
                    if k < 0])
    assert check_plan(instance, plan) == [] and result.exact
    cost = plan_cost(instance, plan)
    assert result.cost / 3600 == pytest.approx(cost, rel=1e-9, abs=1e-9)
    assert cost == pytest.approx(lp_optimum(instance), rel=1e-6, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(instances())
def test_first_come_first_served_among_interchangeable_vehicles(data: dict[str, Any]) -> None:
    """Same weight, same eligible slots: the one ready first never crosses later, and is never
    left out while the other crosses (ties in ready time: the earlier id)."""
    instance = parse_instance(data)
    plan = allocate(instance)
    end = instance.horizon_end + timedelta(days=365)
    at = {v.id: end for v in instance.vehicles} | {a.vehicle: a.slot_start
                                                   for a in plan.assignments}

    def options(v: Any) -> frozenset[tuple[str, datetime]]:
        return frozenset((s.gate, s.start) for s in instance.slots if s.capacity > 0
                         and eligible(v, s))

    vehicles = sorted(instance.vehicles, key=lambda v: (v.ready, v.id))
    for k, a in enumerate(vehicles):
        for b in vehicles[k + 1:]:
            if a.weight == b.weight and options(a) == options(b):
                assert at[a.id] <= at[b.id], (a.id, b.id)


@settings(max_examples=50, deadline=None)
@given(instances(), st.randoms(use_true_random=False))
def test_same_instance_gives_same_plan_whatever_the_order(data: dict[str, Any], rnd: Any) -> None:
    plan = allocate(parse_instance(data))
    assert allocate(parse_instance(data)) == plan
    shuffled = dict(data, vehicles=rnd.sample(data["vehicles"], len(data["vehicles"])),
                    slots=rnd.sample(data["slots"], len(data["slots"])))
    again = allocate(parse_instance(shuffled))
    assert {(a.vehicle, a.gate, a.slot_start) for a in again.assignments} == {
        (a.vehicle, a.gate, a.slot_start) for a in plan.assignments}
    assert set(again.unassigned) == set(plan.unassigned)


# -- hand-made instances -------------------------------------------------------------------------


def slot(gate: str, hour: int, capacity: int = 1) -> dict[str, Any]:
    return {"gate": gate, "start": (START + hour * HOUR).isoformat(), "capacity": capacity}


def vehicle(vid: str, ready_hour: float, weight: float, gates: tuple[str, ...] = ("huu-nghi",),
            deadline_hour: float | None = None) -> dict[str, Any]:
    return {"id": vid, "ready": (START + ready_hour * HOUR).isoformat(), "gates": list(gates),
            "weight": weight,
            "deadline": (None if deadline_hour is None
                         else (START + deadline_hour * HOUR).isoformat())}


def base(slots: list[dict[str, Any]], vehicles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"horizon_end": (START + 4 * HOUR).isoformat(), "unassigned_penalty_hours": 2,
            "slots": slots, "vehicles": vehicles}


def test_heavier_vehicle_takes_the_earlier_slot() -> None:
    data = base([slot("huu-nghi", 0), slot("huu-nghi", 1)],
                [vehicle("dragon-fruit", 0, 5), vehicle("furniture", 0, 1)])
    plan = allocate(parse_instance(data))
    got = {a.vehicle: a.slot_start for a in plan.assignments}
    assert got == {"dragon-fruit": START, "furniture": START + HOUR}
    assert plan.cost == pytest.approx(1.0)  # 5 × 0 h + 1 × 1 h


def test_deadline_makes_the_perishable_go_first_even_when_lighter() -> None:
    # lychee (weight 1) must cross by hour 0; the steel (weight 3) waits one hour
    data = base([slot("huu-nghi", 0), slot("huu-nghi", 1)],
                [vehicle("lychee", 0, 1, deadline_hour=0.5), vehicle("steel", 0, 3)])
    plan = allocate(parse_instance(data))
    assert {a.vehicle: a.slot_start for a in plan.assignments} == {
        "lychee": START, "steel": START + HOUR}
    assert plan.cost == pytest.approx(3.0)


def test_leaves_out_the_lightest_when_capacity_is_short_and_uses_the_other_gate() -> None:
    data = base([slot("huu-nghi", 0), slot("tan-thanh", 2)],
                [vehicle("a", 0, 2, ("huu-nghi",)), vehicle("b", 0, 1, ("huu-nghi",)),
                 vehicle("c", 0, 4, ("huu-nghi", "tan-thanh"))])
    plan = allocate(parse_instance(data))
    assert {a.vehicle: a.gate for a in plan.assignments} == {"a": "huu-nghi", "c": "tan-thanh"}
    assert plan.unassigned == ["b"]
    assert plan.cost == pytest.approx(4 * 2 + 1 * (4 + 2))


def test_slot_after_horizon_plus_penalty_is_not_worth_taking() -> None:
    data = base([slot("huu-nghi", 7)], [vehicle("a", 0, 1)])  # 7 h > 4 h + 2 h
    plan = allocate(parse_instance(data))
    assert plan.assignments == [] and plan.unassigned == ["a"]


def test_arrays_and_continuous_weights() -> None:
    result = allocate_arrays(
        slot_gate=[0, 0], slot_start=[0, 60], slot_capacity=[1, 1], vehicle_ready=[0, 0, 0],
        vehicle_gates=[[True], [True], [True]], vehicle_weight=[0.1234567, 0.5, 1 / 3],
        vehicle_deadline=None, unassigned_at=240)
    assert result.slot.tolist() == [-1, 0, 1]
    assert not result.exact and result.weight_decimals == 6
    assert result.cost == pytest.approx(0.1234567 * 240 + 60 / 3)


def test_plan_file_has_exactly_the_spec_keys() -> None:
    plan = allocate(parse_instance(base([slot("huu-nghi", 0)], [vehicle("a", 0, 1)])))
    written = json.loads(plan.model_dump_json())
    assert written == {"assignments": [
        {"vehicle": "a", "gate": "huu-nghi", "slot_start": START.isoformat()}], "unassigned": []}
    assert Plan.model_validate(written).assignments == plan.assignments


# -- bad instance files --------------------------------------------------------------------------


def problems_of(data: Any) -> str:
    with pytest.raises(InvalidInstance) as caught:
        parse_instance(data)
    return str(caught.value)


def test_naive_datetime_is_named_with_the_vehicle_id() -> None:
    vehicles = [vehicle(f"V{i:04d}", 0, 1) for i in range(20)]
    vehicles[17]["deadline"] = "2026-03-02T09:00:00"
    message = problems_of(base([slot("huu-nghi", 0)], vehicles))
    assert 'vehicles[17] (id "V0017").deadline: Input should have timezone info' in message
    assert "2026-03-02T09:00:00" in message


def test_duplicate_ids_and_slots_are_named() -> None:
    message = problems_of(base([slot("huu-nghi", 0), slot("huu-nghi", 0)],
                               [vehicle("V1", 0, 1), vehicle("V2", 0, 1), vehicle("V1", 1, 2)]))
    assert 'vehicles[2] (id "V1").id: duplicate of vehicles[0]' in message
    assert 'slots[1] (gate "huu-nghi", start ' in message and "as slots[0]" in message


def test_unknown_fields_negative_capacity_and_bad_values_are_named() -> None:
    data = base([slot("huu-nghi", 0, capacity=-1), slot("chi-ma", 1)], [vehicle("V1", 0, 1)])
    data["vehicles"][0]["colour"] = "red"
    data["slots"][1]["capacity"] = 1.5
    data["priority"] = "high"
    message = problems_of(data)
    assert 'slots[0] (gate "huu-nghi", start ' in message
    assert "capacity: Input should be greater than or equal to 0 (got -1)" in message
    assert 'slots[1] (gate "chi-ma", start' in message and "valid integer" in message
    assert 'vehicles[0] (id "V1").colour: Extra inputs are not permitted' in message
    assert "priority: Extra inputs are not permitted" in message


@pytest.mark.parametrize(("change", "expected"), [
    ({"gates": []}, 'vehicles[0] (id "V1").gates: List should have at least 1 item'),
    ({"gates": ["chi-ma", "chi-ma"]}, "gate 'chi-ma' listed twice"),
    ({"weight": -1}, 'vehicles[0] (id "V1").weight: Input should be greater than or equal to 0'),
    ({"weight": float("nan")}, "weight: Input should be a finite number"),
    ({"ready": "yesterday"}, 'vehicles[0] (id "V1").ready: Input should be a valid datetime'),
])
def test_bad_vehicle_fields(change: dict[str, Any], expected: str) -> None:
    v = vehicle("V1", 0, 1) | change
    assert expected in problems_of(base([slot("huu-nghi", 0)], [v]))


# -- the command ---------------------------------------------------------------------------------


def command_app() -> typer.Typer:
    app = typer.Typer()
    app.command("allocate")(allocate_command)

    @app.callback()
    def main() -> None:
        """borderflow (test harness)."""

    return app


def test_command_writes_the_plan_and_prints_a_summary(tmp_path: Path) -> None:
    source = tmp_path / "instance.json"
    data = base([slot("huu-nghi", 0), slot("huu-nghi", 1)],
                [vehicle("dragon-fruit", 0, 5), vehicle("furniture", 0, 1), vehicle("late", 9, 1)])
    source.write_text(json.dumps(data))
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(command_app(), ["allocate", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text())
    assert check_plan(parse_instance(data), plan) == []
    assert plan.unassigned == ["late"]
    assert plan_cost(parse_instance(data), plan) == pytest.approx(1 + 1 * (4 + 2 - 9))
    for word in ("vehicles", "assigned", "unassigned", "cost", "solve time"):
        assert word in result.stdout


@pytest.mark.parametrize(("content", "expected"), [
    ("{not json", "not valid JSON"),
    (json.dumps(base([slot("huu-nghi", 0)], [vehicle("V1", 0, 1) | {"ready": "2026-03-02"}])),
     'vehicles[0] (id "V1").ready: Input should have timezone info'),
])
def test_command_rejects_a_bad_file_with_exit_code_2(tmp_path: Path, content: str,
                                                     expected: str) -> None:
    source = tmp_path / "instance.json"
    source.write_text(content)
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(command_app(), ["allocate", str(source), "--out", str(out)])
    assert result.exit_code == 2
    assert expected in result.stderr
    assert not out.exists()


def test_command_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = CliRunner().invoke(command_app(),
                                ["allocate", str(missing), "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "nowhere.json" in result.stderr


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["classes", "floats"]))
def test_larger_random_instances_are_certified_optimal(seed: int, weights: str) -> None:
    """Up to 3,000 vehicles over 3 gates × 24 slots (beyond what an LP per example allows):
    the plan is feasible and the independent certificate (no negative cycle in the residual
    graph) proves it optimal."""
    from borderflow.queue.allocation_certificate import certify_arrays

    rng = np.random.default_rng(seed)
    n, gates, hours = int(rng.integers(1, 3000)), 3, 24
    mask = rng.random((n, gates)) < 0.5
    mask[np.arange(n), rng.integers(0, gates, n)] = True
    ready = rng.integers(-3 * 60, hours * 60, n) * 60
    weight = (rng.choice([1.0, 2.0, 3.0, 5.0], n) if weights == "classes"
              else np.round(rng.uniform(0, 6, n), 6))
    deadline = np.where(rng.random(n) < 0.3, ready + rng.integers(0, 12 * 3600, n), NO_DEADLINE)
    arrays: dict[str, Any] = dict(
        slot_gate=np.repeat(np.arange(gates), hours),
        slot_start=np.tile(np.arange(hours) * 3600, gates),
        slot_capacity=rng.poisson(0.8 * n / (gates * hours), gates * hours),
        vehicle_ready=ready, vehicle_gates=mask, vehicle_weight=weight,
        vehicle_deadline=deadline, unassigned_at=(hours + 6) * 3600)
    result = allocate_arrays(**arrays)
    assert result.exact
    held = result.slot[result.slot >= 0]
    assert (np.bincount(held, minlength=gates * hours) <= arrays["slot_capacity"]).all()
    assert certify_arrays(**arrays, slot=result.slot) is not None
