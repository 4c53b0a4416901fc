"""Run-time calendar exceptions, stored in the database (the file's exceptions stay in the file)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from borderflow.db import Base, BigID, UTCDateTime


class CalendarExceptionRow(Base):
    __tablename__ = "calendar_exceptions"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    network_id: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    crossings: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """The `CalendarException` as JSON (the same schema as the network file's exceptions)."""
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """First and last instants it can touch (UTC), for range queries; NULL = open-ended."""
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_calendar_exceptions_range", "network_id", "starts_at", "ends_at"),)
