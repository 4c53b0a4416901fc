"""Record audit entries. Called by services in the same transaction as the change itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from borderflow.audit.models import AuditEntry
from borderflow.clock import Clock


def record(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(**entry_row(clock=clock, actor=actor, action=action, entity=entity,
                                   entity_id=entity_id, reason=reason, changes=changes))
    session.add(entry)
    return entry


def entry_row(
    *,
    clock: Clock,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit_log row `record` would add, as a dict: for hot paths that write their rows
    with Core INSERTs in the same transaction (e.g. declaring a shipment); `record` adds it."""
    return {
        "at": clock.now(), "actor": actor, "action": action, "entity": entity,
        "entity_id": str(entity_id), "reason": reason, "changes": changes or {},
    }
