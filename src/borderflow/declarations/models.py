"""Shipments declared by enterprises, their goods lines, history, saved vehicles and drivers,
and the results agencies' systems report about them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from borderflow.db import Base, BigID, UTCDateTime


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id"), nullable=False
    )
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # ShipmentStatus
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    regime: Mapped[str] = mapped_column(String(40), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    crossings: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    arrival_from: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    arrival_to: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    cargo_class: Mapped[str] = mapped_column(String(30), nullable=False)
    shelf_life_hours: Mapped[int | None] = mapped_column(Integer)
    vehicle: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    driver: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    driver_id_number: Mapped[str] = mapped_column(String(40), nullable=False)
    phytosanitary_certificate: Mapped[str | None] = mapped_column(String(60))
    customs_declaration_number: Mapped[str | None] = mapped_column(String(40))
    origin: Mapped[str | None] = mapped_column(String(200))
    booked_slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set by the queue when a crossing slot is booked: from then on only the driver may change."""
    customs_channel: Mapped[str | None] = mapped_column(String(10))
    customs_status: Mapped[str | None] = mapped_column(String(20))
    quarantine_status: Mapped[str | None] = mapped_column(String(20))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lines: Mapped[list[GoodsLine]] = relationship(
        back_populates="shipment", lazy="raise", order_by="GoodsLine.line_no",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key", name="uq_shipments_idempotency"),
        Index("ix_shipments_org_created", "organisation_id", "created_at"),
        Index("ix_shipments_driver", "driver_id_number"),
        Index("ix_shipments_customs_decl", "customs_declaration_number"),
    )


class GoodsLine(Base):
    __tablename__ = "goods_lines"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    hs_code: Mapped[str] = mapped_column(String(13), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3), nullable=False)
    unit: Mapped[str] = mapped_column(String(3), nullable=False)
    gross_weight_kg: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    value: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    cargo_class: Mapped[str] = mapped_column(String(30), nullable=False)
    shelf_life_hours: Mapped[int | None] = mapped_column(Integer)

    shipment: Mapped[Shipment] = relationship(back_populates="lines", lazy="raise")


class ShipmentRevision(Base):
    """Each version of a shipment as it was, with who changed it and why (amendment history)."""

    __tablename__ = "shipment_revisions"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    changed_fields: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        UniqueConstraint("shipment_id", "version", "action", name="uq_shipment_revisions_v"),
    )


class SavedVehicle(Base):
    __tablename__ = "saved_vehicles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id"), nullable=False
    )
    plate: Mapped[str] = mapped_column(String(20), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("organisation_id", "plate", name="uq_saved_vehicles_plate"),)


class SavedDriver(Base):
    __tablename__ = "saved_drivers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id"), nullable=False
    )
    id_number: Mapped[str] = mapped_column(String(40), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("organisation_id", "id_number", name="uq_saved_drivers_id_number"),
    )


class AgencyResult(Base):
    """A status reported by an agency's system (customs channel, release, quarantine hold)."""

    __tablename__ = "agency_results"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agency: Mapped[str] = mapped_column(String(20), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    reference: Mapped[str] = mapped_column(String(100), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("agency", "reference", name="uq_agency_results_reference"),
    )
