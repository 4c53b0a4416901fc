"""The `outbox` table: one row per message to deliver, kept after delivery as a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from borderflow.db import Base, BigID, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), nullable=False)
    """What kind of message: "booking.replanned", "notify.driver", "exchange.cn"."""
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    """Who gets it: "org:<uuid>", "phone:+8491…", "peer:cn"."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Enqueueing a second message with the same key is a no-op (for ever, also once sent)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    """The next attempt is not made before this instant (moved forward by the backoff)."""
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                          server_default=text("0"))
    """Delivery attempts started: counted when a sender claims the row, so a message that kills
    its sender still runs out of attempts."""
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The claim's lease: after this instant another sender may take the row over."""
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Given up (permanent failure or out of attempts): a dead letter."""

    __table_args__ = (
        # The sender's query: undelivered, live rows by available_at. Partial, so the index
        # stays as small as the backlog while sent rows pile up.
        Index("ix_outbox_due", "available_at",
              sqlite_where=text("sent_at IS NULL AND dead_at IS NULL"),
              postgresql_where=text("sent_at IS NULL AND dead_at IS NULL")),
    )
