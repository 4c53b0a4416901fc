"""Queue API models."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from borderflow.network.schemas import Direction
from borderflow.queue.policy import BookingStatus, PriorityClass


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BookingCreate(_In):
    shipment_id: uuid.UUID
    crossing: str | None = Field(default=None, description="A crossing the shipment accepts; "
                                 "default: earliest available over all of them")
    slot_start: AwareDatetime | None = Field(
        default=None, description="A chosen slot; default: the earliest available")


class WindowRead(BaseModel):
    crossing: str
    start: datetime
    end: datetime
    free: int


class EstimateRead(BaseModel):
    position: int
    expected_at: datetime
    earliest_at: datetime
    latest_at: datetime
    confidence: float
    basis: str


class BookingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    shipment_id: uuid.UUID
    crossing_id: str
    direction: Direction
    slot_start: datetime | None
    priority: PriorityClass
    status: BookingStatus
    late: bool
    rebook_count: int
    arrived_at: datetime | None
    created_at: datetime


class BookingReply(BaseModel):
    booking: BookingRead
    estimate: EstimateRead | None
    nearest_windows: dict[str, list[WindowRead]] = Field(
        description="The next free windows on each acceptable crossing")


class RebookRequest(_In):
    crossing: str | None = None
    slot_start: AwareDatetime | None = None


class CancelBooking(_In):
    reason: str = Field(min_length=1, max_length=500)


class ArrivalIn(_In):
    at: AwareDatetime
    source: str = Field(min_length=1, max_length=200, description="Camera read or officer")


class OverrideIn(_In):
    """An operator's manual change: always audited, always with a reason."""

    reason: str = Field(min_length=10, max_length=500)
    priority: PriorityClass | None = None
    slot_start: AwareDatetime | None = None
    crossing: str | None = None


class DispatchAdvice(BaseModel):
    shipment_id: uuid.UUID
    slot_start: datetime | None
    travel_hours: float
    dispatch_at: datetime | None
    latest_dispatch_at: datetime | None
    send: bool
    warning: str | None


class QueueFeedEntry(BaseModel):
    crossing: str
    direction: Direction
    booked_next_24h: int
    capacity_next_24h: int
    waiting_at_border: int
    next_free_slot: datetime | None
    expected_wait_hours: float | None


class QueueFeed(BaseModel):
    generated_at: datetime
    network: str
    crossings: list[QueueFeedEntry]
