"""Queue HTTP API: bookings, estimates, arrivals, overrides, dispatch advice, public feed."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from borderflow.accounts.roles import Principal, Role
from borderflow.deps import ClockDep, NetworkDep, PrincipalDep, SessionDep, require
from borderflow.queue import advice, arrivals, service
from borderflow.queue.models import Booking
from borderflow.queue.policy import Estimate, QueuePolicy
from borderflow.queue.schemas import (
    ArrivalIn,
    BookingCreate,
    BookingRead,
    BookingReply,
    CancelBooking,
    DispatchAdvice,
    EstimateRead,
    OverrideIn,
    QueueFeed,
    RebookRequest,
    WindowRead,
)

router = APIRouter(tags=["queue"])
public = APIRouter(tags=["public"])
Enterprise = Annotated[Principal, require(Role.enterprise_user)]
Operator = Annotated[Principal, require(Role.operator, Role.admin)]


def policy_of(request: Request) -> QueuePolicy:
    policy: QueuePolicy = request.app.state.queue_policy
    return policy


def _reply(session: SessionDep, booking: Booking, windows: dict[str, list[dict[str, Any]]],
           clock: ClockDep, policy: QueuePolicy) -> BookingReply:
    est = service.estimate(session, booking=booking, clock=clock, policy=policy)
    return _as_reply(booking, windows, est)


def _as_reply(booking: Booking, windows: dict[str, list[dict[str, Any]]],
              est: Estimate | None) -> BookingReply:
    return BookingReply(
        booking=BookingRead.model_validate(booking),
        estimate=EstimateRead(**vars(est)) if est else None,
        nearest_windows={k: [WindowRead(**w) for w in v] for k, v in windows.items()},
    )


@router.post("/bookings", response_model=BookingReply, status_code=status.HTTP_201_CREATED)
def book(body: BookingCreate, principal: Enterprise, session: SessionDep, clock: ClockDep,
         network: NetworkDep, request: Request) -> BookingReply:
    """Book a chosen slot, or the earliest available over the shipment's crossings. The reply
    lists the nearest free windows on each crossing; a full slot is a 409 that lists them too."""
    placed = service.place(
        session, shipment_id=body.shipment_id, principal=principal, clock=clock,
        network=network, policy=policy_of(request), crossing=body.crossing,
        slot_start=body.slot_start)
    return _as_reply(placed.booking, placed.windows, placed.estimate)


@router.get("/bookings/{booking_id}", response_model=BookingReply)
def read_booking(booking_id: uuid.UUID, principal: PrincipalDep, session: SessionDep,
                 clock: ClockDep, request: Request) -> BookingReply:
    """The booking with its queue position and expected crossing time (recomputed now; every
    estimate given is stored to be checked against what happens)."""
    booking = service.get_booking(session, booking_id=booking_id, principal=principal)
    return _reply(session, booking, {}, clock, policy_of(request))


@router.post("/bookings/{booking_id}/rebook", response_model=BookingReply)
def rebook(booking_id: uuid.UUID, body: RebookRequest, principal: Enterprise,
           session: SessionDep, clock: ClockDep, network: NetworkDep, request: Request
           ) -> BookingReply:
    policy = policy_of(request)
    booking, windows = service.rebook(
        session, booking_id=booking_id, principal=principal, clock=clock, network=network,
        policy=policy, crossing=body.crossing, slot_start=body.slot_start)
    return _reply(session, booking, windows, clock, policy)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingRead)
def cancel(booking_id: uuid.UUID, body: CancelBooking, principal: Enterprise,
           session: SessionDep, clock: ClockDep, request: Request) -> BookingRead:
    return BookingRead.model_validate(service.cancel(
        session, booking_id=booking_id, principal=principal, clock=clock,
        policy=policy_of(request), reason=body.reason))


@router.post("/bookings/{booking_id}/arrival", response_model=BookingRead)
def arrival(booking_id: uuid.UUID, body: ArrivalIn, principal: PrincipalDep,
            session: SessionDep, clock: ClockDep, network: NetworkDep, request: Request
            ) -> BookingRead:
    """A camera read or an officer records the vehicle at the border (lateness rules apply)."""
    return BookingRead.model_validate(arrivals.record_arrival(
        session, booking_id=booking_id, at=body.at, source=body.source, principal=principal,
        clock=clock, network=network, policy=policy_of(request)))


@router.post("/bookings/{booking_id}/override", response_model=BookingRead)
def override(booking_id: uuid.UUID, body: OverrideIn, principal: Operator,
             session: SessionDep, clock: ClockDep, network: NetworkDep, request: Request
             ) -> BookingRead:
    """An operator's audited manual change (priority, slot or crossing), with a reason."""
    return BookingRead.model_validate(service.override(
        session, booking_id=booking_id, principal=principal, clock=clock, network=network,
        policy=policy_of(request), reason=body.reason, priority=body.priority,
        crossing=body.crossing, slot_start=body.slot_start))


@router.get("/shipments/{shipment_id}/dispatch-advice", response_model=DispatchAdvice)
def dispatch(shipment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep,
             clock: ClockDep, network: NetworkDep, request: Request,
             travel_hours: Annotated[float | None, Query(gt=0, le=240)] = None,
             ) -> DispatchAdvice:
    """When to dispatch the truck to meet its slot; a warning when no slot exists within the
    cargo's shelf life (don't send it)."""
    return advice.dispatch_advice(session, shipment_id=shipment_id, principal=principal,
                                  clock=clock, network=network, policy=policy_of(request),
                                  travel_hours=travel_hours)


@public.get("/public/queue", response_model=QueueFeed)
def queue_feed(session: SessionDep, clock: ClockDep, network: NetworkDep, request: Request,
               response: Response) -> QueueFeed:
    """Open data, no sign-in: each crossing's bookings, capacity, vehicles waiting at the
    border and next free slot. Cacheable for a minute."""
    feed = advice.queue_feed(session, network=network, clock=clock, policy=policy_of(request))
    body = feed.model_dump_json(exclude={"generated_at"}).encode()
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return feed
