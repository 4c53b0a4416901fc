"""Re-planning in the simulation: when a capacity change is announced, every booking from then
on is placed again at once — optimally by the live allocator (`queue.allocation`), following
the policy's switches (re-routing, perishable priority and deadline, no dispatch without a
slot), or re-booked in the old order at the same crossing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from borderflow.queue.allocation import NO_DEADLINE, allocate_arrays
from borderflow.simulation.run import EN_ROUTE, HELD, IN_YARD, PLANNED

if TYPE_CHECKING:
    from borderflow.simulation.run import Run


def replan(run: Run) -> None:
    """A capacity change is announced: every booking from now on is re-allocated at once
    (borderflow: optimally, with re-routing, perishables first, by the live allocator;
    GoSwift: re-booked in the old order at the same crossing)."""
    assert run.ledger is not None
    now = run.engine.now
    changes = dict(run.announcements()).get(now, {})
    j0 = math.ceil(now / run.m.L - 1e-9)
    for key, cap in changes.items():
        run.ledger.set_capacity(key, cap.tolist(), j0)
    affected = [v for v in range(run.n)
                if run.slot[v] >= j0 and run.state[v] in (PLANNED, EN_ROUTE, HELD, IN_YARD)]
    for key in run.m.keys:
        if key in run.ledger.books:
            run.ledger.release_from(key, j0)
    if run.rules.optimal_replan and affected:
        _optimal(run, affected, j0)
    else:
        affected.sort(key=lambda v: (run.slot[v], run.due[v]))
        for v in affected:
            key = run.m.keys[run.key_of[v]]
            spec = run.specs[run.stream[v]]
            perishable = spec.shelf_life is not None
            got = run.ledger.book([key], ready=max(run.ready[v], now),
                                  deadline=run.deadline_of(v), now=now,
                                  priority=run.rules.priority(perishable))
            if got is None:
                run.unplace(v)
            else:
                run.reschedule(v, got)

def _optimal(run: Run, affected: list[int], j0: int) -> None:
    assert run.ledger is not None
    now = run.engine.now
    keys = [k for k in run.m.keys if k in run.ledger.books]
    col = {k: i for i, k in enumerate(keys)}
    s_gate, s_start, s_cap = [], [], []
    for k in keys:
        cap = run.ledger.books[k].capacity
        for j in range(j0, len(cap)):
            if cap[j] > 0:
                s_gate.append(col[k])
                s_start.append(j)
                s_cap.append(cap[j])
    slot_index = np.asarray(s_start, dtype=np.int64)
    scale = 3600  # slot indices → seconds-like integer times
    weights = run.m.policy.weights
    ready, gates, w, deadline = [], [], [], []
    for v in affected:
        spec = run.specs[run.stream[v]]
        r = max(run.ready[v], now)
        ready.append(math.ceil(r / run.m.L - 1e-9) * scale)
        row = [False] * len(keys)
        if run.state[v] == PLANNED:  # not left yet: any crossing it may be routed to
            for k in (spec.keys if run.rules.reroute else spec.keys[:1]):
                if k in col:
                    row[col[k]] = True
        else:  # already on the road or at the border: stays at its crossing
            row[col[run.m.keys[run.key_of[v]]]] = True
        gates.append(row)
        w.append(weights[run.rules.priority(spec.shelf_life is not None)])
        d = run.deadline_of(v) if run.state[v] == PLANNED else None
        deadline.append(NO_DEADLINE if d is None else int(d // run.m.L) * scale)
    horizon = (int(slot_index.max()) + 1) * scale if len(slot_index) else scale
    result = allocate_arrays(
        slot_gate=np.asarray(s_gate, dtype=np.int64), slot_start=slot_index * scale,
        slot_capacity=np.asarray(s_cap, dtype=np.int64), vehicle_ready=ready,
        vehicle_gates=np.asarray(gates, dtype=bool).reshape(len(affected), len(keys)),
        vehicle_weight=w, vehicle_deadline=deadline,
        unassigned_at=horizon + round(
            run.m.policy.unassigned_penalty_hours / run.m.L * scale))
    order = sorted(range(len(affected)), key=lambda i: (int(result.slot[i]), -w[i], i))
    for i in order:
        v = affected[i]
        s = int(result.slot[i])
        if s < 0:
            run.unplace(v)
            continue
        key = keys[s_gate[s]]
        j = s_start[s]
        spec = run.specs[run.stream[v]]
        priority = run.rules.priority(spec.shelf_life is not None)
        run.reschedule(v, (key, j, run.ledger.take(key, j, priority)))
