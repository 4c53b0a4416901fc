"""First-come runs without the event kernel.

With no bookings, holds or re-plans, the stations of a first-come run interact only through the
order in which vehicles reach them, so each station is one pass over its vehicles in that order:
Lindley's recursion for lanes, `CalendarGate`'s token rule for the gate. This gives what the
event kernel gives (same crossing times, states, hourly series and event count; checked vehicle
by vehicle in tests/simulation/test_model.py) several times faster.
"""

from __future__ import annotations

import math
from heapq import heapreplace
from typing import TYPE_CHECKING, Any

import numpy as np

from borderflow.simulation.run import CROSSED, EN_ROUTE, IN_YARD, NO_SHOW, RunOutcome

if TYPE_CHECKING:
    from borderflow.simulation.run import Run


def run_first_come(run: Run) -> RunOutcome:
    """The FIFO policy without the event kernel: with no bookings, holds or re-plans the
    stations do not interact except through the order vehicles reach them, so each
    station is one pass over its vehicles in that order (Lindley's recursion for the
    lanes, the token rule of `CalendarGate` for the gate). Gives what `start` + the kernel
    give (same times, figures and event count), barring exact ties in time."""
    m, fleet, until = run.m, run.fleet, run.m.hours
    n = run.n
    depart = fleet.ready - fleet.travel
    arrival = np.maximum(depart + fleet.travel + fleet.lateness, depart)
    come = ~fleet.no_show & (arrival <= until)
    first_key = np.array([run.key_index[s.keys[0]] for s in run.specs],
                         dtype=np.int64)[fleet.stream] if n else np.zeros(0, np.int64)
    crossed = np.full(n, math.nan)
    events = sum(1 for h in range(math.ceil(until) + 1) if h <= until)
    events += int(come.sum())
    cargo = [s.cargo for s in run.specs]
    stream = run.stream
    for ki, (plan, gate_plan) in enumerate(run.plans):
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
    crossing_of_key = np.asarray(run.crossing_of_key, dtype=np.int64)
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
        cap = run.yard_cap[c]
        series["yard"][crossing_id] = yard.tolist()
        series["outside"][crossing_id] = np.maximum(yard - cap, 0).tolist()
        peak = occ[ev_d[sel] > 0].max() - cap if sel.any() and (ev_d[sel] > 0).any() else 0
        max_outside[crossing_id] = max(int(peak), 0)
    total = np.cumsum(ev_d)
    peak_total = int(total[ev_d > 0].max()) - run.total_yard_cap if len(total) else 0
    at_grid = np.concatenate([[0], total])[np.searchsorted(ev_t, grid, side="left")]
    series["on_road"] = np.maximum(at_grid - run.total_yard_cap, 0).tolist()
    return RunOutcome(
        run.policy, fleet, first_key.tolist(), arrived.tolist(), crossed.tolist(),
        state.tolist(), events, series, max_outside, max(peak_total, 0), 0)


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
