"""The optimal re-planning allocator (issue 4): vehicles to crossing slots, least weighted wait.

A pure function of a snapshot: the live queue and the simulation call `allocate` (models) or
`allocate_arrays` (arrays); planners and auditors run `borderflow allocate` (`allocate_cli`).

**Problem.** Vehicle i may take slot s if s's gate is in its gates, ready_i <= start_s, and
start_s <= deadline_i (if given); no slot over capacity. Cost = Σ weight_i × (start_s − ready_i)
hours over assigned vehicles + weight_i × (horizon_end + P − ready_i) over unassigned ones.

**Method: one min-cost flow** (OR-Tools `SimpleMinCostFlow`, exact on integers). Vehicles with
the same integer weight W and, per gate, the same first and last eligible slot (a deadline at or
after a gate's last slot is no deadline there) form a class, supply = its size. Arcs: class →
sink (unassigned, cost W·U); class → slot k (cost W·T_k) for k in its [first, last] at each
gate, or, where a (gate, W, last) group shares enough, class → that group's *time chain* at
`first` (chain k → k+1 costs 0, chain k → slot k costs W·T_k: waiting a slot longer costs
W·Δt); slot → sink with the slot's capacity. Slots without capacity or after horizon_end + P
(worse than unassigned) are left out. Node-arc incidence matrices are totally unimodular: the
integral min-cost flow is the optimum of the LP.

**Integer costs and precision.** Times are integer microseconds (P rounded to the microsecond),
counted from the earliest slot in units of the gcd of all slot offsets and U (hourly slots:
1 hour). Weights are scaled by 10^d, d the fewest decimals (<= 6) that make them all integers.
The integer objective is then a positive multiple of the true one plus a constant: **the plan is
exactly optimal for weights with at most 6 decimals** (`exact`). Other weights are rounded to
6 decimals; then cost − optimum <= 1e-6 × Σ_i |horizon_end + P − ready_i| weight·hours. If the
int64 range is short (OR-Tools scales costs by nodes + 1), d is lowered and `exact` is False.
The cost reported is summed in floats (math.fsum) from the plan itself.

**Expansion, determinism.** Chain flow is split first in, first out; in a class, vehicles in
(ready, id) order take its slots in time order, the latest ready stay unassigned. The plan depends
on the instance's content only (not its order): the same instance always gives the same plan.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from borderflow.errors import InvalidInput

NO_DEADLINE = int(np.iinfo(np.int64).max)
"""`vehicle_deadline` value meaning "no deadline" in `allocate_arrays`."""
MAX_WEIGHT_DECIMALS = 6
US_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_COST_HEADROOM = (2**63 - 1) // 64  # OR-Tools needs |cost| × 2(nodes + 1) < 2^63; keep 32× spare
_MAX_LISTED = 20

IntArray = npt.NDArray[np.int64]


# -- instance and plan ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlotIn(_Model):
    gate: str = Field(min_length=1)
    start: AwareDatetime
    capacity: int = Field(ge=0, strict=True, description="Vehicles the slot takes (integer).")


class VehicleIn(_Model):
    id: str = Field(min_length=1)
    ready: AwareDatetime
    gates: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    weight: float = Field(ge=0, allow_inf_nan=False, strict=True)
    deadline: AwareDatetime | None = None

    @model_validator(mode="after")
    def _distinct_gates(self) -> VehicleIn:
        seen: set[str] = set()
        for gate in self.gates:
            if gate in seen:
                raise PydanticCustomError("duplicate_gate", "gate {gate} listed twice",
                                          {"gate": repr(gate)})
            seen.add(gate)
        return self


class AllocationInstance(_Model):
    horizon_end: AwareDatetime
    unassigned_penalty_hours: float = Field(ge=0, allow_inf_nan=False, strict=True)
    slots: list[SlotIn]
    vehicles: list[VehicleIn]

    @model_validator(mode="after")
    def _unique_entries(self) -> AllocationInstance:
        problems: list[str] = []
        first_vehicle: dict[str, int] = {}
        for i, v in enumerate(self.vehicles):
            if (j := first_vehicle.setdefault(v.id, i)) != i:
                problems.append(f"vehicles[{i}] (id {_q(v.id)}).id: duplicate of vehicles[{j}]")
        first_slot: dict[tuple[str, datetime], int] = {}
        for i, s in enumerate(self.slots):
            if (j := first_slot.setdefault((s.gate, s.start), i)) != i:
                problems.append(f"slots[{i}] (gate {_q(s.gate)}, start {_q(s.start.isoformat())}):"
                                f" same gate and start as slots[{j}]")
        if problems:
            raise PydanticCustomError("duplicate", "{detail}",
                                      {"detail": _join(problems), "items": problems})
        return self


class Assignment(_Model):
    vehicle: str
    gate: str
    slot_start: AwareDatetime


class Plan(_Model):
    """The file format: assignments and unassigned ids (cost/exact are not written out)."""

    assignments: list[Assignment]
    unassigned: list[str]
    cost: float | None = Field(default=None, exclude=True,
                               description="Σ weight × hours waited (unassigned: to horizon+P).")
    exact: bool | None = Field(default=None, exclude=True,
                               description="Provably optimal (weights with <= 6 decimals).")


class InvalidInstance(InvalidInput):
    """A malformed instance; `problems` names each offending entry and the reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid allocation instance: " + _join(problems))


def parse_instance(data: Any) -> AllocationInstance:
    """Validate decoded JSON; errors name the entry, e.g. `vehicles[17] (id "V0042").deadline`."""
    try:
        return AllocationInstance.model_validate(data)
    except ValidationError as exc:
        raise InvalidInstance([p for e in exc.errors() for p in _describe(data, e)]) from None


def _q(text: object) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _join(problems: list[str]) -> str:
    more = len(problems) - _MAX_LISTED
    return "; ".join(problems[:_MAX_LISTED]) + (f"; … and {more} more" if more > 0 else "")


def _describe(data: Any, error: Any) -> list[str]:
    if error["type"] == "duplicate":
        return list(error["ctx"]["items"])
    path, node = "", data
    for key in error["loc"]:
        if isinstance(key, int):
            node = node[key] if isinstance(node, list) and -len(node) <= key < len(node) else None
            path += f"[{key}]"
            if path in (f"vehicles[{key}]", f"slots[{key}]") and isinstance(node, dict):
                names = ("id",) if path.startswith("v") else ("gate", "start")
                shown = ", ".join(f"{n} {_q(node[n])}" for n in names if n in node)
                path += f" ({shown})" if shown else ""
        else:
            node = node.get(key) if isinstance(node, dict) else None
            path += f".{key}" if path else str(key)
    message = str(error["msg"])
    if error["type"] not in ("missing", "duplicate", "model_type", "list_type", "dict_type"):
        given = error.get("input")
        if isinstance(given, str | int | float | bool) or given is None:
            message += f" (got {given!r})"
    return [f"{path}: {message}" if path else message]


# -- allocation on models ------------------------------------------------------------------------


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


@contextmanager
def _collector_paused() -> Iterator[None]:
    """~10^5 new small objects trigger full collections of the caller's heap: 1/4 of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def allocate(instance: AllocationInstance) -> Plan:
    """The exactly optimal plan (see the module's docstring); `cost` in weight × hours."""
    with _collector_paused():
        gates = sorted({s.gate for s in instance.slots})
        gate_index = {g: k for k, g in enumerate(gates)}
        slots = instance.slots
        vehicles = sorted(instance.vehicles, key=lambda v: v.id)  # the order breaks ties
        mask = np.zeros((len(vehicles), len(gates)), dtype=bool)
        for row, v in enumerate(vehicles):
            for gate in v.gates:
                if gate in gate_index:
                    mask[row, gate_index[gate]] = True
        penalty_us = round(instance.unassigned_penalty_hours * US_PER_HOUR)
        result = allocate_arrays(
            slot_gate=np.array([gate_index[s.gate] for s in slots], dtype=np.int64),
            slot_start=np.array([_us(s.start) for s in slots], dtype=np.int64),
            slot_capacity=np.array([s.capacity for s in slots], dtype=np.int64),
            vehicle_ready=np.array([(v.ready - _EPOCH) // _US for v in vehicles], dtype=np.int64),
            vehicle_gates=mask,
            vehicle_weight=np.array([v.weight for v in vehicles], dtype=np.float64),
            vehicle_deadline=np.array(
                [NO_DEADLINE if (d := v.deadline) is None else _us(d) for v in vehicles],
                dtype=np.int64),
            unassigned_at=_us(instance.horizon_end) + penalty_us,
        )
        slot_by_id = dict(zip((v.id for v in vehicles), result.slot.tolist(), strict=True))
        assignments: list[Assignment] = []
        unassigned: list[str] = []
        construct = Assignment.model_construct
        for v in instance.vehicles:  # in the instance's order
            if (k := slot_by_id[v.id]) < 0:
                unassigned.append(v.id)
            else:
                s = slots[k]
                assignments.append(construct(vehicle=v.id, gate=s.gate, slot_start=s.start))
        return Plan(assignments=assignments, unassigned=unassigned,
                    cost=result.cost / US_PER_HOUR, exact=result.exact)


def check_plan(instance: AllocationInstance, plan: Plan) -> list[str]:
    """Every way `plan` breaks the rules (empty: feasible). Independent of the solver."""
    vehicles = {v.id: v for v in instance.vehicles}
    capacity = {(s.gate, s.start): s.capacity for s in instance.slots}
    used: dict[tuple[str, datetime], int] = {}
    problems: list[str] = []
    seen: set[str] = set()
    for a in plan.assignments:
        v, key = vehicles.get(a.vehicle), (a.gate, a.slot_start)
        if v is None or a.vehicle in seen or key not in capacity:
            problems.append(f"{a.vehicle}: unknown or repeated vehicle, or no such slot")
        elif a.gate not in v.gates or a.slot_start < v.ready or (
                v.deadline is not None and a.slot_start > v.deadline):
            problems.append(f"{a.vehicle}: not eligible for {a.gate} at {a.slot_start}")
        seen.add(a.vehicle)
        used[key] = used.get(key, 0) + 1
    for vid in plan.unassigned:
        if vid not in vehicles or vid in seen:
            problems.append(f"{vid}: unknown or repeated vehicle")
        seen.add(vid)
    problems += [f"{vid}: neither assigned nor unassigned" for vid in vehicles if vid not in seen]
    return problems + [f"{g} at {t}: {n} vehicles > capacity {capacity[(g, t)]}"
                       for (g, t), n in used.items() if n > capacity.get((g, t), n)]


def plan_cost(instance: AllocationInstance, plan: Plan) -> float:
    """Σ weight × hours from ready to slot start (unassigned: to horizon_end + P), in floats."""
    vehicles = {v.id: v for v in instance.vehicles}
    end = instance.horizon_end + timedelta(hours=instance.unassigned_penalty_hours)
    hour = timedelta(hours=1)
    return math.fsum([vehicles[a.vehicle].weight * ((a.slot_start - vehicles[a.vehicle].ready)
                                                    / hour) for a in plan.assignments]
                     + [vehicles[v].weight * ((end - vehicles[v].ready) / hour)
                        for v in plan.unassigned])


# -- allocation on arrays ------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayAllocation:
    slot: IntArray
    """Per vehicle: index of its slot in the slot arrays, or -1 (unassigned)."""
    cost: float
    """Σ weight × (start − ready), unassigned counted to `unassigned_at`, in weight × time unit."""
    exact: bool
    """True: provably optimal (every weight has at most `weight_decimals` decimals)."""
    weight_decimals: int
    classes: int  # size of the flow network: vehicle classes, nodes, arcs
    nodes: int
    arcs: int


def allocate_arrays(
    *,
    slot_gate: npt.ArrayLike,
    slot_start: npt.ArrayLike,
    slot_capacity: npt.ArrayLike,
    vehicle_ready: npt.ArrayLike,
    vehicle_gates: npt.ArrayLike,
    vehicle_weight: npt.ArrayLike,
    vehicle_deadline: npt.ArrayLike | None = None,
    unassigned_at: int,
    chain_node_cost: float = 32.0,
) -> ArrayAllocation:
    """Optimal allocation on arrays. Times are integers in one unit (e.g. microseconds since the
    epoch); `slot_gate` holds column indices of `vehicle_gates` (vehicles × gates, bool);
    `vehicle_deadline` holds NO_DEADLINE for none. Members of a class are ordered by (ready,
    position in the arrays). A group shares a chain when chain_node_cost × its nodes + its
    entry arcs < its direct arcs (32: a chain node slows OR-Tools about as much as 30 arcs,
    measured; 0: chain whenever it saves arcs). Any value gives the same optimal cost."""
    s_gate, s_start, s_cap, ready = (np.asarray(a, dtype=np.int64) for a in (
        slot_gate, slot_start, slot_capacity, vehicle_ready))
    mask = np.asarray(vehicle_gates, dtype=bool)
    weight = np.asarray(vehicle_weight, dtype=np.float64)
    n = len(ready)
    deadline = (np.full(n, NO_DEADLINE, dtype=np.int64) if vehicle_deadline is None
                else np.asarray(vehicle_deadline, dtype=np.int64))
    if mask.ndim != 2 or mask.shape[0] != n or weight.shape != (n,) or deadline.shape != (n,):
        raise ValueError("vehicle arrays need one entry (one row of vehicle_gates) per vehicle")
    n_gates = mask.shape[1]
    if not (s_gate.shape == s_start.shape == s_cap.shape and (s_cap >= 0).all()
            and ((s_gate >= 0) & (s_gate < n_gates)).all()):
        raise ValueError("slot arrays need equal lengths, capacities >= 0, valid gate columns")
    if not (np.isfinite(weight).all() and (weight >= 0).all()):
        raise ValueError("weights must be finite and >= 0")
    if n == 0:
        return ArrayAllocation(np.zeros(0, dtype=np.int64), 0.0, True, 0, 0, 0, 0)

    kept = np.flatnonzero((s_cap > 0) & (s_start <= unassigned_at))
    kept = kept[np.lexsort((s_start[kept], s_gate[kept]))]  # by gate, then time
    bounds = np.searchsorted(s_gate[kept], np.arange(n_gates + 1))
    t_ref = min(int(s_start[kept].min()), unassigned_at) if len(kept) else unassigned_at
    unit = int(np.gcd.reduce(np.append(s_start[kept] - t_ref, unassigned_at - t_ref))) or 1
    times, u_time = (s_start[kept] - t_ref) // unit, (unassigned_at - t_ref) // unit
    first = np.full((n, n_gates), -1, dtype=np.int64)  # first eligible slot, per gate
    last = np.full((n, n_gates), -1, dtype=np.int64)  # last one if the deadline binds, else -1
    for g in range(n_gates):
        gate_times = s_start[kept[bounds[g]:bounds[g + 1]]]
        lo = np.searchsorted(gate_times, ready, side="left")
        hi = np.searchsorted(gate_times, deadline, side="right") - 1
        ok = mask[:, g] & (lo <= hi)
        first[ok, g] = lo[ok]
        binding = ok & (hi < len(gate_times) - 1)
        last[binding, g] = hi[binding]

    decimals, exact = _weight_decimals(weight)
    span = max(u_time, int(times.max()) if len(times) else 0, 1)
    while True:
        if float(weight.max()) * 10.0**decimals * span <= _COST_HEADROOM:
            w_int = np.rint(weight * 10.0**decimals).astype(np.int64)
            graph = _Graph(w_int, first, last, s_cap[kept], times, u_time, bounds,
                           chain_node_cost)
            if graph.fits():
                break
        if decimals == 0:
            raise ValueError("times and weights span too wide a range for exact integer costs")
        decimals, exact = decimals - 1, False
    slot_of = np.append(kept, -1)[graph.solve(ready)]
    stop = np.append(s_start, unassigned_at)[slot_of]
    cost = math.fsum((weight * (stop - ready).astype(np.float64)).tolist())
    return ArrayAllocation(slot_of, cost, exact, decimals, graph.n_classes, graph.n_nodes,
                           len(graph.tails))


def _weight_decimals(w: npt.NDArray[np.float64]) -> tuple[int, bool]:
    for d in range(MAX_WEIGHT_DECIMALS + 1):
        scaled = w * 10.0**d
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, scaled)):
            return d, True
    return MAX_WEIGHT_DECIMALS, False


def _group_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """np.unique(rows, axis=0, return_inverse=True, return_counts=True), only faster."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    inverse = np.empty(len(rows), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse, np.diff(np.append(np.flatnonzero(new), len(rows)))


def _expand(lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
    """For ranges [lo_r, hi_r]: (range index, value) of every member, in order."""
    length = np.maximum(hi - lo + 1, 0)
    rep = np.repeat(np.arange(len(lo), dtype=np.int64), length)
    start = np.repeat(np.cumsum(length) - length, length)
    return rep, lo[rep] + np.arange(len(rep), dtype=np.int64) - start


class _Graph:
    """The network: nodes 0..C-1 the classes, C the sink, C+1+j kept slot j, then chain nodes."""

    def __init__(self, w_int: IntArray, first: IntArray, last: IntArray, cap: IntArray,
                 times: IntArray, u_time: int, bounds: IntArray, node_cost: float) -> None:
        n_gates = first.shape[1]
        keys, self.inverse, self.counts = _group_rows(np.column_stack([w_int, first, last]))
        w_cls, c_first, c_last = keys[:, 0], keys[:, 1:1 + n_gates], keys[:, 1 + n_gates:]
        n_cls = self.n_classes = len(keys)
        n_slots = len(times)
        self.n_nodes, n_chains = n_cls + 1 + n_slots, 0
        self.arcs: list[tuple[IntArray, ...]] = []
        self.n_arcs = 0
        zero = np.zeros(0, dtype=np.int64)
        # recorded for the expansion: direct (arc, class, slot); chain entries (arc, chain,
        # position, class); chain exits (arc, slot), by chain then position
        self.direct: list[tuple[IntArray, ...]] = [(zero, zero, zero)]
        self.entry: list[tuple[IntArray, ...]] = [(zero, zero, zero, zero)]
        self.exit: list[tuple[IntArray, ...]] = [(zero, zero)]
        self._add(np.arange(n_cls), np.full(n_cls, n_cls), self.counts, w_cls * u_time)
        self._add(n_cls + 1 + np.arange(n_slots), np.full(n_slots, n_cls), cap, 0 * cap)
        for g in range(n_gates):
            base, m = int(bounds[g]), int(bounds[g + 1] - bounds[g])
            elig = np.flatnonzero(c_first[:, g] >= 0)
            lo, hi = c_first[elig, g], np.where(c_last[elig, g] >= 0, c_last[elig, g], m - 1)
            # classes with the same (weight, last slot) can share a chain ending there
            group_keys, grp, size = _group_rows(np.column_stack([w_cls[elig], hi]))
            w_grp, end = group_keys[:, 0], group_keys[:, 1]
            p0 = np.full(len(group_keys), m, dtype=np.int64)
            np.minimum.at(p0, grp, lo)
            direct_arcs = np.bincount(grp, weights=hi - lo + 1, minlength=len(group_keys))
            chained = node_cost * (end - p0 + 1) + size < direct_arcs
            on_chain = chained[grp]
            rep, pos = _expand(lo[~on_chain], hi[~on_chain])
            arc_cls, slot = elig[~on_chain][rep], base + pos
            arcs = self._add(arc_cls, n_cls + 1 + slot, self.counts[arc_cls],
                             w_cls[arc_cls] * times[slot])
            self.direct.append((arcs, arc_cls, slot))
            ch = np.flatnonzero(chained)
            p0_ch, length = p0[ch], end[ch] - p0[ch] + 1
            start = self.n_nodes + np.cumsum(length) - length
            self.n_nodes += int(length.sum())
            total = np.bincount(grp, weights=self.counts[elig],
                                minlength=len(group_keys))[ch].astype(np.int64)
            rep, pos = _expand(p0_ch, end[ch])
            node = start[rep] + pos - p0_ch[rep]
            arcs = self._add(node, n_cls + 1 + base + pos, total[rep],
                             w_grp[ch][rep] * times[base + pos])
            self.exit.append((arcs, base + pos))
            step = pos < end[ch][rep]
            self._add(node[step], node[step] + 1, total[rep][step], 0 * node[step])
            local = np.full(len(group_keys), -1, dtype=np.int64)
            local[ch] = np.arange(len(ch))
            e_cls, e_chain, e_pos = elig[on_chain], local[grp[on_chain]], lo[on_chain]
            arcs = self._add(e_cls, start[e_chain] + e_pos - p0_ch[e_chain],
                             self.counts[e_cls], 0 * e_cls)
            self.entry.append((arcs, e_chain + n_chains, e_pos, e_cls))
            n_chains += len(ch)
        self.tails, self.heads, self.caps, self.costs = (
            np.concatenate([a[i] for a in self.arcs]).astype(np.int64) for i in range(4))
        gate_of = np.repeat(np.arange(n_gates), np.diff(bounds))
        self.slot_rank = np.empty(n_slots + 1, dtype=np.int64)  # by (time, gate); -1 → last
        self.slot_rank[np.lexsort((gate_of, times))] = np.arange(n_slots)
        self.slot_rank[-1] = n_slots

    def _add(self, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray) -> IntArray:
        self.arcs.append((tail, head, cap, cost))
        self.n_arcs += len(tail)
        return np.arange(self.n_arcs - len(tail), self.n_arcs, dtype=np.int64)

    def fits(self) -> bool:
        largest = int(np.abs(self.costs).max()) if len(self.costs) else 0
        return largest <= _COST_HEADROOM // (2 * (self.n_nodes + 1))

    def solve(self, ready: IntArray) -> IntArray:
        """Solve; each vehicle's kept-slot index, or -1."""
        n_cls = self.n_classes
        solver = min_cost_flow.SimpleMinCostFlow()
        solver.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, self.caps, self.costs)
        supply = np.zeros(self.n_nodes, dtype=np.int64)
        supply[:n_cls], supply[n_cls] = self.counts, -int(self.counts.sum())
        solver.set_nodes_supplies(np.arange(self.n_nodes, dtype=np.int64), supply)
        if (status := solver.solve()) != solver.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed: {status}")
        flow = solver.flows(np.arange(len(self.tails), dtype=np.int64)).astype(np.int64)
        d_arc, d_cls, d_slot = (np.concatenate(x) for x in zip(*self.direct, strict=True))
        e_arc, e_chain, e_pos, e_cls = (np.concatenate(x) for x in zip(*self.entry, strict=True))
        x_arc, x_slot = (np.concatenate(x) for x in zip(*self.exit, strict=True))
        # chain flow, first in first out: the k-th unit in leaves by the k-th unit out (the
        # chains are concatenated; each one's inflow equals its outflow)
        order = np.lexsort((e_cls, e_pos, e_chain))
        cum_in, cum_out = np.cumsum(flow[e_arc[order]]), np.cumsum(flow[x_arc])
        cuts = np.union1d(cum_in, cum_out)
        cuts = cuts[cuts > 0]
        starts = np.concatenate([np.zeros(min(len(cuts), 1), dtype=np.int64), cuts[:-1]])
        # (class, kept slot or -1, count): unassigned, direct arcs, chain segments
        cls_ = np.concatenate([np.arange(n_cls), d_cls,
                               e_cls[order][np.searchsorted(cum_in, starts, side="right")]])
        slot = np.concatenate([np.full(n_cls, -1), d_slot,
                               x_slot[np.searchsorted(cum_out, starts, side="right")]])
        count = np.concatenate([flow[:n_cls], flow[d_arc], cuts - starts])
        take = np.lexsort((self.slot_rank[slot], cls_))
        sequence = np.repeat(slot[take], count[take])
        slot_of = np.empty(len(ready), dtype=np.int64)
        slot_of[np.lexsort((np.arange(len(ready)), ready, self.inverse))] = sequence
        return slot_of
