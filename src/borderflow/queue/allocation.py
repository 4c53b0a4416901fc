"""The optimal re-planning allocator (issue 4): vehicles to crossing slots, least weighted wait.

A pure function of a snapshot (design notes, "Policies are functions of state"): the live queue
and the simulation both call `allocate` (models) or `allocate_arrays` (NumPy arrays).

**Problem.** Vehicle i may take slot s when the gate is in its gates, ready_i <= start_s and
start_s <= deadline_i (if any). Cost = Σ weight_i × (start_s − ready_i) in hours over assigned
vehicles + weight_i × (horizon_end + P − ready_i) over unassigned ones; no slot over capacity.

**Method: one min-cost flow** (OR-Tools `SimpleMinCostFlow`, cost-scaling push-relabel, exact on
integers). Interchangeable vehicles are one *class* (same integer weight and, per gate, the same
first eligible slot and last eligible slot; a deadline at or beyond a gate's last slot is no
deadline there): supply = class size. Arcs: class → sink ("unassigned", cost W·U); class → the
per-(gate, weight) *time chain* at its first eligible slot (chain arcs cost 0, chain node k →
slot k costs W·T_k, so sliding later is what costs) where its deadline does not bind; direct
class → slot arcs (cost W·T_k) for the slots [first, last] where it binds (and where a chain
would have more arcs than direct arcs); slot → sink with the slot's capacity. Slots with no
capacity or starting after horizon_end + P (worse than unassigned) are left out. The network
matrix is totally unimodular, so the integral min-cost flow is the LP optimum.

**Integer costs.** Times are integer microseconds (a datetime's resolution; P is rounded to the
microsecond), shifted by the earliest slot and divided by the gcd of all slot offsets and U (so
hourly slots give unit = 1 hour). Weights are scaled by 10^d, d the fewest decimals (<= 6) that
make every weight an integer. Unit cost = round(weight × 10^d) × T. The integer objective is then
an exact positive multiple of the true one plus a constant: **the plan is exactly optimal for
weights with <= 6 decimals** (`exact=True`). Other weights are rounded to 6 decimals
(`exact=False`); the plan's cost then exceeds the optimum by at most 10^-6 × Σ_i |U − ready_i| ×
weight-free hours, i.e. a relative error of order 10^-7. If int64 headroom (OR-Tools multiplies
costs by nodes + 1) is short, d is lowered and `exact` says so. The reported cost is recomputed
in floats from the plan (math.fsum), never from the integer objective.

**Expansion and determinism.** Chain flow is split first-in-first-out; within a class, vehicles
sorted by (ready, position) take the class's slots in time order, the latest-ready ones are left
unassigned. `allocate` orders vehicles by id first, so the plan depends on the instance's content,
not on its order; the same instance always gives the same plan.
"""

from __future__ import annotations

import math
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
_NODE_COST = 32  # a chain node slows OR-Tools like ~30 arcs (measured): chain only if it pays

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
        errors = exc.errors()
        raise InvalidInstance([p for e in errors for p in _describe(data, e)]) from None


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


def allocate(instance: AllocationInstance) -> Plan:
    """The exactly optimal plan (see the module's docstring); `cost` in weight × hours."""
    gates = sorted({s.gate for s in instance.slots})
    gate_index = {g: k for k, g in enumerate(gates)}
    slots, vehicles = instance.slots, instance.vehicles
    by_id = sorted(range(len(vehicles)), key=lambda i: vehicles[i].id)
    mask = np.zeros((len(vehicles), len(gates)), dtype=bool)
    for row, i in enumerate(by_id):
        for gate in vehicles[i].gates:
            if gate in gate_index:
                mask[row, gate_index[gate]] = True
    penalty_us = round(instance.unassigned_penalty_hours * US_PER_HOUR)
    result = allocate_arrays(
        slot_gate=np.array([gate_index[s.gate] for s in slots], dtype=np.int64),
        slot_start=np.array([_us(s.start) for s in slots], dtype=np.int64),
        slot_capacity=np.array([s.capacity for s in slots], dtype=np.int64),
        vehicle_ready=np.array([_us(vehicles[i].ready) for i in by_id], dtype=np.int64),
        vehicle_gates=mask,
        vehicle_weight=np.array([vehicles[i].weight for i in by_id], dtype=np.float64),
        vehicle_deadline=np.array(
            [NO_DEADLINE if (d := vehicles[i].deadline) is None else _us(d) for i in by_id],
            dtype=np.int64),
        unassigned_at=_us(instance.horizon_end) + penalty_us,
    )
    slot_of = np.empty(len(vehicles), dtype=np.int64)
    slot_of[np.array(by_id, dtype=np.int64)] = result.slot
    assignments: list[Assignment] = []
    unassigned: list[str] = []
    for v, k in zip(vehicles, slot_of.tolist(), strict=True):
        if k < 0:
            unassigned.append(v.id)
        else:
            s = slots[k]
            assignments.append(Assignment.model_construct(vehicle=v.id, gate=s.gate,
                                                          slot_start=s.start))
    return Plan(assignments=assignments, unassigned=unassigned,
                cost=result.cost / US_PER_HOUR, exact=result.exact)


def check_plan(instance: AllocationInstance, plan: Plan) -> list[str]:
    """Every way `plan` breaks the rules (empty: feasible). Independent of the solver."""
    problems: list[str] = []
    vehicles = {v.id: v for v in instance.vehicles}
    capacity = {(s.gate, s.start): s.capacity for s in instance.slots}
    used: dict[tuple[str, datetime], int] = {}
    seen: set[str] = set()
    for a in plan.assignments:
        v = vehicles.get(a.vehicle)
        key = (a.gate, a.slot_start)
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
    problems += [f"{g} at {t}: {n} vehicles > capacity {capacity[(g, t)]}"
                 for (g, t), n in used.items() if (g, t) in capacity and n > capacity[(g, t)]]
    return problems


def plan_cost(instance: AllocationInstance, plan: Plan) -> float:
    """Σ weight × hours from ready to slot start (unassigned: to horizon_end + P), in floats."""
    weight = {v.id: v.weight for v in instance.vehicles}
    ready = {v.id: v.ready for v in instance.vehicles}
    end = instance.horizon_end + timedelta(hours=instance.unassigned_penalty_hours)
    terms = [weight[a.vehicle] * ((a.slot_start - ready[a.vehicle]) / timedelta(hours=1))
             for a in plan.assignments]
    terms += [weight[v] * ((end - ready[v]) / timedelta(hours=1)) for v in plan.unassigned]
    return math.fsum(terms)


# -- allocation on arrays ------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayAllocation:
    slot: IntArray
    """Per vehicle: index of its slot in the slot arrays, or -1 (unassigned)."""
    cost: float
    """Σ weight × (start − ready), unassigned counted to `unassigned_at`, in weight × time unit."""
    exact: bool
    """True: provably optimal (every weight has <= `weight_decimals` decimals)."""
    weight_decimals: int
    classes: int
    nodes: int
    arcs: int


def _weight_decimals(w: npt.NDArray[np.float64]) -> tuple[int, bool]:
    for d in range(MAX_WEIGHT_DECIMALS + 1):
        scaled = w * 10.0**d
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, scaled)):
            return d, True
    return MAX_WEIGHT_DECIMALS, False


def _group_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Like np.unique(rows, axis=0, return_inverse=True, return_counts=True), only faster."""
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
    offset = np.arange(int(length.sum()), dtype=np.int64) - np.repeat(np.cumsum(length) - length,
                                                                       length)
    return rep, lo[rep] + offset


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
) -> ArrayAllocation:
    """Optimal allocation on arrays. Times are integers in one unit (e.g. microseconds since the
    epoch); `slot_gate` holds indices into the columns of `vehicle_gates` (n × gates, bool);
    `vehicle_deadline` uses NO_DEADLINE for none. Ties between members of one class go by
    (ready, position in the arrays)."""
    s_gate = np.asarray(slot_gate, dtype=np.int64)
    s_start = np.asarray(slot_start, dtype=np.int64)
    s_cap = np.asarray(slot_capacity, dtype=np.int64)
    ready = np.asarray(vehicle_ready, dtype=np.int64)
    mask = np.asarray(vehicle_gates, dtype=bool)
    weight = np.asarray(vehicle_weight, dtype=np.float64)
    n = len(ready)
    deadline = (np.full(n, NO_DEADLINE, dtype=np.int64) if vehicle_deadline is None
                else np.asarray(vehicle_deadline, dtype=np.int64))
    if mask.ndim != 2 or mask.shape[0] != n or weight.shape != (n,) or deadline.shape != (n,):
        raise ValueError("vehicle arrays must have one entry (one mask row) per vehicle")
    n_gates = mask.shape[1]
    if not s_gate.shape == s_start.shape == s_cap.shape:
        raise ValueError("slot arrays must have the same length")
    if (s_cap < 0).any() or ((s_gate < 0) | (s_gate >= n_gates)).any():
        raise ValueError("slot capacities must be >= 0 and slot gates valid column indices")
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError("weights must be finite and >= 0")

    kept = np.flatnonzero((s_cap > 0) & (s_start <= unassigned_at))
    kept = kept[np.lexsort((s_start[kept], s_gate[kept]))]  # by gate, then time
    bounds = np.searchsorted(s_gate[kept], np.arange(n_gates + 1))
    t_ref = min(int(s_start[kept].min()), unassigned_at) if len(kept) else unassigned_at
    offsets = np.append(s_start[kept] - t_ref, unassigned_at - t_ref)
    unit = int(np.gcd.reduce(offsets)) or 1
    times, u_time = (s_start[kept] - t_ref) // unit, (unassigned_at - t_ref) // unit

    first = np.full((n, n_gates), -1, dtype=np.int64)  # first eligible slot, per gate
    last = np.full((n, n_gates), -1, dtype=np.int64)  # last one where the deadline binds, or -1
    for g in range(n_gates):
        gate_times = s_start[kept[bounds[g]:bounds[g + 1]]]
        m = len(gate_times)
        lo = np.searchsorted(gate_times, ready, side="left")
        hi = np.searchsorted(gate_times, deadline, side="right") - 1
        ok = mask[:, g] & (lo <= hi)
        first[ok, g] = lo[ok]
        binding = ok & (hi < m - 1)
        last[binding, g] = hi[binding]

    if n == 0:
        return ArrayAllocation(slot=np.zeros(0, dtype=np.int64), cost=0.0, exact=True,
                               weight_decimals=0, classes=0, nodes=0, arcs=0)
    decimals, exact = _weight_decimals(weight)
    span = max(u_time, int(times.max()) if len(times) else 0, 1)
    while True:
        if float(weight.max()) * 10.0**decimals * span <= _COST_HEADROOM:
            w_int = np.rint(weight * 10.0**decimals).astype(np.int64)
            graph = _Graph.build(w_int, first, last, s_cap[kept], times, u_time, bounds)
            if graph.fits():
                break
        if decimals == 0:
            raise ValueError("times and weights span too wide a range for exact integer costs")
        decimals, exact = decimals - 1, False
    slot_of = graph.solve(ready)
    slot_of = np.append(kept, -1)[slot_of]
    stop = np.append(s_start, unassigned_at)[slot_of]
    cost = math.fsum((weight * (stop - ready).astype(np.float64)).tolist())
    return ArrayAllocation(slot=slot_of, cost=cost, exact=exact, weight_decimals=decimals,
                           classes=graph.n_classes, nodes=graph.n_nodes, arcs=len(graph.tails))


@dataclass
class _Graph:
    """The flow network; node 0..C-1 classes, C the sink, C+1+j kept slot j, then chains."""

    inverse: IntArray  # class of each vehicle
    counts: IntArray
    n_classes: int
    n_nodes: int
    tails: IntArray
    heads: IntArray
    caps: IntArray
    costs: IntArray
    direct: tuple[IntArray, IntArray, IntArray]  # (arc, class, slot)
    entry: tuple[IntArray, IntArray, IntArray, IntArray]  # (arc, chain, position, class)
    exit: tuple[IntArray, IntArray]  # (arc, slot), sorted by chain then position
    slot_rank: IntArray  # kept slot's rank by (time, gate)

    @classmethod
    def build(cls, w_int: IntArray, first: IntArray, last: IntArray, cap: IntArray,
              times: IntArray, u_time: int, bounds: IntArray) -> _Graph:
        n_gates = first.shape[1]
        keys, inverse, counts = _group_rows(np.column_stack([w_int, first, last]))
        w_cls, c_first, c_last = keys[:, 0], keys[:, 1:1 + n_gates], keys[:, 1 + n_gates:]
        n_cls, n_slots = len(keys), len(times)
        sink, next_node, n_chains = n_cls, n_cls + 1 + n_slots, 0
        arcs: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        kinds: dict[str, list[IntArray]] = {"direct": [], "entry": [], "exit": []}
        n_arcs = 0

        def add(tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray,
                kind: str | None = None) -> None:
            nonlocal n_arcs
            arcs.append((tail, head, cap, cost))
            if kind is not None:
                kinds[kind].append(np.arange(n_arcs, n_arcs + len(tail), dtype=np.int64))
            n_arcs += len(tail)

        ar_cls = np.arange(n_cls, dtype=np.int64)
        ar_slot = np.arange(n_slots, dtype=np.int64)
        add(ar_cls, np.full(n_cls, sink), counts, w_cls * u_time)  # unassigned: arcs 0..C-1
        add(n_cls + 1 + ar_slot, np.full(n_slots, sink), cap, np.zeros_like(cap))
        direct: list[tuple[IntArray, IntArray]] = []
        entry: list[tuple[IntArray, IntArray, IntArray]] = []
        exits: list[IntArray] = []
        for g in range(n_gates):
            base, m = int(bounds[g]), int(bounds[g + 1] - bounds[g])
            if m == 0:
                continue
            elig = np.flatnonzero(c_first[:, g] >= 0)
            lo = c_first[elig, g]
            hi = np.where(c_last[elig, g] >= 0, c_last[elig, g], m - 1)
            # group by (weight, last slot): such classes can share a chain ending at that slot
            keys, grp, size = _group_rows(np.column_stack([w_cls[elig], hi]))
            w_grp, end_grp = keys[:, 0], keys[:, 1]
            p0 = np.full(len(keys), m, dtype=np.int64)
            np.minimum.at(p0, grp, lo)
            direct_len = np.bincount(grp, weights=hi - lo + 1, minlength=len(keys))
            chained = _NODE_COST * (end_grp - p0 + 1) + size < direct_len
            on_chain = chained[grp]
            # direct arcs to every slot of [first, last] where a chain would not pay
            d_cls = elig[~on_chain]
            rep, pos = _expand(lo[~on_chain], hi[~on_chain])
            arc_cls, slot = d_cls[rep], base + pos
            direct.append((arc_cls, slot))
            add(arc_cls, n_cls + 1 + slot, counts[arc_cls], w_cls[arc_cls] * times[slot],
                "direct")
            # chains: one per (gate, weight, last slot) group, from its earliest entry
            ch = np.flatnonzero(chained)
            p0_ch, length = p0[ch], end_grp[ch] - p0[ch] + 1
            start = next_node + np.cumsum(length) - length
            next_node += int(length.sum())
            total = np.bincount(grp, weights=counts[elig], minlength=len(keys))[ch]
            total = total.astype(np.int64)
            rep, pos = _expand(p0_ch, end_grp[ch])
            node = start[rep] + pos - p0_ch[rep]
            add(node, n_cls + 1 + base + pos, total[rep], w_grp[ch][rep] * times[base + pos],
                "exit")
            exits.append(base + pos)
            step = pos < end_grp[ch][rep]
            add(node[step], node[step] + 1, total[rep][step],
                np.zeros(int(step.sum()), dtype=np.int64))
            local = np.full(len(keys), -1, dtype=np.int64)
            local[ch] = np.arange(len(ch), dtype=np.int64)
            e_cls = elig[on_chain]
            e_chain, e_pos = local[grp[on_chain]], lo[on_chain]
            add(e_cls, start[e_chain] + e_pos - p0_ch[e_chain], counts[e_cls],
                np.zeros(len(e_cls), dtype=np.int64), "entry")
            entry.append((e_chain + n_chains, e_pos, e_cls))
            n_chains += len(ch)
        tails, heads, caps, costs = (np.concatenate([a[i] for a in arcs]).astype(np.int64)
                                     for i in range(4))
        empty = np.zeros(0, dtype=np.int64)

        def cat(items: list[IntArray]) -> IntArray:
            return np.concatenate(items).astype(np.int64) if items else empty

        rank = np.empty(n_slots, dtype=np.int64)
        rank[np.lexsort((np.repeat(np.arange(n_gates), np.diff(bounds)), times))] = ar_slot
        return cls(
            inverse=inverse.astype(np.int64), counts=counts.astype(np.int64), n_classes=n_cls,
            n_nodes=next_node, tails=tails, heads=heads, caps=caps, costs=costs,
            direct=(cat(kinds["direct"]), cat([d[0] for d in direct]),
                    cat([d[1] for d in direct])),
            entry=(cat(kinds["entry"]), cat([e[0] for e in entry]), cat([e[1] for e in entry]),
                   cat([e[2] for e in entry])),
            exit=(cat(kinds["exit"]), cat(exits)), slot_rank=rank,
        )

    def fits(self) -> bool:
        largest = int(np.abs(self.costs).max()) if len(self.costs) else 0
        return largest <= _COST_HEADROOM // (2 * (self.n_nodes + 1))

    def solve(self, ready: IntArray) -> IntArray:
        """Solve, then give each vehicle a kept-slot index or -1."""
        n_cls = self.n_classes
        flow_solver = min_cost_flow.SimpleMinCostFlow()
        flow_solver.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, self.caps,
                                                         self.costs)
        supply = np.zeros(self.n_nodes, dtype=np.int64)
        supply[:n_cls] = self.counts
        supply[n_cls] = -int(self.counts.sum())
        flow_solver.set_nodes_supplies(np.arange(self.n_nodes, dtype=np.int64), supply)
        status = flow_solver.solve()
        if status != flow_solver.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed: status {status}")
        flows = flow_solver.flows(np.arange(len(self.tails), dtype=np.int64)).astype(np.int64)
        # (class, slot or -1, count) triples: unassigned, direct arcs, chain segments (FIFO)
        ar_cls = np.arange(n_cls, dtype=np.int64)
        t_cls = [ar_cls, self.direct[1]]
        t_slot = [np.full(n_cls, -1, dtype=np.int64), self.direct[2]]
        t_count = [flows[:n_cls], flows[self.direct[0]]]
        e_arc, e_chain, e_pos, e_cls = self.entry
        order = np.lexsort((e_cls, e_pos, e_chain))
        cum_in = np.cumsum(flows[e_arc[order]])
        cum_out = np.cumsum(flows[self.exit[0]])
        cuts = np.union1d(cum_in, cum_out)
        cuts = cuts[cuts > 0].astype(np.int64)
        starts = np.concatenate([np.zeros(min(len(cuts), 1), dtype=np.int64), cuts[:-1]])
        t_cls.append(e_cls[order][np.searchsorted(cum_in, starts, side="right")])
        t_slot.append(self.exit[1][np.searchsorted(cum_out, starts, side="right")])
        t_count.append((cuts - starts).astype(np.int64))
        cls_, slot, count = (np.concatenate(t) for t in (t_cls, t_slot, t_count))
        rank = np.append(self.slot_rank, len(self.slot_rank))[slot]  # unassigned (-1) last
        take = np.lexsort((rank, cls_))
        sequence = np.repeat(slot[take], count[take])
        vehicles = np.lexsort((np.arange(len(ready)), ready, self.inverse))
        slot_of = np.empty(len(ready), dtype=np.int64)
        slot_of[vehicles] = sequence
        return slot_of
