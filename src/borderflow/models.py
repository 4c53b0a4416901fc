"""Every table of the platform, imported in one place for Alembic and the tests."""

from borderflow.audit.models import AuditEntry
from borderflow.db import Base
from borderflow.network.models import CalendarExceptionRow

__all__ = ["AuditEntry", "Base", "CalendarExceptionRow"]
