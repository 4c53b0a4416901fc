"""SQL for the queue. Taking a place in a slot is one conditional UPDATE checked by row count
(both backends); inserting missing slots uses each dialect's ON CONFLICT DO NOTHING."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from borderflow.declarations.models import Shipment
from borderflow.queue.models import Booking, CrossingSlot
from borderflow.queue.policy import BookingStatus

LIVE = (BookingStatus.active.value, BookingStatus.unplaced.value)


def insert_missing_slots(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = ins(CrossingSlot).values(list(rows)).on_conflict_do_nothing(
        index_elements=["network_id", "crossing_id", "direction", "start"])
    session.execute(stmt)


def slots(
    session: Session, *, network_id: str, crossing_ids: Sequence[str], direction: str,
    start: datetime, end: datetime,
) -> list[CrossingSlot]:
    stmt = (
        select(CrossingSlot)
        .where(CrossingSlot.network_id == network_id,
               CrossingSlot.crossing_id.in_(list(crossing_ids)),
               CrossingSlot.direction == direction,
               CrossingSlot.start >= start, CrossingSlot.start < end)
        .order_by(CrossingSlot.start, CrossingSlot.crossing_id)
        .execution_options(populate_existing=True)  # places are taken with Core UPDATEs
    )
    return list(session.scalars(stmt))


# What a booking needs of a slot: read as plain rows (no ORM objects, no identity map).
SLOT_STATE_COLUMNS = (
    CrossingSlot.id, CrossingSlot.crossing_id, CrossingSlot.start, CrossingSlot.capacity,
    CrossingSlot.perishable_reserved, CrossingSlot.booked, CrossingSlot.booked_perishable,
    CrossingSlot.preregistered_only,
)


@dataclass(frozen=True)
class FirstFree:
    """Read only the first `per_crossing` slots of each crossing that have room for one more
    vehicle of this kind (the conditions of `take_place`), plus each crossing's first slot."""

    per_crossing: int
    regular: bool
    release_after: datetime
    restricted_from: datetime  # pre-registered-only slots starting earlier are closed to it


def _limit(regular: bool, release_after: datetime) -> ColumnElement[int]:
    """Places a vehicle may fill: all, but a regular vehicle leaves the unused perishable
    reserve of a slot starting after `release_after`."""
    if not regular:
        return CrossingSlot.capacity.expression
    unused_reserve = case(
        (CrossingSlot.perishable_reserved > CrossingSlot.booked_perishable,
         CrossingSlot.perishable_reserved - CrossingSlot.booked_perishable),
        else_=0,
    )
    return CrossingSlot.capacity - case((CrossingSlot.start > release_after, unused_reserve),
                                        else_=0)


def slot_rows(
    session: Session, *, network_id: str, crossing_ids: Sequence[str], direction: str,
    start: datetime, end: datetime, first_free: FirstFree | None = None,
) -> list[Any]:
    """The slots of `crossing_ids` in `[start, end)` as rows of `SLOT_STATE_COLUMNS` and the
    number of slots of their crossing in the range (`n`), in one plain read without any lock,
    earliest first; with `first_free`, only those slots (a ranged read: a booking needs the
    earliest free slots, not the whole horizon)."""
    in_range = and_(CrossingSlot.network_id == network_id,
                    CrossingSlot.crossing_id.in_(list(crossing_ids)),
                    CrossingSlot.direction == direction,
                    CrossingSlot.start >= start, CrossingSlot.start < end)
    n = func.count().over(partition_by=CrossingSlot.crossing_id).label("n")
    if first_free is None:
        stmt = (select(*SLOT_STATE_COLUMNS, n).where(in_range)
                .order_by(CrossingSlot.start, CrossingSlot.crossing_id))
        return list(session.execute(stmt).all())
    room = and_(CrossingSlot.booked < _limit(first_free.regular, first_free.release_after),
                or_(CrossingSlot.preregistered_only.is_(False),
                    CrossingSlot.start >= first_free.restricted_from))
    ok = case((room, 1), else_=0)
    inner = select(
        *SLOT_STATE_COLUMNS, n, ok.label("ok"),
        func.row_number().over(partition_by=(CrossingSlot.crossing_id, ok),
                               order_by=CrossingSlot.start).label("k"),
    ).where(in_range).subquery()
    c = inner.c
    stmt = (select(c.id, c.crossing_id, c.start, c.capacity, c.perishable_reserved, c.booked,
                   c.booked_perishable, c.preregistered_only, c.n)
            .where(or_(and_(c.ok == 1, c.k <= first_free.per_crossing), c.k == 1))
            .order_by(c.start, c.crossing_id))
    return list(session.execute(stmt).all())


def count_slots(session: Session, *, network_id: str, crossing_id: str, direction: str,
                start: datetime, end: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(CrossingSlot).where(
            CrossingSlot.network_id == network_id, CrossingSlot.crossing_id == crossing_id,
            CrossingSlot.direction == direction, CrossingSlot.start >= start,
            CrossingSlot.start < end)
    ) or 0


def take_place(
    session: Session, *, slot_id: int, perishable: bool, regular: bool, release_after: datetime,
    restricted_ok: bool,
) -> bool:
    """Take one place if the slot has room for this priority; True if taken.

    A regular vehicle may not use the unused perishable reserve of a slot starting after
    `release_after` (now + release time). The UPDATE's WHERE is re-checked under the row lock,
    so concurrent bookers can never push `booked` past `capacity`.
    """
    conditions = [CrossingSlot.id == slot_id,
                  CrossingSlot.booked < _limit(regular, release_after)]
    if not restricted_ok:
        conditions.append(CrossingSlot.preregistered_only.is_(False))
    stmt = (
        update(CrossingSlot)
        .where(and_(*conditions))
        .values(booked=CrossingSlot.booked + 1,
                booked_perishable=CrossingSlot.booked_perishable + (1 if perishable else 0))
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def release_place(session: Session, *, slot_id: int, perishable: bool) -> None:
    values: dict[str, Any] = {"booked": CrossingSlot.booked - 1}
    if perishable:
        values["booked_perishable"] = case(
            (CrossingSlot.booked_perishable > 0, CrossingSlot.booked_perishable - 1),
            else_=CrossingSlot.booked_perishable)
    stmt = (
        update(CrossingSlot)
        .where(CrossingSlot.id == slot_id, CrossingSlot.booked > 0)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)


def live_booking_for(session: Session, shipment_id: uuid.UUID) -> Booking | None:
    return session.scalar(select(Booking).where(Booking.shipment_id == shipment_id,
                                                Booking.status.in_(LIVE)))


def shipment_to_book(session: Session, shipment_id: uuid.UUID, organisation_id: uuid.UUID
                     ) -> Shipment | None:
    """The shipment, locked, if it belongs to `organisation_id` (its goods lines not loaded:
    booking does not need them)."""
    return session.scalar(
        select(Shipment)
        .where(Shipment.id == shipment_id, Shipment.organisation_id == organisation_id)
        .with_for_update()
    )


def live_and_open(session: Session, shipment_id: uuid.UUID, organisation_id: uuid.UUID
                  ) -> tuple[bool, int]:
    """(the shipment has a live booking, live bookings of its organisation) in one query (a
    shipment's bookings are its organisation's)."""
    row = session.execute(
        select(func.count(),
               func.coalesce(func.sum(case((Booking.shipment_id == shipment_id, 1), else_=0)),
                             0))
        .where(Booking.organisation_id == organisation_id, Booking.status.in_(LIVE))
    ).one()
    return bool(row[1]), int(row[0])


def get_booking(session: Session, booking_id: uuid.UUID, *, for_update: bool = False
                ) -> Booking | None:
    stmt = select(Booking).where(Booking.id == booking_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def open_bookings_of(session: Session, organisation_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).select_from(Booking).where(
        Booking.organisation_id == organisation_id, Booking.status.in_(LIVE))) or 0


def ahead_of(session: Session, b: Booking) -> tuple[int, int]:
    """(vehicles booked ahead at this crossing and direction, of which in the same slot)."""
    assert b.slot_start is not None
    rank = case((Booking.priority == "emergency", 0), (Booking.priority == "perishable", 1),
                else_=2)
    my_rank = {"emergency": 0, "perishable": 1}.get(b.priority, 2)
    same_slot_before = and_(
        Booking.slot_start == b.slot_start,
        or_(rank < my_rank, and_(rank == my_rank, Booking.created_at < b.created_at),
            and_(rank == my_rank, Booking.created_at == b.created_at, Booking.id < b.id)),
    )
    row = session.execute(
        select(func.coalesce(func.sum(case((Booking.slot_start < b.slot_start, 1), else_=0)), 0),
               func.coalesce(func.sum(case((same_slot_before, 1), else_=0)), 0))
        .where(Booking.crossing_id == b.crossing_id, Booking.direction == b.direction,
               Booking.status == BookingStatus.active.value, Booking.id != b.id,
               Booking.slot_start <= b.slot_start)
    ).one()
    earlier, in_slot = int(row[0]), int(row[1])
    return earlier + in_slot, in_slot


def active_in_window(session: Session, *, crossing_ids: Sequence[str], start: datetime,
                     end: datetime) -> list[Booking]:
    return list(session.scalars(
        select(Booking).where(Booking.crossing_id.in_(list(crossing_ids)),
                              Booking.status == BookingStatus.active.value,
                              Booking.slot_start >= start, Booking.slot_start < end)
        .order_by(Booking.slot_start, Booking.created_at, Booking.id)
        .with_for_update()
    ))


def lateness_samples(session: Session, crossing_id: str, limit: int = 500) -> list[float]:
    """Minutes late (≥ 0) of the last arrivals at a crossing."""
    rows = session.execute(
        select(Booking.arrived_at, Booking.slot_start)
        .where(Booking.crossing_id == crossing_id, Booking.arrived_at.is_not(None),
               Booking.slot_start.is_not(None))
        .order_by(Booking.arrived_at.desc()).limit(limit)
    ).all()
    return [max((a - s).total_seconds() / 60, 0.0) for a, s in rows if a and s]


def overdue(session: Session, *, before: datetime) -> list[Booking]:
    return list(session.scalars(
        select(Booking).where(Booking.status == BookingStatus.active.value,
                              Booking.arrived_at.is_(None), Booking.slot_start < before)
        .with_for_update()
    ))
