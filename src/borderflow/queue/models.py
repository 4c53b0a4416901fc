"""Crossing slots (the capacity ledger), bookings, their history and the estimates given."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from borderflow.db import Base, BigID, UTCDateTime


class CrossingSlot(Base):
    """One slot of one crossing in one direction, with its capacity from the capacity function.

    `booked <= capacity` is a database constraint, and every booking takes a place with a
    conditional UPDATE checked by row count: no slot is ever over capacity, whatever the
    number of processes.
    """

    __tablename__ = "crossing_slots"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    network_id: Mapped[str] = mapped_column(String(100), nullable=False)
    crossing_id: Mapped[str] = mapped_column(String(100), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    perishable_reserved: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    preregistered_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    booked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    booked_perishable: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("network_id", "crossing_id", "direction", "start",
                         name="uq_crossing_slots_key"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("booked_perishable >= 0 AND booked_perishable <= booked",
                        name="perishable_within_booked"),
        CheckConstraint("perishable_reserved >= 0 AND perishable_reserved <= capacity",
                        name="reserve_within_capacity"),
        Index("ix_crossing_slots_lookup", "network_id", "crossing_id", "direction", "start"),
    )


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id"), nullable=False)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id"), nullable=False
    )
    crossing_id: Mapped[str] = mapped_column(String(100), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("crossing_slots.id"))
    slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    priority: Mapped[str] = mapped_column(String(20), nullable=False)  # PriorityClass
    perishable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # BookingStatus
    late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rebook_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        # One live booking per shipment, enforced by the database on both backends.
        Index("uq_bookings_live_shipment", "shipment_id", unique=True,
              sqlite_where=text("status IN ('active', 'unplaced')"),
              postgresql_where=text("status IN ('active', 'unplaced')")),
        Index("ix_bookings_slot", "slot_id", "status"),
        Index("ix_bookings_queue", "crossing_id", "direction", "status", "slot_start"),
        Index("ix_bookings_org_status", "organisation_id", "status"),
    )


class BookingEvent(Base):
    """Every change of a booking: what, when, who (or which camera read/order), why."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), nullable=False,
                                                  index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class WaitEstimate(Base):
    """Every estimate given to a user, kept to be checked against what happened."""

    __tablename__ = "wait_estimates"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), nullable=False,
                                                  index=True)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    expected_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    earliest_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    latest_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    confidence: Mapped[float] = mapped_column(nullable=False)
    basis: Mapped[str] = mapped_column(String(200), nullable=False)
