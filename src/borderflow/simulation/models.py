"""Forecasts made from the live platform's state, kept to be checked against what happened."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from borderflow.db import Base, BigID, UTCDateTime


class ForecastRow(Base):
    """One "starting from now" run: who asked, when, with which seed, scenario and code, and
    its figures per crossing and direction (the `summarize` output, JSON)."""

    __tablename__ = "forecasts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    network_id: Mapped[str] = mapped_column(String(100), nullable=False)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    made_by: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    """The simulated period's start: `made_at` floored to the hour."""
    horizon_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    policy: Mapped[str] = mapped_column(String(20), nullable=False)  # PolicyName
    seed: Mapped[int] = mapped_column(BigID, nullable=False)
    replications: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    scenario_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    code_version: Mapped[str] = mapped_column(String(40), nullable=False)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_forecasts_made_at", "network_id", "made_at"),)


class ForecastItemRow(Base):
    """One known vehicle of a forecast and when it was expected to cross (NULL: not within the
    horizon)."""

    __tablename__ = "forecast_items"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    forecast_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("forecasts.id", ondelete="CASCADE"), nullable=False, index=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id"), nullable=False)
    crossing_id: Mapped[str] = mapped_column(String(100), nullable=False)
    direction: Mapped[str] = mapped_column(String(10), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)  # in_yard | en_route
    slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expected_cross_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
