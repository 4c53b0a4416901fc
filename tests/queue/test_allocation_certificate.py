"""The optimality certificate (contracted residual graph + Bellman–Ford): it accepts exactly the
plans whose cost equals the LP optimum (HiGHS), and its slot prices are an optimal dual."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderflow.queue.allocation import (
    Assignment,
    Plan,
    allocate_arrays,
    check_plan,
    parse_instance,
    plan_cost,
)
from borderflow.queue.allocation_certificate import certify_arrays
from tests.queue.test_allocation import instances, lp_optimum, to_arrays


def as_plan(instance: Any, slots: list[int]) -> Plan:
    return Plan(
        assignments=[Assignment(vehicle=v.id, gate=instance.slots[k].gate,
                                slot_start=instance.slots[k].start)
                     for v, k in zip(instance.vehicles, slots, strict=True) if k >= 0],
        unassigned=[v.id for v, k in zip(instance.vehicles, slots, strict=True) if k < 0])


def dual_objective(instance: Any, price_s: np.ndarray) -> float:
    """Σ_i min(unassigned cost, min over eligible slots of cost + price) − Σ capacity × price,
    in weight × hours: equals the optimum iff the prices are an optimal dual."""
    end = instance.horizon_end + timedelta(hours=instance.unassigned_penalty_hours)
    hour = timedelta(hours=1)
    price = price_s / 3600
    total = 0.0
    for v in instance.vehicles:
        best = v.weight * ((end - v.ready) / hour)
        for k, s in enumerate(instance.slots):
            if (s.gate in v.gates and s.start >= v.ready
                    and (v.deadline is None or s.start <= v.deadline)):
                best = min(best, v.weight * ((s.start - v.ready) / hour) + price[k])
        total += best
    return total - sum(s.capacity * p for s, p in zip(instance.slots, price, strict=True)
                       if s.capacity)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.randoms(use_true_random=False))
def test_certifies_optimal_plans_and_rejects_worse_ones(data: dict[str, Any], rnd: Any) -> None:
    instance = parse_instance(data)
    arrays = to_arrays(instance)
    optimum = lp_optimum(instance)
    slots = allocate_arrays(**arrays).slot.tolist()
    price = certify_arrays(**arrays, slot=slots)
    assert price is not None
    assert (price >= 0).all() and np.isfinite(price[np.asarray(arrays["slot_capacity"]) > 0]).all()
    assert dual_objective(instance, price) == pytest.approx(optimum, rel=1e-6, abs=1e-6)

    # a random feasible change: unassign some, move some to another free eligible slot
    changed = list(slots)
    for i in rnd.sample(range(len(changed)), min(3, len(changed))):
        changed[i] = -1
    used = [0] * len(instance.slots)
    for k in changed:
        if k >= 0:
            used[k] += 1
    for i, v in enumerate(instance.vehicles):
        if changed[i] < 0 and rnd.random() < 0.5:
            options = [k for k, s in enumerate(instance.slots)
                       if used[k] < s.capacity and s.gate in v.gates and s.start >= v.ready
                       and (v.deadline is None or s.start <= v.deadline)]
            if options:
                changed[i] = rnd.choice(options)
                used[changed[i]] += 1
    plan = as_plan(instance, changed)
    assert check_plan(instance, plan) == []
    verdict = certify_arrays(**arrays, slot=changed)
    cost = plan_cost(instance, plan)
    if verdict is None:
        assert cost > optimum + 1e-9
    else:
        assert cost == pytest.approx(optimum, rel=1e-6, abs=1e-6)


def test_rejects_infeasible_plans_and_inexact_weights() -> None:
    arrays: dict[str, Any] = dict(slot_gate=[0], slot_start=[0], slot_capacity=[1],
                                  vehicle_ready=[0, 0], vehicle_gates=[[True], [True]],
                                  vehicle_weight=[1.0, 2.0], unassigned_at=10)
    with pytest.raises(ValueError, match="over capacity"):
        certify_arrays(**arrays, slot=[0, 0])
    assert certify_arrays(**arrays, slot=[0, -1]) is None  # the heavier one should cross
    assert certify_arrays(**arrays, slot=[-1, 0]) is not None
    with pytest.raises(ValueError, match="decimals"):
        certify_arrays(**(arrays | {"vehicle_weight": [1.0, 0.1234567]}), slot=[-1, 0])
