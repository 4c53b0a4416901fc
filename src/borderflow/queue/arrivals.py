"""Lateness and no-shows.

On time: arrived by the end of the slot. Late within the grace window: keeps the slot at the
lowest priority. Later: the slot is lost and the next free one is offered (booked at once, the
owner told). A booking whose slot and grace passed with no arrival is a no-show, counted per
enterprise. When the platform or a gate cancels, nobody is penalised (see `replan`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.accounts.roles import Principal, Role
from borderflow.clock import Clock, require_aware
from borderflow.errors import Conflict, Forbidden, InvalidInput
from borderflow.network.schemas import Direction, Network
from borderflow.queue import ledger, repository
from borderflow.queue.models import Booking, CrossingSlot
from borderflow.queue.policy import BookingStatus, PriorityClass, QueuePolicy, candidate_slots
from borderflow.queue.service import BookingNotFound, _release, event, notify

FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of cameras drift a little
RECORDERS = (Role.camera, Role.yard_operator, Role.customs_officer, Role.border_guard_officer,
             Role.operator)


def record_arrival(session: Session, *, booking_id: uuid.UUID, at: datetime, source: str,
                   principal: Principal, clock: Clock, network: Network,
                   policy: QueuePolicy) -> Booking:
    if not principal.has(*RECORDERS):
        raise Forbidden("arrivals are recorded by cameras, yards, officers or operators")
    at = require_aware(at, "at")
    if at > clock.now() + FUTURE_TOLERANCE:
        raise InvalidInput("an arrival cannot be in the future", field="at",
                           vi="thời điểm đến không thể ở tương lai", zh="到达时间不能在未来")
    booking = repository.get_booking(session, booking_id, for_update=True)
    if booking is None:
        raise BookingNotFound(f"no booking {booking_id}", field="booking_id")
    officer = not principal.has(Role.operator) and principal.kind == "user"
    if (officer or principal.crossings) and booking.crossing_id not in principal.crossings:
        raise Forbidden(f"you are not assigned to {booking.crossing_id}")
    if booking.status != BookingStatus.active.value or booking.slot_id is None:
        raise Conflict(f"a {booking.status} booking cannot arrive", field="status")
    if booking.arrived_at is not None:
        raise Conflict("arrival already recorded", field="booking_id")
    slot = session.get(CrossingSlot, booking.slot_id)
    assert slot is not None
    actor = f"{principal.actor} ({source})"
    booking.arrived_at = at
    booking.updated_at = clock.now()
    if at <= slot.end:
        event(session, booking, action="arrived", actor=actor, at=at, on_time=True)
    elif at <= slot.end + policy.grace:
        booking.late = True
        booking.priority = PriorityClass.regular.value
        event(session, booking, action="arrived_late", actor=actor, at=at,
              minutes_late=round((at - slot.end).total_seconds() / 60))
    else:
        _release(session, booking, clock=clock, actor=actor, status=BookingStatus.lost,
                 reason="arrived after the grace window")
        notify(session, booking, topic="booking.lost", clock=clock)
        session.flush()
        offer_next(session, lost=booking, ready=at, clock=clock, network=network, policy=policy)
    return booking


def offer_next(session: Session, *, lost: Booking, ready: datetime, clock: Clock,
               network: Network, policy: QueuePolicy) -> Booking | None:
    """Book the next free slot at the same crossing for a vehicle that lost its slot."""
    now = clock.now()
    slots = ledger.ensure_slots(session, network=network, crossing_ids=[lost.crossing_id],
                                direction=Direction(lost.direction), start=ready,
                                end=ready + policy.horizon, clock=clock, policy=policy)
    by_key = {(s.crossing_id, s.start): s.id for s in slots}
    priority = PriorityClass.regular
    for s in candidate_slots([ledger.state(x) for x in slots], priority=priority, now=now,
                             ready=ready, deadline=None, policy=policy)[:25]:
        slot_id = by_key[(s.crossing_id, s.start)]
        if repository.take_place(session, slot_id=slot_id, perishable=False, regular=True,
                                 release_after=now + policy.perishable_release,
                                 restricted_ok=now <= s.start - policy.prereg_cutoff):
            new = Booking(
                id=uuid.uuid4(), shipment_id=lost.shipment_id,
                organisation_id=lost.organisation_id, crossing_id=s.crossing_id,
                direction=lost.direction, slot_id=slot_id, slot_start=s.start,
                priority=priority.value, perishable=False, status=BookingStatus.active.value,
                created_by="platform", created_at=now, updated_at=now, arrived_at=None,
            )
            session.add(new)
            session.flush()
            event(session, new, action="offered_after_lateness", actor="platform", at=now,
                  previous=str(lost.id))
            notify(session, new, topic="booking.offered", clock=clock)
            return new
    return None


def sweep_no_shows(session: Session, *, clock: Clock, policy: QueuePolicy) -> int:
    """Mark bookings whose slot and grace passed without an arrival as no-shows."""
    now = clock.now()
    step = timedelta(minutes=policy.slot_minutes)
    count = 0
    for booking in repository.overdue(session, before=now - step - policy.grace):
        _release(session, booking, clock=clock, actor="platform", status=BookingStatus.no_show,
                 reason="no arrival by the end of the grace window")
        notify(session, booking, topic="booking.no_show", clock=clock)
        count += 1
    return count


def no_show_rate(session: Session, organisation_id: uuid.UUID) -> tuple[int, int]:
    """(no-shows, bookings that reached their slot) for an enterprise."""
    rows = dict(session.execute(
        select(Booking.status, func.count()).where(
            Booking.organisation_id == organisation_id,
            Booking.status.in_([BookingStatus.no_show.value, BookingStatus.crossed.value,
                                BookingStatus.lost.value]) | Booking.arrived_at.is_not(None))
        .group_by(Booking.status)).all())
    total = sum(int(v) for v in rows.values())
    return int(rows.get(BookingStatus.no_show.value, 0)), total
