"""SQL for the network domain: run-time calendar exceptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from borderflow.network.models import CalendarExceptionRow


def add_exception(session: Session, row: CalendarExceptionRow) -> CalendarExceptionRow:
    session.add(row)
    session.flush()
    return row


def get_exception(session: Session, exception_id: int) -> CalendarExceptionRow | None:
    return session.get(CalendarExceptionRow, exception_id)


def active_exceptions(
    session: Session,
    *,
    network_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[CalendarExceptionRow]:
    """Not revoked, for `network_id`, touching `[start, end)` when given."""
    stmt = select(CalendarExceptionRow).where(
        CalendarExceptionRow.network_id == network_id,
        CalendarExceptionRow.revoked_at.is_(None),
    )
    if end is not None:
        stmt = stmt.where(CalendarExceptionRow.starts_at < end)
    if start is not None:
        stmt = stmt.where(
            or_(CalendarExceptionRow.ends_at.is_(None), CalendarExceptionRow.ends_at > start)
        )
    return list(session.scalars(stmt.order_by(CalendarExceptionRow.id)))
