"""Every table of the platform, imported in one place for Alembic and the tests."""

from borderflow.accounts.models import AccessToken, ApiKey, Organisation, User
from borderflow.audit.models import AuditEntry
from borderflow.db import Base
from borderflow.declarations.models import (
    AgencyResult,
    GoodsLine,
    SavedDriver,
    SavedVehicle,
    Shipment,
    ShipmentRevision,
)
from borderflow.network.models import CalendarExceptionRow
from borderflow.outbox.models import OutboxMessage
from borderflow.queue.models import Booking, BookingEvent, CrossingSlot, WaitEstimate
from borderflow.simulation.models import ForecastItemRow, ForecastRow

__all__ = [
    "AccessToken",
    "AgencyResult",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Booking",
    "BookingEvent",
    "CalendarExceptionRow",
    "CrossingSlot",
    "ForecastItemRow",
    "ForecastRow",
    "GoodsLine",
    "Organisation",
    "OutboxMessage",
    "SavedDriver",
    "SavedVehicle",
    "Shipment",
    "ShipmentRevision",
    "User",
    "WaitEstimate",
]
