"""The capacity ledger: crossing slots materialised from THE capacity function.

Slots are created when first needed (booking, listing) for the policy's slot length, with their
capacity, perishable reserve and pre-registered-only flag from `network.service.crossing_capacity`.
When capacity changes (a closure, a suspension, extended hours) `refresh_capacity` updates the
slots; bookings that no longer fit are handed to re-planning before the capacity is lowered, so
`booked <= capacity` holds at every statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from borderflow.clock import Clock
from borderflow.network import service as network_service
from borderflow.network.capacity import CapacityTable
from borderflow.network.schemas import Direction, Network
from borderflow.queue import repository
from borderflow.queue.models import CrossingSlot
from borderflow.queue.policy import QueuePolicy, SlotState, reserved_for_perishables


def align(when: datetime, policy: QueuePolicy) -> datetime:
    """The start of the slot containing `when` (slots are aligned on UTC midnight)."""
    step = timedelta(minutes=policy.slot_minutes)
    midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + ((when - midnight) // step) * step


def _table(session: Session, network: Network, crossing_id: str, direction: Direction,
           start: datetime, end: datetime, policy: QueuePolicy) -> CapacityTable:
    return network_service.crossing_capacity(
        session, network=network, crossing_id=crossing_id, direction=direction, start=start,
        end=end, slot=timedelta(minutes=policy.slot_minutes))


def _bounds(start: datetime, end: datetime, policy: QueuePolicy) -> tuple[datetime, datetime, int]:
    """Aligned `[start, end]` as a half-open range of whole slots, and how many slots it has."""
    step = timedelta(minutes=policy.slot_minutes)
    start, end = align(start, policy), align(end, policy) + step
    return start, end, int((end - start) / step)


def _insert_missing(session: Session, *, network: Network, crossing_id: str,
                    direction: Direction, start: datetime, end: datetime, now: datetime,
                    policy: QueuePolicy) -> None:
    table = _table(session, network, crossing_id, direction, start, end, policy)
    rows = [
        {"network_id": network.id, "crossing_id": crossing_id, "direction": direction.value,
         "start": s.start, "end": s.end, "capacity": s.capacity,
         "perishable_reserved": reserved_for_perishables(s.capacity, policy),
         "preregistered_only": s.preregistered_only, "booked": 0, "booked_perishable": 0,
         "updated_at": now}
        for s in table.slots()
    ]
    repository.insert_missing_slots(session, rows)


def ensure_slots(
    session: Session, *, network: Network, crossing_ids: Sequence[str], direction: Direction,
    start: datetime, end: datetime, clock: Clock, policy: QueuePolicy,
) -> list[CrossingSlot]:
    """The slots of `crossing_ids` in `[start, end)`, creating the missing ones."""
    start, end, expected = _bounds(start, end, policy)
    now = clock.now()
    for cid in sorted(crossing_ids):  # one order for everyone: concurrent inserts never deadlock
        have = repository.count_slots(session, network_id=network.id, crossing_id=cid,
                                      direction=direction.value, start=start, end=end)
        if have >= expected:
            continue
        _insert_missing(session, network=network, crossing_id=cid, direction=direction,
                        start=start, end=end, now=now, policy=policy)
    return repository.slots(session, network_id=network.id, crossing_ids=crossing_ids,
                            direction=direction.value, start=start, end=end)


def snapshot(
    session: Session, *, network: Network, crossing_ids: Sequence[str], direction: Direction,
    start: datetime, end: datetime, clock: Clock, policy: QueuePolicy,
    first_free: repository.FirstFree | None = None,
) -> list[tuple[int, SlotState]]:
    """(slot id, state) of the slots of `crossing_ids` in `[start, end)`, earliest first, as
    `ensure_slots` would give them, but read as plain rows in one statement without locks: the
    missing slots are created only when the read shows some are missing (then read again).
    With `first_free`, only the first slots with room of each crossing (see `FirstFree`)."""
    start, end, expected = _bounds(start, end, policy)

    def read() -> list[Any]:
        return repository.slot_rows(session, network_id=network.id, crossing_ids=crossing_ids,
                                    direction=direction.value, start=start, end=end,
                                    first_free=first_free)

    rows = read()
    have = {r.crossing_id: r.n for r in rows}
    missing = [cid for cid in sorted(set(crossing_ids)) if have.get(cid, 0) < expected]
    if missing:
        now = clock.now()
        for cid in missing:  # one order for everyone: concurrent inserts never deadlock
            _insert_missing(session, network=network, crossing_id=cid, direction=direction,
                            start=start, end=end, now=now, policy=policy)
        rows = read()
    return [(r.id, SlotState(crossing_id=r.crossing_id, start=r.start, capacity=r.capacity,
                             perishable_reserved=r.perishable_reserved, booked=r.booked,
                             booked_perishable=r.booked_perishable,
                             preregistered_only=r.preregistered_only)) for r in rows]


def state(slot: CrossingSlot) -> SlotState:
    return SlotState(crossing_id=slot.crossing_id, start=slot.start, capacity=slot.capacity,
                     perishable_reserved=slot.perishable_reserved, booked=slot.booked,
                     booked_perishable=slot.booked_perishable,
                     preregistered_only=slot.preregistered_only)


def new_capacities(
    session: Session, *, network: Network, slots: Sequence[CrossingSlot], policy: QueuePolicy,
) -> dict[int, tuple[int, bool]]:
    """What the capacity function says now for each slot: {slot id: (capacity, restricted)}."""
    out: dict[int, tuple[int, bool]] = {}
    groups: dict[tuple[str, str], list[CrossingSlot]] = {}
    for s in slots:
        groups.setdefault((s.crossing_id, s.direction), []).append(s)
    for (cid, direction), group in groups.items():
        first = min(s.start for s in group)
        last = max(s.end for s in group)
        table = _table(session, network, cid, Direction(direction), first, last, policy)
        by_start = {s.start: s for s in table.slots()}
        for s in group:
            fresh = by_start.get(s.start)
            out[s.id] = (fresh.capacity, fresh.preregistered_only) if fresh else (0, False)
    return out


def apply_capacities(session: Session, *, slots: Sequence[CrossingSlot],
                     capacities: dict[int, tuple[int, bool]], policy: QueuePolicy,
                     clock: Clock) -> None:
    """Write new capacities (callers first move out bookings that would not fit)."""
    now = clock.now()
    for s in slots:
        capacity, restricted = capacities[s.id]
        if s.booked > capacity:
            raise AssertionError(f"slot {s.id} still holds {s.booked} > {capacity}")
        s.capacity = capacity
        s.perishable_reserved = reserved_for_perishables(capacity, policy)
        s.preregistered_only = restricted
        s.updated_at = now
    session.flush()
