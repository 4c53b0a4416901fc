"""Booking rules: book, rebook, cancel, arrive, no-shows, overrides, estimates.

Every place in a slot is taken with `repository.take_place` (a conditional UPDATE): the
database, not this process, guarantees no slot is ever over capacity. Every change appends a
`BookingEvent`; owners are told through the outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.accounts.roles import Principal, Role
from borderflow.clock import Clock
from borderflow.declarations import lifecycle
from borderflow.declarations import service as declarations
from borderflow.declarations.models import Shipment
from borderflow.declarations.schemas import ShipmentStatus
from borderflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from borderflow.network.schemas import Direction, Network
from borderflow.outbox import service as outbox
from borderflow.queue import ledger, repository
from borderflow.queue.models import Booking, BookingEvent, CrossingSlot, WaitEstimate
from borderflow.queue.policy import (
    BookingStatus,
    Estimate,
    PriorityClass,
    QueuePolicy,
    SlotState,
    candidate_slots,
    estimate_crossing,
    nearest_windows,
)

MAX_TRIES = 25


class SlotFull(Conflict):
    pass


class BookingNotFound(NotFound):
    pass


class LimitReached(Conflict):
    pass


def event(session: Session, booking: Booking, *, action: str, actor: str, at: datetime,
          reason: str | None = None, **details: Any) -> None:
    session.add(BookingEvent(booking_id=booking.id, at=at, action=action, actor=actor,
                             reason=reason, details={k: _json(v) for k, v in details.items()}))


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def notify(session: Session, booking: Booking, *, topic: str, clock: Clock,
           **payload: Any) -> None:
    outbox.enqueue(
        session, topic=topic, recipient=f"org:{booking.organisation_id}", clock=clock,
        payload={"booking": str(booking.id), "shipment": str(booking.shipment_id),
                 "crossing": booking.crossing_id, "status": booking.status,
                 "slot_start": _json(booking.slot_start),
                 **{k: _json(v) for k, v in payload.items()}},
    )


def priority_of(shipment: Shipment) -> PriorityClass:
    return PriorityClass.perishable if shipment.shelf_life_hours else PriorityClass.regular


def _bookable_shipment(session: Session, shipment_id: uuid.UUID, principal: Principal
                       ) -> Shipment:
    if not principal.has(Role.enterprise_user):
        raise Forbidden("booking a crossing slot needs the enterprise_user role")
    if principal.has(Role.camera, Role.peer_platform) and not principal.has(Role.agency_system):
        raise Forbidden("machine clients of this kind cannot read declarations")
    # Only the owner books: another organisation's shipment is "not found", whether or not the
    # caller may otherwise see it (the same answer as `declarations.get_shipment` gives).
    shipment = repository.shipment_to_book(session, shipment_id, principal.organisation_id)
    if shipment is None:
        raise declarations.ShipmentNotFound(f"no shipment {shipment_id}", field="shipment_id")
    if shipment.status not in (ShipmentStatus.submitted.value, ShipmentStatus.amended.value):
        raise Conflict(f"a {shipment.status} shipment cannot be booked (submit it first)",
                       field="shipment_id", vi="phải gửi tờ khai trước khi đặt lượt",
                       zh="请先提交申报再预约")
    return shipment


def _window(shipment: Shipment, now: datetime, policy: QueuePolicy
            ) -> tuple[datetime, datetime | None, datetime]:
    """(ready, deadline, search end) for a shipment."""
    ready = max(now, shipment.arrival_from)
    deadline = (ready + timedelta(hours=shipment.shelf_life_hours)
                if shipment.shelf_life_hours else None)
    return ready, deadline, ready + policy.horizon


def _try_places(
    session: Session, candidates: list[SlotState], by_key: dict[tuple[str, datetime], int], *,
    priority: PriorityClass, now: datetime, policy: QueuePolicy,
) -> tuple[str, datetime, int] | None:
    for s in candidates[:MAX_TRIES]:
        slot_id = by_key[(s.crossing_id, s.start)]
        if repository.take_place(
            session, slot_id=slot_id, perishable=priority is PriorityClass.perishable,
            regular=priority is PriorityClass.regular,
            release_after=now + policy.perishable_release,
            restricted_ok=now <= s.start - policy.prereg_cutoff,
        ):
            return s.crossing_id, s.start, slot_id
    return None


def _windows(states: list[SlotState], *, priority: PriorityClass, now: datetime,
             ready: datetime, policy: QueuePolicy, preference: list[str]
             ) -> dict[str, list[dict[str, Any]]]:
    step = timedelta(minutes=policy.slot_minutes)
    from borderflow.queue.policy import free_places

    return {
        cid: [{"crossing": w.crossing_id, "start": w.start, "end": w.start + step,
               "free": free_places(w, priority, now, policy)} for w in ws]
        for cid, ws in nearest_windows(states, priority=priority, now=now, ready=ready,
                                       policy=policy, preference=preference).items()
    }


@dataclass
class Placed:
    """A new booking, the nearest free windows on each acceptable crossing, and the estimate
    given with it (None when not asked for)."""

    booking: Booking
    windows: dict[str, list[dict[str, Any]]]
    estimate: Estimate | None


def book(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal, clock: Clock,
    network: Network, policy: QueuePolicy, crossing: str | None = None,
    slot_start: datetime | None = None,
) -> tuple[Booking, dict[str, list[dict[str, Any]]]]:
    """Book a chosen slot or the earliest available one over the acceptable crossings.

    Returns the booking and the nearest free windows on each crossing (Hamburg-style)."""
    placed = place(session, shipment_id=shipment_id, principal=principal, clock=clock,
                   network=network, policy=policy, crossing=crossing, slot_start=slot_start,
                   with_estimate=False)
    return placed.booking, placed.windows


def place(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal, clock: Clock,
    network: Network, policy: QueuePolicy, crossing: str | None = None,
    slot_start: datetime | None = None, with_estimate: bool = True,
) -> Placed:
    """`book`, and (with `with_estimate`) the booking's estimate, stored like every estimate.

    Contention: the slots are read as plain rows without locks; everything the estimate needs
    to read is read before a place is taken, so that from `take_place` (which locks the slot's
    row) to the commit only the new rows are written."""
    shipment = _bookable_shipment(session, shipment_id, principal)
    live, open_bookings = repository.live_and_open(session, shipment.id,
                                                   shipment.organisation_id)
    if live:
        raise Conflict("this shipment already has a booking: rebook or cancel it",
                       field="shipment_id")
    if open_bookings >= policy.max_open_bookings_per_org:
        raise LimitReached(f"your organisation has {policy.max_open_bookings_per_org} open "
                           "bookings, the most allowed", field="shipment_id")
    crossings = list(shipment.crossings)
    if crossing is not None:
        if crossing not in crossings:
            raise InvalidInput(f"crossing {crossing} is not among the shipment's crossings",
                               field="crossing")
        crossings = [crossing]
    now = clock.now()
    priority = priority_of(shipment)
    ready, deadline, end = _window(shipment, now, policy)
    direction = Direction(shipment.direction)
    everywhere = list(shipment.crossings)  # windows are shown on every acceptable crossing
    asked = ledger.align(slot_start, policy) if slot_start is not None else None

    # Earliest available needs only the first slots with room of each crossing: the first
    # MAX_TRIES candidates and the nearest windows (even after this booking fills one) are
    # among them. A chosen slot is looked for in the whole horizon.
    first_free = None if slot_start is not None else repository.FirstFree(
        per_crossing=max(MAX_TRIES, policy.windows_per_crossing + 1) + 1,
        regular=priority is PriorityClass.regular,
        release_after=now + policy.perishable_release,
        restricted_from=now + policy.prereg_cutoff)

    def load() -> list[SlotState]:
        snap = ledger.snapshot(session, network=network, crossing_ids=everywhere,
                               direction=direction, start=ready, end=end, clock=clock,
                               policy=policy, first_free=first_free)
        by_key.update({(s.crossing_id, s.start): slot_id for slot_id, s in snap})
        return [s for _, s in snap]

    def eligible(all_states: list[SlotState]) -> list[SlotState]:
        states = [s for s in all_states if s.crossing_id in crossings]
        if asked is not None:
            states = [s for s in states if s.start == asked]
        return candidate_slots(states, priority=priority, now=now, ready=ready,
                               deadline=deadline, policy=policy, preference=crossings)

    by_key: dict[tuple[str, datetime], int] = {}
    all_states = load()
    if asked is not None and not any(
            s.start == asked and s.crossing_id in crossings for s in all_states):
        raise InvalidInput("no such slot on the shipment's crossings", field="slot_start")
    candidates = eligible(all_states)
    booking = Booking(
        id=uuid.uuid4(), shipment_id=shipment.id, organisation_id=shipment.organisation_id,
        direction=direction.value, priority=priority.value,
        perishable=priority is PriorityClass.perishable, status=BookingStatus.active.value,
        late=False, rebook_count=0, created_by=principal.actor, created_at=now, updated_at=now,
    )
    # The estimate's reads for the slot most likely taken (the first candidate), before any
    # lock is held; read again only if another slot is taken.
    step = timedelta(minutes=policy.slot_minutes)
    inputs = (_estimate_inputs(session, booking, candidates[0], step)
              if with_estimate and candidates else None)
    taken = _try_places(session, candidates, by_key, priority=priority, now=now, policy=policy)
    for _ in range(3 if slot_start is None else 0):
        if taken is not None or not candidates:
            break
        # Others took the places we saw free: look again (earliest available means just that).
        all_states = load()
        candidates = eligible(all_states)
        taken = _try_places(session, candidates, by_key, priority=priority, now=now,
                            policy=policy)
    if taken is None:
        # Nothing was tried when the snapshot showed every candidate full: it is fresh enough
        # to list the windows; after failed tries, look again.
        windows = _windows(all_states if not candidates else load(), priority=priority,
                           now=now, ready=ready, policy=policy, preference=everywhere)
        raise SlotFull(
            "no free place in the slot asked for" if slot_start else
            "no free slot within the horizon" + (" and the cargo's shelf life" if deadline
                                                 else ""),
            field="slot_start" if slot_start else "shipment_id",
            vi="không còn chỗ trong khung giờ này", zh="该时段已满",
            details={"nearest_windows": windows})
    crossing_id, start, slot_id = taken
    booking.crossing_id, booking.slot_id, booking.slot_start = crossing_id, slot_id, start
    state = next(s for s in all_states if (s.crossing_id, s.start) == (crossing_id, start))
    est: Estimate | None = None
    if with_estimate:
        if inputs is None or inputs.slot != state:
            inputs = _estimate_inputs(session, booking, state, step)
        est = _estimate(session, booking=booking, inputs=inputs, clock=clock, policy=policy,
                        record=False)
    # From here on only writes (the slot's row stays locked until the commit).
    session.add(booking)
    lifecycle.mark_slot_booked(session, shipment=shipment, slot_start=start,
                               actor=principal.actor, clock=clock)
    event(session, booking, action="booked", actor=principal.actor, at=now,
          slot_start=start, crossing=crossing_id, priority=priority.value)
    notify(session, booking, topic="booking.created", clock=clock)
    if est is not None:
        _record(session, booking, est, clock)
    after = [replace(s, booked=s.booked + 1,
                     booked_perishable=s.booked_perishable + booking.perishable)
             if (s.crossing_id, s.start) == (crossing_id, start) else s for s in all_states]
    return Placed(booking, _windows(after, priority=priority, now=now, ready=ready,
                                    policy=policy, preference=everywhere), est)


def get_booking(session: Session, *, booking_id: uuid.UUID, principal: Principal,
                for_update: bool = False) -> Booking:
    if principal.has(Role.camera, Role.peer_platform) and not principal.has(Role.agency_system):
        raise Forbidden("machine clients of this kind cannot read bookings")
    booking = repository.get_booking(session, booking_id, for_update=for_update)
    missing = BookingNotFound(f"no booking {booking_id}", field="booking_id")
    if booking is None:
        raise missing
    # Visible exactly when its shipment is visible to the caller; otherwise the same answer as
    # for a booking that does not exist (nothing leaks).
    try:
        declarations.get_shipment(session, shipment_id=booking.shipment_id,
                                  principal=principal)
    except declarations.ShipmentNotFound:
        raise missing from None
    return booking


def _own(booking: Booking, principal: Principal) -> None:
    if not principal.has(Role.enterprise_user) or \
            booking.organisation_id != principal.organisation_id:
        raise Forbidden("only the enterprise that booked may change this booking")


def _release(session: Session, booking: Booking, *, clock: Clock, actor: str,
             status: BookingStatus, reason: str | None, action: str | None = None) -> None:
    if booking.slot_id is not None and booking.status == BookingStatus.active.value:
        repository.release_place(session, slot_id=booking.slot_id, perishable=booking.perishable)
    booking.status = status.value
    booking.updated_at = clock.now()
    event(session, booking, action=action or status.value, actor=actor, at=clock.now(),
          reason=reason)


def cancellations_today(session: Session, organisation_id: uuid.UUID, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(BookingEvent).join(
            Booking, Booking.id == BookingEvent.booking_id).where(
            Booking.organisation_id == organisation_id, BookingEvent.action == "cancelled",
            BookingEvent.at >= now - timedelta(days=1))) or 0


def cancel(session: Session, *, booking_id: uuid.UUID, principal: Principal, clock: Clock,
           policy: QueuePolicy, reason: str) -> Booking:
    booking = get_booking(session, booking_id=booking_id, principal=principal, for_update=True)
    _own(booking, principal)
    if booking.status not in (BookingStatus.active.value, BookingStatus.unplaced.value):
        raise Conflict(f"a {booking.status} booking cannot be cancelled", field="status")
    if cancellations_today(session, booking.organisation_id, clock.now()) >= \
            policy.max_cancellations_per_day:
        raise LimitReached("too many cancellations in the last 24 hours", field="booking_id")
    _release(session, booking, clock=clock, actor=principal.actor,
             status=BookingStatus.cancelled, reason=reason)
    shipment = session.get(Shipment, booking.shipment_id)
    assert shipment is not None
    lifecycle.mark_slot_booked(session, shipment=shipment, slot_start=None,
                                  actor=principal.actor, clock=clock)
    notify(session, booking, topic="booking.cancelled", clock=clock, reason=reason)
    return booking


def rebook(session: Session, *, booking_id: uuid.UUID, principal: Principal, clock: Clock,
           network: Network, policy: QueuePolicy, crossing: str | None,
           slot_start: datetime | None) -> tuple[Booking, dict[str, list[dict[str, Any]]]]:
    """Move to another slot (limited: speculative rebooking is how queues get gamed)."""
    old = get_booking(session, booking_id=booking_id, principal=principal, for_update=True)
    _own(old, principal)
    if old.status != BookingStatus.active.value:
        raise Conflict(f"a {old.status} booking cannot be rebooked", field="status")
    if old.rebook_count >= policy.max_rebookings:
        raise LimitReached(f"a booking can be moved at most {policy.max_rebookings} times",
                           field="booking_id")
    count = old.rebook_count
    _release(session, old, clock=clock, actor=principal.actor, status=BookingStatus.cancelled,
             reason="rebooked", action="moved")
    session.flush()
    new, windows = book(session, shipment_id=old.shipment_id, principal=principal, clock=clock,
                        network=network, policy=policy, crossing=crossing, slot_start=slot_start)
    new.rebook_count = count + 1
    event(session, new, action="rebooked", actor=principal.actor, at=clock.now(),
          previous=str(old.id))
    return new, windows


@dataclass(frozen=True)
class _EstimateInputs:
    slot: SlotState
    slot_length: timedelta
    ahead: int
    in_slot: int
    lateness_p90: timedelta


def _estimate_inputs(session: Session, booking: Booking, slot: SlotState,
                     slot_length: timedelta) -> _EstimateInputs:
    """What an estimate reads, for `booking` as if it were in `slot` (two reads, no lock)."""
    moved = booking.slot_start, booking.crossing_id
    booking.slot_start, booking.crossing_id = slot.start, slot.crossing_id
    try:
        ahead, in_slot = repository.ahead_of(session, booking)
    finally:
        booking.slot_start, booking.crossing_id = moved
    samples = sorted(repository.lateness_samples(session, slot.crossing_id))
    p90 = timedelta(minutes=samples[int(0.9 * (len(samples) - 1))]) if samples else timedelta(0)
    return _EstimateInputs(slot, slot_length, ahead, in_slot, p90)


def _estimate(session: Session, *, booking: Booking, inputs: _EstimateInputs, clock: Clock,
              policy: QueuePolicy, record: bool) -> Estimate:
    assert booking.slot_start is not None
    est = estimate_crossing(slot_start=booking.slot_start, slot_length=inputs.slot_length,
                            rank_in_slot=inputs.in_slot, slot_capacity=inputs.slot.capacity,
                            position=inputs.ahead + 1, lateness_p90=inputs.lateness_p90)
    if record:
        _record(session, booking, est, clock)
    return est


def _record(session: Session, booking: Booking, est: Estimate, clock: Clock) -> None:
    session.add(WaitEstimate(
        booking_id=booking.id, made_at=clock.now(), position=est.position,
        expected_at=est.expected_at, earliest_at=est.earliest_at, latest_at=est.latest_at,
        confidence=est.confidence, basis=est.basis))


def estimate(session: Session, *, booking: Booking, clock: Clock, policy: QueuePolicy,
             record: bool = True) -> Estimate | None:
    """Position and expected crossing time; every estimate given is stored."""
    if booking.status != BookingStatus.active.value or booking.slot_id is None:
        return None
    slot = session.get(CrossingSlot, booking.slot_id, populate_existing=True)
    assert slot is not None and booking.slot_start is not None
    inputs = _estimate_inputs(session, booking, ledger.state(slot), slot.end - slot.start)
    return _estimate(session, booking=booking, inputs=inputs, clock=clock, policy=policy,
                     record=record)


def override(session: Session, *, booking_id: uuid.UUID, principal: Principal, clock: Clock,
             network: Network, policy: QueuePolicy, reason: str,
             priority: PriorityClass | None, crossing: str | None,
             slot_start: datetime | None) -> Booking:
    """An operator's manual change. Nobody reorders the queue silently: every override is an
    audited event with a reason, and the owner is told."""
    if not principal.has(Role.operator, Role.admin):
        raise Forbidden("overrides need the operator role")
    booking = repository.get_booking(session, booking_id, for_update=True)
    if booking is None:
        raise BookingNotFound(f"no booking {booking_id}", field="booking_id")
    if booking.status != BookingStatus.active.value:
        raise Conflict(f"a {booking.status} booking cannot be overridden", field="status")
    now = clock.now()
    before = {"priority": booking.priority, "crossing": booking.crossing_id,
              "slot_start": booking.slot_start}
    if priority is not None:
        booking.priority = priority.value
    if slot_start is not None or crossing is not None:
        target_crossing = crossing or booking.crossing_id
        target = ledger.align(slot_start or booking.slot_start or now, policy)
        slots = ledger.ensure_slots(
            session, network=network, crossing_ids=[target_crossing],
            direction=Direction(booking.direction), start=target, end=target, clock=clock,
            policy=policy)
        match = [s for s in slots if s.start == target]
        if not match or not repository.take_place(
                session, slot_id=match[0].id, perishable=booking.perishable, regular=False,
                release_after=now, restricted_ok=True):
            raise SlotFull("that slot is full: an override never exceeds capacity",
                           field="slot_start")
        if booking.slot_id is not None:
            repository.release_place(session, slot_id=booking.slot_id,
                                     perishable=booking.perishable)
        booking.slot_id, booking.slot_start = match[0].id, match[0].start
        booking.crossing_id = target_crossing
    booking.updated_at = now
    event(session, booking, action="override", actor=principal.actor, at=now, reason=reason,
          before={k: _json(v) for k, v in before.items()},
          after={"priority": booking.priority, "crossing": booking.crossing_id,
                 "slot_start": _json(booking.slot_start)})
    from borderflow.audit import service as audit

    audit.record(session, clock=clock, actor=principal.actor, action="booking.override",
                 entity="booking", entity_id=booking.id, reason=reason,
                 changes={"before": {k: _json(v) for k, v in before.items()}})
    notify(session, booking, topic="booking.override", clock=clock, reason=reason)
    return booking
