"""The optimal re-planning allocator (issue 4): vehicles to crossing slots, least weighted wait.

A pure function of a snapshot: the live queue and the simulation call `allocate` (models) or
`allocate_arrays` (arrays); planners and auditors run `borderflow allocate` (`allocate_cli`).

**Problem.** Vehicle i may take slot s if s's gate is in its gates, ready_i <= start_s, and
start_s <= deadline_i (if given); no slot over capacity. Cost = Σ weight_i × (start_s − ready_i)
hours over assigned vehicles + weight_i × (horizon_end + P − ready_i) over unassigned ones.

**Method: successive shortest paths over the slots** (`allocation_ssp`): vehicles are inserted
heaviest first, each by a shortest augmenting path in the residual network with slot prices as
potentials; the vehicle nodes are contracted away (an edge between two slots moves the cheapest
vehicle between them: the lightest to a later slot, the heaviest to an earlier one), so a search
runs over at most slots + 1 nodes. This is the textbook min-cost-flow algorithm on the
transportation problem (vehicles × eligible slots, capacities, an "unassigned" sink); with
integer costs it ends at an exact optimum of the LP, whose constraint matrix is totally
unimodular. Slots without capacity or after horizon_end + P (worse than unassigned) are left
out. Any plan can be checked independently with `allocation_certificate.certify_arrays`.

**Integer costs and precision.** Times are integer microseconds (P rounded to the microsecond),
counted from the earliest slot in units of the gcd of all slot offsets and U (hourly slots:
1 hour). Weights are scaled by 10^d, d the fewest decimals (<= 6) that make them all integers.
The integer objective is then a positive multiple of the true one plus a constant: **the plan is
exactly optimal for weights with at most 6 decimals** (`exact`). Other weights are rounded to
6 decimals; then cost − optimum <= 1e-6 × Σ_i |horizon_end + P − ready_i| weight·hours. If the
int64 range is short, d is lowered and `exact` is False. The cost reported is summed in floats
(math.fsum) from the plan itself.

**Determinism, first come first served among equals.** Vehicles with the same weight and the
same eligible slots are interchangeable: among them, the earlier ready (then the earlier in the
arrays; `allocate` sorts by id) takes the earlier slot, and the latest ready stay unassigned.
The plan depends on the instance's content only (not its order).
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
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from borderflow.errors import InvalidInput
from borderflow.queue.allocation_ssp import solve

NO_DEADLINE = int(np.iinfo(np.int64).max)
"""`vehicle_deadline` value meaning "no deadline" in `allocate_arrays`."""
MAX_WEIGHT_DECIMALS = 6
US_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_COST_HEADROOM = (2**63 - 1) // 64  # the solver adds a few weight × time terms; 16× spare
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
    searches: int
    """Insertions that needed a shortest-path search beyond their cheapest slot."""
    settled: int
    """Slots settled over all searches (the solver's work)."""


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
    epoch); `slot_gate` holds column indices of `vehicle_gates` (vehicles × gates, bool);
    `vehicle_deadline` holds NO_DEADLINE for none."""
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
        return ArrayAllocation(np.zeros(0, dtype=np.int64), 0.0, True, 0, 0, 0)

    kept, bounds, _, times, u_time = slot_grid(s_gate, s_start, s_cap, unassigned_at,
                                               n_gates)
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
    while float(weight.max()) * 10.0**decimals * span > _COST_HEADROOM:
        if decimals == 0:
            raise ValueError("times and weights span too wide a range for exact integer costs")
        decimals, exact = decimals - 1, False
    w_int = np.rint(weight * 10.0**decimals).astype(np.int64)
    ends = np.diff(bounds)
    last_or_end = np.where(last >= 0, last, np.where(first >= 0, ends[None, :] - 1, -1))
    order = np.lexsort((np.arange(n), ready, -w_int))  # heaviest first, then first ready
    local, _, searches, settled = solve(order, w_int, first, last_or_end, times, bounds,
                                        s_cap[kept], u_time)
    gate_of = np.repeat(np.arange(n_gates), ends)
    local = _first_come_among_equals(local, np.column_stack([w_int, first, last]), ready,
                                     np.lexsort((gate_of, times)))
    slot_of = np.append(kept, -1)[local]
    stop = np.append(s_start, unassigned_at)[slot_of]
    cost = math.fsum((weight * (stop - ready).astype(np.float64)).tolist())
    return ArrayAllocation(slot_of, cost, exact, decimals, searches, settled)


def slot_grid(s_gate: IntArray, s_start: IntArray, s_cap: IntArray, unassigned_at: int,
              n_gates: int) -> tuple[IntArray, IntArray, int, IntArray, int]:
    """The slots worth having (capacity > 0, not after `unassigned_at`: a later one is never
    better than staying unassigned), by gate then time: (their indices, per-gate bounds into
    them, the time unit = gcd of the offsets, their times and `unassigned_at` in that unit from
    the earliest of them)."""
    kept = np.flatnonzero((s_cap > 0) & (s_start <= unassigned_at))
    kept = kept[np.lexsort((s_start[kept], s_gate[kept]))]
    bounds = np.searchsorted(s_gate[kept], np.arange(n_gates + 1))
    t_ref = min(int(s_start[kept].min()), unassigned_at) if len(kept) else unassigned_at
    unit = int(np.gcd.reduce(np.append(s_start[kept] - t_ref, unassigned_at - t_ref))) or 1
    return (kept, bounds, unit, (s_start[kept] - t_ref) // unit,
            (unassigned_at - t_ref) // unit)


def _first_come_among_equals(slot: IntArray, keys: IntArray, ready: IntArray,
                             by_time: IntArray) -> IntArray:
    """Within each group of interchangeable vehicles (same `keys` row: integer weight, first
    and last eligible slot per gate), hand the group's slots out by (ready, position): the
    earliest ready takes the earliest slot (`by_time`: kept slots in time order), the latest
    stay unassigned (-1). Same cost, same slot counts."""
    _, group, _ = _group_rows(keys)
    rank = np.empty(len(by_time) + 1, dtype=np.int64)
    rank[by_time] = np.arange(len(by_time))
    rank[-1] = len(by_time)  # unassigned last
    sequence = slot[np.lexsort((rank[slot], group))]
    out = np.empty(len(slot), dtype=np.int64)
    out[np.lexsort((np.arange(len(slot)), ready, group))] = sequence
    return out


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
