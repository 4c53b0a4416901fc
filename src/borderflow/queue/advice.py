"""Dispatch advice for enterprises, and the public queue feed.

Travel times from the usual origins to the Lang Son border are approximations from the domain
brief (§5); an enterprise can always give its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.accounts.roles import Principal
from borderflow.clock import Clock
from borderflow.declarations import service as declarations
from borderflow.errors import InvalidInput
from borderflow.network import service as network_service
from borderflow.network.schemas import Direction, Network
from borderflow.queue import ledger, repository
from borderflow.queue.models import Booking
from borderflow.queue.policy import BookingStatus, QueuePolicy, candidate_slots
from borderflow.queue.schemas import DispatchAdvice, QueueFeed, QueueFeedEntry
from borderflow.queue.service import priority_of

# Hours from origin to the border (brief §5, approx.): Mekong Delta ~1,800 km / 36–48 h,
# Central Highlands ~1,400 km / ~30 h, Hanoi ~150 km / 3 h.
TRAVEL_HOURS = {
    "mekong delta": 42.0, "tien giang": 42.0, "ben tre": 42.0, "vinh long": 42.0,
    "dong thap": 42.0, "can tho": 44.0, "long an": 40.0, "tay ninh": 40.0,
    "central highlands": 30.0, "dak lak": 30.0, "lam dong": 32.0, "gia lai": 28.0,
    "binh thuan": 34.0, "hanoi": 3.0, "bac giang": 2.5, "lang son": 0.5,
}
SAFETY = timedelta(hours=2)
"""Margin for breaks and traffic between dispatch and the slot."""


def travel_hours_for(origin: str | None, given: float | None) -> float:
    if given is not None:
        return given
    if origin and origin.strip().lower() in TRAVEL_HOURS:
        return TRAVEL_HOURS[origin.strip().lower()]
    raise InvalidInput("unknown origin: give travel_hours", field="travel_hours",
                       vi="không rõ nơi xuất phát: hãy nhập số giờ di chuyển",
                       zh="出发地未知：请填写行驶小时数")


def dispatch_advice(session: Session, *, shipment_id: uuid.UUID, principal: Principal,
                    clock: Clock, network: Network, policy: QueuePolicy,
                    travel_hours: float | None) -> DispatchAdvice:
    """When to dispatch to meet the booked slot (or the earliest free one), and a warning when
    no slot exists within the cargo's shelf life: then don't send the truck."""
    shipment = declarations.get_shipment(session, shipment_id=shipment_id, principal=principal)
    hours = travel_hours_for(shipment.origin, travel_hours)
    travel = timedelta(hours=hours)
    now = clock.now()
    booking = repository.live_booking_for(session, shipment.id)
    slot_start = booking.slot_start if booking is not None else None
    life = timedelta(hours=shipment.shelf_life_hours) if shipment.shelf_life_hours else None
    if slot_start is None:
        earliest = now + travel
        slots = ledger.ensure_slots(
            session, network=network, crossing_ids=list(shipment.crossings),
            direction=Direction(shipment.direction), start=earliest,
            end=earliest + policy.horizon, clock=clock, policy=policy)
        found = candidate_slots([ledger.state(s) for s in slots], priority=priority_of(shipment),
                                now=now, ready=earliest, deadline=None, policy=policy)
        slot_start = found[0].start if found else None
    if slot_start is None:
        return DispatchAdvice(shipment_id=shipment.id, slot_start=None, travel_hours=hours,
                              dispatch_at=None, latest_dispatch_at=None, send=False,
                              warning="no free slot within the horizon: do not dispatch")
    latest = slot_start - travel
    dispatch_at = max(now, latest - SAFETY)
    warning = None
    send = True
    if latest < now:
        send = False
        warning = "the slot cannot be reached in time: rebook before dispatching"
    elif life is not None and slot_start - dispatch_at > life:
        send = False
        warning = ("the slot is beyond the cargo's shelf life from dispatch: do not send the "
                   "truck yet")
    return DispatchAdvice(shipment_id=shipment.id, slot_start=slot_start, travel_hours=hours,
                          dispatch_at=dispatch_at if send else None, latest_dispatch_at=latest,
                          send=send, warning=warning)


def queue_feed(session: Session, *, network: Network, clock: Clock, policy: QueuePolicy
               ) -> QueueFeed:
    """The public, read-only feed (like CBP's): per crossing and direction, what is booked,
    what the gate can clear, who waits at the border, and the next free slot."""
    now = clock.now()
    day = now + timedelta(hours=24)
    active = Booking.status == BookingStatus.active.value
    key = (Booking.crossing_id, Booking.direction)
    # One grouped query each, not one per crossing and direction.
    booked = {(c, d): n for c, d, n in session.execute(
        select(*key, func.count()).where(active, Booking.slot_start >= now,
                                         Booking.slot_start < day).group_by(*key))}
    waiting = {(c, d): n for c, d, n in session.execute(
        select(*key, func.count()).where(active, Booking.arrived_at.is_not(None))
        .group_by(*key))}
    next_free: dict[tuple[str, str], datetime] = {}
    for direction in Direction:
        for s in repository.slots(session, network_id=network.id,
                                  crossing_ids=[c.id for c in network.crossings],
                                  direction=direction.value, start=ledger.align(now, policy),
                                  end=now + policy.horizon):
            if s.start >= now and s.booked < s.capacity:
                next_free.setdefault((s.crossing_id, direction.value), s.start)
    entries = []
    for crossing in network.crossings:
        for direction in Direction:
            k = (crossing.id, direction.value)
            capacity = network_service.crossing_capacity(
                session, network=network, crossing_id=crossing.id, direction=direction,
                start=now, end=day).total
            free = next_free.get(k)
            entries.append(QueueFeedEntry(
                crossing=crossing.id, direction=direction, booked_next_24h=booked.get(k, 0),
                capacity_next_24h=capacity, waiting_at_border=waiting.get(k, 0),
                next_free_slot=free,
                expected_wait_hours=round((free - now).total_seconds() / 3600, 1)
                if free else None))
    return QueueFeed(generated_at=now, network=network.id, crossings=entries)
