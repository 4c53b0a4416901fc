"""Re-planning when a crossing's capacity changes (closure, suspension, extended hours).

In one transaction: the slots' capacities are recomputed from THE capacity function; every
booking in a slot that no longer holds its bookings is released; the optimal allocator (the same
pure function planners run with `borderflow allocate`) places them again over all the crossings
each shipment accepts, perishables first (higher weight per hour of waiting); each owner is told
the new slot through the outbox, or told not to dispatch when no slot exists within the horizon
and shelf life. Vehicles moved by the platform or a gate are never penalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from borderflow.clock import Clock
from borderflow.declarations import lifecycle
from borderflow.declarations.models import Shipment
from borderflow.network.schemas import Direction, Network
from borderflow.queue import ledger, repository
from borderflow.queue.allocation import AllocationInstance, allocate
from borderflow.queue.models import Booking, CrossingSlot
from borderflow.queue.policy import BookingStatus, PriorityClass, QueuePolicy
from borderflow.queue.service import event, notify

SEP = "|"


@dataclass
class ReplanReport:
    slots_changed: int = 0
    moved: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    cost_hours: float = 0.0


def _gate(crossing: str, direction: str) -> str:
    return f"{crossing}{SEP}{direction}"


def replan(
    session: Session, *, network: Network, crossing_ids: Sequence[str], start: datetime,
    end: datetime | None, clock: Clock, policy: QueuePolicy, actor: str, reason: str,
) -> ReplanReport:
    """Bring existing slots of `crossing_ids` in `[start, end)` in line with the capacity
    function and re-allocate the bookings that no longer fit."""
    now = clock.now()
    report = ReplanReport()
    lo = max(start, now - timedelta(minutes=policy.slot_minutes))
    hi = end if end is not None else now + policy.horizon
    slots: list[CrossingSlot] = []
    for direction in Direction:
        slots += repository.slots(session, network_id=network.id, crossing_ids=crossing_ids,
                                  direction=direction.value, start=ledger.align(lo, policy),
                                  end=hi)
    if not slots:
        return report
    fresh = ledger.new_capacities(session, network=network, slots=slots, policy=policy)
    changed = [s for s in slots if fresh[s.id] != (s.capacity, s.preregistered_only)]
    report.slots_changed = len(changed)
    overfull = {s.id for s in changed if s.booked > fresh[s.id][0]}
    displaced: list[Booking] = []
    if overfull:
        affected = repository.active_in_window(session, crossing_ids=crossing_ids,
                                               start=ledger.align(lo, policy), end=hi)
        displaced = [b for b in affected if b.slot_id in overfull]
        for b in displaced:
            assert b.slot_id is not None
            repository.release_place(session, slot_id=b.slot_id, perishable=b.perishable)
        session.flush()
        for s in changed:
            session.refresh(s)
    ledger.apply_capacities(session, slots=changed, capacities=fresh, policy=policy,
                            clock=clock)
    if displaced:
        _reallocate(session, displaced, network=network, clock=clock, policy=policy,
                    actor=actor, reason=reason, report=report)
    return report


def _reallocate(session: Session, displaced: list[Booking], *, network: Network, clock: Clock,
                policy: QueuePolicy, actor: str, reason: str, report: ReplanReport) -> None:
    now = clock.now()
    shipments = {b.id: session.get(Shipment, b.shipment_id) for b in displaced}
    vehicles = []
    ready_at: dict[str, datetime] = {}
    crossings_by_dir: dict[str, set[str]] = {}
    for b in displaced:
        shipment = shipments[b.id]
        assert shipment is not None
        ready = max(now, shipment.arrival_from)
        ready_at[str(b.id)] = ready
        deadline = (ready + timedelta(hours=shipment.shelf_life_hours)
                    if shipment.shelf_life_hours else None)
        crossings_by_dir.setdefault(b.direction, set()).update(shipment.crossings)
        vehicles.append({
            "id": str(b.id), "ready": ready, "deadline": deadline,
            "gates": [_gate(c, b.direction) for c in shipment.crossings],
            "weight": policy.weights[PriorityClass(b.priority)],
        })
    horizon_end = now + policy.horizon
    free_slots = []
    slot_ids: dict[tuple[str, datetime], int] = {}
    for direction, crossings in crossings_by_dir.items():
        for s in ledger.ensure_slots(session, network=network, crossing_ids=sorted(crossings),
                                     direction=Direction(direction), start=now,
                                     end=horizon_end, clock=clock, policy=policy):
            free = s.capacity - s.booked
            if free > 0 and s.start >= ledger.align(now, policy):
                gate = _gate(s.crossing_id, direction)
                free_slots.append({"gate": gate, "start": s.start, "capacity": free})
                slot_ids[(gate, s.start)] = s.id
    plan = allocate(AllocationInstance.model_validate({
        "horizon_end": horizon_end, "unassigned_penalty_hours": policy.unassigned_penalty_hours,
        "slots": free_slots, "vehicles": vehicles}))
    by_id = {str(b.id): b for b in displaced}
    for a in plan.assignments:
        b = by_id[a.vehicle]
        slot_id = slot_ids[(a.gate, a.slot_start)]
        taken = repository.take_place(session, slot_id=slot_id, perishable=b.perishable,
                                      regular=False, release_after=now, restricted_ok=True)
        assert taken, "the allocator respects free capacity"
        crossing = a.gate.split(SEP)[0]
        before = (b.crossing_id, b.slot_start)
        b.slot_id, b.slot_start, b.crossing_id = slot_id, a.slot_start, crossing
        b.updated_at = now
        (report.kept if before == (crossing, a.slot_start) else report.moved).append(str(b.id))
        event(session, b, action="replanned", actor=actor, at=now, reason=reason,
              previous_crossing=before[0], previous_slot=before[1], crossing=crossing,
              slot_start=a.slot_start)
        shipment = shipments[b.id]
        assert shipment is not None
        lifecycle.mark_slot_booked(session, shipment=shipment, slot_start=a.slot_start,
                                      actor=actor, clock=clock)
        notify(session, b, topic="booking.replanned", clock=clock, reason=reason,
               previous_crossing=before[0], previous_slot=before[1])
        report.cost_hours += (a.slot_start - ready_at[a.vehicle]).total_seconds() / 3600
    for vid in plan.unassigned:
        b = by_id[vid]
        b.status = BookingStatus.unplaced.value
        b.slot_id, b.slot_start = None, None
        b.updated_at = now
        report.unplaced.append(vid)
        event(session, b, action="unplaced", actor=actor, at=now, reason=reason)
        shipment = shipments[b.id]
        assert shipment is not None
        lifecycle.mark_slot_booked(session, shipment=shipment, slot_start=None, actor=actor,
                                      clock=clock)
        notify(session, b, topic="booking.unplaced", clock=clock, reason=reason,
               advice="no slot within the horizon and shelf life: do not dispatch")
