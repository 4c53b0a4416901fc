"""Network HTTP API: crossings, capacity (THE capacity function), run-time calendar exceptions.

Adding an exception re-plans the bookings it affects in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import AwareDatetime, BaseModel

from borderflow.accounts.roles import Principal, Role
from borderflow.deps import ClockDep, NetworkDep, SessionDep, require
from borderflow.errors import Forbidden
from borderflow.network import service
from borderflow.network.schemas import CalendarException, Direction

router = APIRouter(tags=["network"])
Authority = Annotated[Principal, require(Role.operator, Role.admin, Role.customs_officer,
                                         Role.border_guard_officer)]


class SlotCapacityRead(BaseModel):
    start: datetime
    end: datetime
    open_minutes: int
    capacity: int
    preregistered_only: bool
    reasons: list[str]


class CapacityRead(BaseModel):
    crossing: str
    direction: Direction
    route: str | None
    total: int
    slots: list[SlotCapacityRead]


class ExceptionCreated(BaseModel):
    id: int
    kind: str
    crossings: list[str]
    starts_at: datetime
    ends_at: datetime | None
    replan: dict[str, Any]


@router.get("/network")
def network_read(network: NetworkDep) -> dict[str, Any]:
    """The border network: crossings, routes, lanes, rates, yards, calendars (public)."""
    return network.model_dump(mode="json", by_alias=True, exclude_none=True)


@router.get("/capacity", response_model=CapacityRead)
def capacity(
    session: SessionDep, network: NetworkDep,
    crossing: Annotated[str, Query(min_length=1, max_length=100)],
    direction: Direction,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    route: Annotated[str | None, Query(max_length=100)] = None,
    slot_minutes: Annotated[int, Query(ge=5, le=1440)] = 60,
) -> CapacityRead:
    """Clearance capacity per slot from both sides' calendars and every exception (public)."""
    table = service.crossing_capacity(
        session, network=network, crossing_id=crossing, direction=direction, start=start,
        end=end, route_id=route, slot=timedelta(minutes=slot_minutes))
    if len(table) > 24 * 62:
        from borderflow.errors import InvalidInput

        raise InvalidInput("at most 1,488 slots per request", field="to")
    return CapacityRead(
        crossing=crossing, direction=direction, route=route, total=table.total,
        slots=[SlotCapacityRead(start=s.start, end=s.end, open_minutes=s.open_minutes,
                                capacity=s.capacity, preregistered_only=s.preregistered_only,
                                reasons=list(s.reasons)) for s in table.slots()])


@router.post("/calendar/exceptions", response_model=ExceptionCreated,
             status_code=status.HTTP_201_CREATED)
def add_exception(body: CalendarException, principal: Authority, session: SessionDep,
                  clock: ClockDep, network: NetworkDep, request: Request) -> ExceptionCreated:
    """A closure, suspension, hours change, opening agreement, pre-registered-only period or
    capacity change. It applies at once; affected bookings are re-planned optimally in the same
    transaction and every owner is notified."""
    from borderflow.queue.replan import replan

    if not principal.has(Role.operator, Role.admin):
        outside = sorted(set(body.crossings) - set(principal.crossings))
        if outside:
            raise Forbidden(f"officers change only their crossings' calendars, not "
                            f"{', '.join(outside)}")
    row = service.add_exception(session, network=network, exception_in=body,
                                actor=principal.actor, clock=clock)
    crossings = ([c.id for c in network.crossings] if "*" in body.crossings
                 else list(body.crossings))
    report = replan(session, network=network, crossing_ids=crossings, start=row.starts_at,
                    end=row.ends_at, clock=clock, policy=request.app.state.queue_policy,
                    actor=principal.actor, reason=body.reason)
    return ExceptionCreated(id=row.id, kind=row.kind, crossings=row.crossings,
                            starts_at=row.starts_at, ends_at=row.ends_at, replan=vars(report))
