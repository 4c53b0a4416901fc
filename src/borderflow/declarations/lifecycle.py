"""The shipment lifecycle after declaring: amend (history kept), submit, cancel, complete.

After a crossing slot is booked only the driver may change (as in Latvia: booking data is frozen
so it cannot be traded). Services never commit; every change is audited in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from borderflow.accounts.roles import Principal, Role
from borderflow.audit import service as audit
from borderflow.clock import Clock
from borderflow.declarations import repository
from borderflow.declarations.models import GoodsLine, Shipment, ShipmentRevision
from borderflow.declarations.schemas import OPEN_STATUSES, ShipmentStatus, ShipmentUpdate
from borderflow.declarations.service import (
    AMENDABLE_AFTER_BOOKING,
    IllegalTransition,
    ShipmentNotFound,
    _line_dicts,
    _require,
    _revision,
    get_shipment,
)
from borderflow.declarations.validation import (
    Problems,
    check_crossings,
    check_phyto,
    check_window,
    driver_data,
    goods_data,
    shelf_life,
    vehicle_data,
)
from borderflow.errors import Conflict, InvalidInput
from borderflow.network.schemas import Network


def _own(principal: Principal, s: Shipment, action: str) -> None:
    _require(principal, Role.enterprise_user, action=action)
    if s.organisation_id != principal.organisation_id:
        raise ShipmentNotFound(f"no shipment {s.id}", field="shipment_id")


def amend_shipment(
    session: Session,
    *,
    shipment_id: uuid.UUID,
    update: ShipmentUpdate,
    principal: Principal,
    clock: Clock,
    network: Network,
    hs_country: str = "VN",
) -> Shipment:
    s = get_shipment(session, shipment_id=shipment_id, principal=principal, for_update=True)
    _own(principal, s, "amending a shipment")
    if ShipmentStatus(s.status) not in OPEN_STATUSES:
        raise IllegalTransition(f"a {s.status} shipment cannot be amended", field="status")
    given = {k for k in update.model_fields_set if getattr(update, k) is not None}
    if not given - {"reason"}:
        raise InvalidInput("nothing to change", field="body", vi="không có gì để thay đổi")
    if s.booked_slot_start is not None:
        frozen = sorted(given - AMENDABLE_AFTER_BOOKING)
        if frozen:
            raise Conflict(
                f"a crossing slot is booked: only the driver may change, not {', '.join(frozen)}",
                field=frozen[0],
                vi="đã đặt lượt qua cửa khẩu: chỉ được đổi lái xe",
                zh="已预约通关时段：只能更换司机",
            )
    now = clock.now()
    problems = Problems()
    lines = _line_dicts(s)
    changes: dict[str, Any] = {}
    if update.vehicle is not None:
        changes["vehicle"] = vehicle_data(update.vehicle, problems)
    if update.driver is not None:
        changes["driver"] = driver_data(update.driver, problems)
    if update.crossings is not None:
        changes["crossings"] = check_crossings(network, update.crossings, problems)
    if update.arrival_from is not None or update.arrival_to is not None:
        a_from = update.arrival_from or s.arrival_from
        a_to = update.arrival_to or s.arrival_to
        check_window(a_from, a_to, now, problems)
        changes["arrival_from"] = a_from.astimezone(UTC)
        changes["arrival_to"] = a_to.astimezone(UTC)
    plant = any(ln["hs_code"][:2] in {f"{c:02d}" for c in range(6, 15)} for ln in lines)
    if update.goods is not None:
        lines, plant = goods_data(update.goods, problems, hs_country=hs_country)
    for key in ("phytosanitary_certificate", "customs_declaration_number", "origin"):
        if key in given:
            changes[key] = getattr(update, key)
    check_phyto(
        plant, changes.get("phytosanitary_certificate", s.phytosanitary_certificate), problems
    )
    problems.raise_if_any()

    for key, value in changes.items():
        setattr(s, key, value)
    if "driver" in changes:
        s.driver_id_number = changes["driver"]["id_number"]
    if update.goods is not None:
        s.lines = [GoodsLine(**ln) for ln in lines]
        cargo, life = shelf_life(lines)
        s.cargo_class, s.shelf_life_hours = cargo.value, life
    s.version += 1
    if s.status != ShipmentStatus.draft:
        s.status = ShipmentStatus.amended.value
    s.updated_at = now
    changed = sorted(given - {"reason"})
    _revision(
        session, s, actor=principal.actor, action="amend", at=now, changed=changed, lines=lines
    )
    audit.record(
        session,
        clock=clock,
        actor=principal.actor,
        action="shipment.amend",
        entity="shipment",
        entity_id=s.id,
        reason=update.reason,
        changes={"fields": changed, "version": s.version},
    )
    return s


def _transition(
    session: Session,
    s: Shipment,
    *,
    to: ShipmentStatus,
    allowed_from: set[ShipmentStatus],
    principal: Principal,
    clock: Clock,
    reason: str | None = None,
) -> Shipment:
    if ShipmentStatus(s.status) not in allowed_from:
        raise IllegalTransition(f"a {s.status} shipment cannot become {to.value}", field="status")
    now = clock.now()
    before = s.status
    s.status = to.value
    s.updated_at = now
    if to is ShipmentStatus.submitted:
        s.submitted_at = now
    _revision(
        session,
        s,
        actor=principal.actor,
        action=to.value,
        at=now,
        changed=["status"],
        lines=_line_dicts(s),
    )
    audit.record(
        session,
        clock=clock,
        actor=principal.actor,
        action=f"shipment.{to.value}",
        entity="shipment",
        entity_id=s.id,
        reason=reason,
        changes={"status": [before, to.value]},
    )
    return s


def submit_shipment(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal, clock: Clock
) -> Shipment:
    s = get_shipment(session, shipment_id=shipment_id, principal=principal, for_update=True)
    _own(principal, s, "submitting a shipment")
    if s.arrival_to <= clock.now():
        raise InvalidInput("the arrival window has passed: amend it first", field="arrival_to")
    return _transition(
        session,
        s,
        to=ShipmentStatus.submitted,
        allowed_from={ShipmentStatus.draft},
        principal=principal,
        clock=clock,
    )


def cancel_shipment(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal, clock: Clock, reason: str
) -> Shipment:
    s = get_shipment(session, shipment_id=shipment_id, principal=principal, for_update=True)
    if not principal.has(Role.operator, Role.admin):
        _own(principal, s, "cancelling a shipment")
    return _transition(
        session,
        s,
        to=ShipmentStatus.cancelled,
        allowed_from=set(OPEN_STATUSES),
        principal=principal,
        clock=clock,
        reason=reason,
    )


def complete_shipment(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal, clock: Clock
) -> Shipment:
    _require(
        principal,
        Role.customs_officer,
        Role.border_guard_officer,
        Role.operator,
        Role.agency_system,
        action="completing a shipment",
    )
    s = get_shipment(session, shipment_id=shipment_id, principal=principal, for_update=True)
    return _transition(
        session,
        s,
        to=ShipmentStatus.completed,
        allowed_from={ShipmentStatus.submitted, ShipmentStatus.amended},
        principal=principal,
        clock=clock,
    )


def revisions(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal
) -> list[ShipmentRevision]:
    get_shipment(session, shipment_id=shipment_id, principal=principal)
    return repository.revisions(session, shipment_id)


def mark_slot_booked(
    session: Session, *, shipment: Shipment, slot_start: datetime | None, actor: str, clock: Clock
) -> None:
    """Called by the queue when a slot is booked or released (freezes booking data)."""
    shipment.booked_slot_start = slot_start
    shipment.updated_at = clock.now()
    audit.record(
        session,
        clock=clock,
        actor=actor,
        action="shipment.slot",
        entity="shipment",
        entity_id=shipment.id,
        changes={"booked_slot_start": slot_start.isoformat() if slot_start else None},
    )
