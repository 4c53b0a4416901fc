"""Rules of the network domain that need the database: run-time exceptions and capacity.

`crossing_capacity` is the capacity function with the database's exceptions added; it calls
`capacity.compute_capacity` and adds nothing of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.orm import Session

from borderflow.audit import service as audit
from borderflow.clock import Clock, require_aware
from borderflow.errors import Conflict, InvalidInput, NotFound
from borderflow.network import repository
from borderflow.network.capacity import DEFAULT_SLOT, CapacityTable, compute_capacity
from borderflow.network.models import CalendarExceptionRow
from borderflow.network.schemas import (
    CalendarException,
    Direction,
    Network,
    check_exception_targets,
)


def stored_exceptions(
    session: Session,
    *,
    network: Network,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[CalendarException]:
    rows = repository.active_exceptions(session, network_id=network.id, start=start, end=end)
    return [CalendarException.model_validate(r.spec) for r in rows]


def crossing_capacity(
    session: Session,
    *,
    network: Network,
    crossing_id: str,
    direction: Direction,
    start: datetime,
    end: datetime,
    route_id: str | None = None,
    slot: timedelta = DEFAULT_SLOT,
) -> CapacityTable:
    start = require_aware(start, "start")
    end = require_aware(end, "end")
    extra = stored_exceptions(session, network=network, start=start, end=end)
    return compute_capacity(
        network,
        crossing_id=crossing_id,
        direction=direction,
        start=start,
        end=end,
        route_id=route_id,
        slot=slot,
        extra_exceptions=extra,
    )


def add_exception(
    session: Session,
    *,
    network: Network,
    exception_in: CalendarException | dict[str, object],
    actor: str,
    clock: Clock,
) -> CalendarExceptionRow:
    """Store a run-time exception, audited (who, when, why). Takes effect at once."""
    try:
        exc = (
            exception_in
            if isinstance(exception_in, CalendarException)
            else CalendarException.model_validate(exception_in)
        )
        check_exception_targets(network, exc, where="exception")
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "exception"
        raise InvalidInput(first["msg"].removeprefix("Value error, "), field=field) from err
    except ValueError as err:
        field, _, msg = str(err).partition(": ")
        raise InvalidInput(msg or str(err), field=field) from err
    if not actor.strip():
        raise InvalidInput("who is adding the exception must be named", field="actor")
    starts_at, ends_at = exc.bounds(network.network.home_tz)
    row = repository.add_exception(
        session,
        CalendarExceptionRow(
            network_id=network.id,
            kind=exc.kind.value,
            crossings=list(exc.crossings),
            spec=exc.model_dump(mode="json", by_alias=True, exclude_none=True),
            starts_at=starts_at,
            ends_at=ends_at,
            reason=exc.reason,
            created_by=actor,
            created_at=clock.now(),
        ),
    )
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="calendar_exception.add",
        entity="calendar_exception",
        entity_id=row.id,
        reason=exc.reason,
        changes=row.spec,
    )
    return row


def revoke_exception(
    session: Session, *, exception_id: int, actor: str, reason: str, clock: Clock
) -> CalendarExceptionRow:
    row = repository.get_exception(session, exception_id)
    if row is None:
        raise NotFound(f"no calendar exception {exception_id}", field="exception_id")
    if row.revoked_at is not None:
        raise Conflict(f"calendar exception {exception_id} is already revoked")
    row.revoked_at = clock.now()
    row.revoked_by = actor
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="calendar_exception.revoke",
        entity="calendar_exception",
        entity_id=row.id,
        reason=reason,
    )
    return row
