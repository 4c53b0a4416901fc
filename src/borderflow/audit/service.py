"""Record audit entries. Called by services in the same transaction as the change itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
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
    entry = AuditEntry(
        at=clock.now(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        reason=reason,
        changes=changes or {},
    )
    session.add(entry)
    return entry


def insert_entry(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Like `record`, but written at once with a Core INSERT (no ORM object, no flush): for hot
    paths that write their other rows with Core too."""
    session.execute(_INSERT, {
        "at": clock.now(), "actor": actor, "action": action, "entity": entity,
        "entity_id": str(entity_id), "reason": reason, "changes": changes or {},
    })


_INSERT = insert(AuditEntry.__table__)  # type: ignore[arg-type]
