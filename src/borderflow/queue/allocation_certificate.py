"""An exact optimality certificate for allocator plans, independent of the solver (issue 4).

A plan is optimal iff its residual network has no negative cycle. Every path through a vehicle
node goes slot j → vehicle i (at j) → slot k (or unassigned), so the residual network contracts
to the slots plus one node T (the sink, where unassigned vehicles sit): edge j → k costs
min over vehicles i at j eligible for k of w_i (t_k − t_j) (the lightest one if t_k >= t_j, the
heaviest if earlier), j → T costs 0 if j has spare capacity, else min_i w_i (U − t_j);
T → k costs 0 if k is used and max over unassigned i eligible for k of w_i (t_k − U). A path
through the contracted graph is a walk in the residual network with the same cost, so the plan
is optimal iff this graph of at most (slots + 1) nodes has no negative cycle; Bellman–Ford
then gives distances d and the slot prices β_j = max(0, d_T − d_j) are an optimal dual
solution. The graph is built from per-slot, per-gate minimum and maximum weights over vehicles'
first and last eligible slots (O(vehicles + slots²)); integer arithmetic throughout, so the
verdict is exact for weights with at most `MAX_WEIGHT_DECIMALS` decimals.

At 50,000 vehicles over 4 × 96 slots this takes tens of milliseconds, against minutes for an LP
solver: it is the building block for sparse / column-generation solves (solve a restricted
network, then certify against all arcs) and a cheap audit of any plan.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from borderflow.queue.allocation import NO_DEADLINE, _weight_decimals, slot_grid

IntArray = npt.NDArray[np.int64]
_INF = np.int64(2**61)
_BIG = np.int64(2**62)


def certify_arrays(
    *,
    slot_gate: npt.ArrayLike,
    slot_start: npt.ArrayLike,
    slot_capacity: npt.ArrayLike,
    vehicle_ready: npt.ArrayLike,
    vehicle_gates: npt.ArrayLike,
    vehicle_weight: npt.ArrayLike,
    vehicle_deadline: npt.ArrayLike | None = None,
    unassigned_at: int,
    slot: npt.ArrayLike,
) -> npt.NDArray[np.float64] | None:
    """Slot prices (weight × time unit, per slot; inf for capacity 0) proving the plan `slot`
    (per vehicle: slot index or -1, as `ArrayAllocation.slot`) optimal, or None if a cheaper
    plan exists. Arrays as
    for `allocate_arrays`. ValueError if the plan is infeasible or the weights need more than
    `MAX_WEIGHT_DECIMALS` decimals (no exact integer costs)."""
    s_gate, s_start, s_cap, ready, plan = (np.asarray(a, dtype=np.int64) for a in (
        slot_gate, slot_start, slot_capacity, vehicle_ready, slot))
    mask = np.asarray(vehicle_gates, dtype=bool)
    weight = np.asarray(vehicle_weight, dtype=np.float64)
    n, n_slots = len(ready), len(s_start)
    deadline = (np.full(n, NO_DEADLINE, dtype=np.int64) if vehicle_deadline is None
                else np.asarray(vehicle_deadline, dtype=np.int64))
    if mask.ndim != 2 or mask.shape[0] != n or plan.shape != (n,):
        raise ValueError("vehicle arrays and the plan need one entry per vehicle")
    decimals, exact = _weight_decimals(weight)
    if not exact:
        raise ValueError("weights need more than 6 decimals: no exact certificate")
    w = np.rint(weight * 10.0**decimals).astype(np.int64)
    on = plan >= 0
    at = plan[on]
    if ((plan < -1) | (plan >= n_slots)).any():
        raise ValueError("plan: slot index out of range")
    if on.any() and not (mask[on, s_gate[at]].all() and (s_start[at] >= ready[on]).all()
                         and (s_start[at] <= deadline[on]).all()):
        raise ValueError("plan: a vehicle holds a slot it is not eligible for")
    used_all = np.bincount(at, minlength=n_slots)
    if (used_all > s_cap).any():
        raise ValueError("plan: a slot over capacity")

    # slots worth having (as the allocator): capacity > 0 and not after unassigned_at; a plan
    # may not use the others (capacity 0; later ones are never better than unassigned)
    late = np.append(s_start, unassigned_at)[plan] > unassigned_at
    if (late & (w > 0)).any():  # unassigning such a vehicle saves cost
        return None
    n_gates = mask.shape[1]
    kept, bounds, unit, times, u = slot_grid(s_gate, s_start, s_cap, unassigned_at, n_gates)
    size = len(kept)
    if int(w.max(initial=0)) * max(u, int(times.max(initial=0)), 1) * (size + 2) >= _INF:
        raise ValueError("times and weights span too wide a range for exact integer costs")
    local = np.full(n_slots + 1, -1, dtype=np.int64)  # the last entry: unassigned
    local[kept] = np.arange(size)
    j_of = np.where(late, -1, local[plan])  # late ones weigh 0

    graph = np.full((size + 1, size + 1), _INF, dtype=np.int64)  # node `size` is T
    held = np.flatnonzero(j_of >= 0)
    free = np.flatnonzero(j_of < 0)
    for g in range(n_gates):
        lo_g, hi_g = int(bounds[g]), int(bounds[g + 1])
        m = hi_g - lo_g
        if m == 0:
            continue
        gate_times = s_start[kept[lo_g:hi_g]]
        first = np.searchsorted(gate_times, ready, side="left")
        last = np.searchsorted(gate_times, deadline, side="right") - 1
        ok = mask[:, g] & (first <= last)
        # vehicles held at j: the lightest by last eligible position, the heaviest by first
        h = held[ok[held]]
        lightest = np.full((size, m), _BIG, dtype=np.int64)
        np.minimum.at(lightest, (j_of[h], last[h]), w[h])
        lightest = np.minimum.accumulate(lightest[:, ::-1], axis=1)[:, ::-1]
        heaviest = np.full((size, m), -1, dtype=np.int64)
        np.maximum.at(heaviest, (j_of[h], first[h]), w[h])
        heaviest = np.maximum.accumulate(heaviest, axis=1)
        step = times[lo_g:hi_g][None, :] - times[:, None]
        graph[:size, lo_g:hi_g] = np.where(
            step >= 0, np.where(lightest < _BIG, step * lightest, _INF),
            np.where(heaviest >= 0, step * heaviest, _INF))
        # unassigned vehicles: the heaviest with first <= k <= last
        f = free[ok[free]]
        table = np.full((m, m), -1, dtype=np.int64)
        np.maximum.at(table, (first[f], last[f]), w[f])
        table = np.maximum.accumulate(table, axis=0)
        table = np.maximum.accumulate(table[:, ::-1], axis=1)[:, ::-1]
        best = np.diagonal(table)
        graph[size, lo_g:hi_g] = np.where(best >= 0, best * (times[lo_g:hi_g] - u), _INF)
    np.fill_diagonal(graph, _INF)
    used = np.bincount(j_of[held], minlength=size)
    lightest_at = np.full(size, _BIG, dtype=np.int64)
    np.minimum.at(lightest_at, j_of[held], w[held])
    graph[:size, size] = np.where(used < s_cap[kept], 0,
                                  np.where(lightest_at < _BIG, lightest_at * (u - times), _INF))
    graph[size, :size] = np.where(used > 0, np.minimum(graph[size, :size], 0), graph[size, :size])

    distance = np.zeros(size + 1, dtype=np.int64)  # from a virtual root with 0-cost edges
    for _ in range(size + 2):
        relaxed = (distance[:, None] + graph).min(axis=0)
        if not (relaxed < distance).any():
            price = np.where(s_cap > 0, 0.0, np.inf)  # no capacity: no price is too high
            price[kept] = np.maximum(distance[size] - distance[:size], 0) * (unit / 10.0**decimals)
            return price
        distance = np.minimum(distance, relaxed)
    return None
