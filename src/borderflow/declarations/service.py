"""Declaration rules: declare once, amend with history, the lifecycle, who may do what.

Lifecycle: draft → submitted → amended (any number of times) → cancelled / completed.
After a crossing slot is booked, only the driver may change (as in Latvia: booking data is
frozen so it cannot be traded). Services never commit; every change is audited in the same
transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from borderflow.accounts.roles import Principal, Role
from borderflow.audit import service as audit
from borderflow.clock import Clock
from borderflow.declarations import repository
from borderflow.declarations.models import (
    GoodsLine,
    SavedDriver,
    SavedVehicle,
    Shipment,
    ShipmentRevision,
)
from borderflow.declarations.schemas import (
    DriverIn,
    ShipmentCreate,
    ShipmentStatus,
    VehicleIn,
)
from borderflow.declarations.validation import (
    Problems,
    check_crossings,
    check_phyto,
    check_window,
    direction_for,
    driver_data,
    goods_data,
    shelf_life,
    vehicle_data,
)
from borderflow.errors import Conflict, Forbidden, NotFound
from borderflow.network.schemas import Network

AMENDABLE_AFTER_BOOKING = frozenset({"driver", "reason"})


class ShipmentNotFound(NotFound):
    pass


class IllegalTransition(Conflict):
    pass


def _require(principal: Principal, *roles: Role, action: str) -> None:
    if not principal.has(*roles):
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"{action} needs one of the roles: {allowed}")


def hs_country_for(session: Session, principal: Principal) -> str:
    """Whose HS rules apply: a Chinese enterprise declares 10/13-digit codes, others AHTN."""
    return "CN" if principal.country == "CN" else "VN"


def request_hash(shipment_in: ShipmentCreate) -> str:
    return hashlib.sha256(shipment_in.model_dump_json().encode()).hexdigest()


def _snapshot(s: Shipment, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "status": s.status,
        "version": s.version,
        "regime": s.regime,
        "direction": s.direction,
        "crossings": s.crossings,
        "arrival_from": s.arrival_from.isoformat(),
        "arrival_to": s.arrival_to.isoformat(),
        "cargo_class": s.cargo_class,
        "shelf_life_hours": s.shelf_life_hours,
        "vehicle": s.vehicle,
        "driver": s.driver,
        "phytosanitary_certificate": s.phytosanitary_certificate,
        "customs_declaration_number": s.customs_declaration_number,
        "origin": s.origin,
        "goods": [
            {
                k: str(v) if k in ("quantity", "gross_weight_kg", "value") else v
                for k, v in ln.items()
            }
            for ln in lines
        ],
    }


def _line_dicts(s: Shipment) -> list[dict[str, Any]]:
    return [
        {
            "line_no": ln.line_no,
            "hs_code": ln.hs_code,
            "description": ln.description,
            "quantity": ln.quantity,
            "unit": ln.unit,
            "gross_weight_kg": ln.gross_weight_kg,
            "value": ln.value,
            "currency": ln.currency,
            "cargo_class": ln.cargo_class,
            "shelf_life_hours": ln.shelf_life_hours,
        }
        for ln in s.lines
    ]


def _revision_row(
    s: Shipment,
    *,
    actor: str,
    action: str,
    at: datetime,
    changed: list[str],
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "shipment_id": s.id,
        "version": s.version,
        "status": s.status,
        "at": at,
        "actor": actor,
        "action": action,
        "changed_fields": changed,
        "snapshot": _snapshot(s, lines),
    }


def _revision(
    session: Session,
    s: Shipment,
    *,
    actor: str,
    action: str,
    at: datetime,
    changed: list[str],
    lines: list[dict[str, Any]],
) -> None:
    session.add(ShipmentRevision(
        **_revision_row(s, actor=actor, action=action, at=at, changed=changed, lines=lines)))


# (English, Vietnamese, Chinese) names of what a declaration may give inline or by saved id.
_SAVED_WORDS = {
    "vehicle": ("vehicle", "phương tiện", "车辆"),
    "driver": ("driver", "lái xe", "司机"),
}


def _inline_or_saved(
    kind: str, given: BaseModel | None, saved_id: uuid.UUID | None, saved: Any,
    model: type[BaseModel], problems: Problems,
) -> Any:
    """The vehicle or driver given inline, or the enterprise's saved one named by id."""
    en, vi, zh = _SAVED_WORDS[kind]
    if given is not None:
        return given
    if saved_id is None:
        problems.add(kind, f"give the {en} or a saved {kind}_id",
                     f"cần nhập {vi} hoặc chọn {vi} đã lưu", f"请填写{zh}或选择已保存的{zh}")
        return None
    if saved is None:
        problems.add(f"{kind}_id", f"no saved {en} with this id in your organisation",
                     f"không có {vi} đã lưu với mã này", f"本企业没有此已保存{zh}")
        return None
    return model.model_validate({k: v for k, v in saved.data.items() if k in model.model_fields})


def _resolve_vehicle(
    session: Session, org_id: uuid.UUID, shipment_in: ShipmentCreate, problems: Problems
) -> VehicleIn | None:
    saved = (repository.saved_vehicle(session, org_id, shipment_in.vehicle_id)
             if shipment_in.vehicle is None and shipment_in.vehicle_id else None)
    result: VehicleIn | None = _inline_or_saved(
        "vehicle", shipment_in.vehicle, shipment_in.vehicle_id, saved, VehicleIn, problems)
    return result


def _resolve_driver(
    session: Session, org_id: uuid.UUID, shipment_in: ShipmentCreate, problems: Problems
) -> DriverIn | None:
    saved = (repository.saved_driver(session, org_id, shipment_in.driver_id)
             if shipment_in.driver is None and shipment_in.driver_id else None)
    result: DriverIn | None = _inline_or_saved(
        "driver", shipment_in.driver, shipment_in.driver_id, saved, DriverIn, problems)
    return result


def create_shipment(
    session: Session,
    *,
    shipment_in: ShipmentCreate,
    principal: Principal,
    clock: Clock,
    network: Network,
    hs_country: str = "VN",
    idempotency_key: str | None = None,
) -> tuple[Shipment, bool]:
    """Declare a shipment. Returns it and whether this was a replay of an earlier request with
    the same idempotency key (then nothing new is created).

    The rows (shipment, goods lines, first revision, audit entry) are written with Core INSERTs
    in the caller's transaction; a new shipment is returned as written, with its lines, but not
    attached to the session (load it with `get_shipment` to change it). A replay returns the
    stored shipment. The idempotency key is claimed by the shipment's own INSERT (ON CONFLICT DO
    NOTHING): concurrent retries wait for each other and only one creates anything."""
    _require(principal, Role.enterprise_user, action="declaring a shipment")
    org_id = principal.organisation_id
    digest = request_hash(shipment_in)
    now = clock.now()
    problems = Problems()
    vehicle_in = _resolve_vehicle(session, org_id, shipment_in, problems)
    driver_in = _resolve_driver(session, org_id, shipment_in, problems)
    vehicle = vehicle_data(vehicle_in, problems) if vehicle_in else {}
    driver = driver_data(driver_in, problems) if driver_in else {}
    crossings = check_crossings(network, shipment_in.crossings, problems)
    check_window(shipment_in.arrival_from, shipment_in.arrival_to, now, problems)
    direction = direction_for(shipment_in.regime, shipment_in.direction, problems)
    lines, plant = goods_data(shipment_in.goods, problems, hs_country=hs_country)
    check_phyto(plant, shipment_in.phytosanitary_certificate, problems)
    if problems.items and idempotency_key is not None:
        # A retry of a request that was accepted earlier is answered with what it created,
        # even if the same body would not pass today (window now past, crossing closed).
        existing = repository.by_idempotency_key(session, org_id, idempotency_key)
        if existing is not None:
            return _replay(existing, digest)
    problems.raise_if_any()

    cargo, life = shelf_life(lines)
    status = ShipmentStatus.submitted if shipment_in.submit else ShipmentStatus.draft
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "organisation_id": org_id,
        "created_by": principal.actor,
        "status": status.value,
        "version": 1,
        "regime": shipment_in.regime.value,
        "direction": direction.value,
        "crossings": crossings,
        "arrival_from": shipment_in.arrival_from.astimezone(UTC),
        "arrival_to": shipment_in.arrival_to.astimezone(UTC),
        "cargo_class": cargo.value,
        "shelf_life_hours": life,
        "vehicle": vehicle,
        "driver": driver,
        "driver_id_number": driver["id_number"],
        "phytosanitary_certificate": shipment_in.phytosanitary_certificate,
        "customs_declaration_number": shipment_in.customs_declaration_number,
        "origin": shipment_in.origin,
        "booked_slot_start": None,
        "customs_channel": None,
        "customs_status": None,
        "quarantine_status": None,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
        "created_at": now,
        "updated_at": now,
        "submitted_at": now if shipment_in.submit else None,
    }
    shipment = Shipment(**row)
    shipment.lines = [GoodsLine(**ln) for ln in lines]
    revision = _revision_row(shipment, actor=principal.actor, action="create", at=now,
                             changed=[], lines=lines)
    entry = audit.entry_row(clock=clock, actor=principal.actor, action="shipment.create",
                            entity="shipment", entity_id=row["id"],
                            changes={"status": row["status"], "crossings": crossings})
    if not repository.insert_declaration(session, row, lines, revision, entry):
        # The key was used before, or by a concurrent request that committed first.
        assert idempotency_key is not None
        existing = repository.by_idempotency_key(session, org_id, idempotency_key)
        if existing is None:  # pragma: no cover - only if that row vanished meanwhile
            raise Conflict("this Idempotency-Key is in use, retry", field="Idempotency-Key")
        return _replay(existing, digest)
    if shipment_in.save_vehicle and vehicle_in is not None:
        _save_vehicle(session, org_id, vehicle, now)
    if shipment_in.save_driver and driver_in is not None:
        _save_driver(session, org_id, driver, now)
    return shipment, False


def _replay(existing: Shipment, digest: str) -> tuple[Shipment, bool]:
    if existing.request_hash != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            field="Idempotency-Key",
            vi="khóa Idempotency-Key đã dùng cho yêu cầu khác",
            zh="该幂等键已用于其他请求",
        )
    return existing, True


def _save_vehicle(
    session: Session, org_id: uuid.UUID, vehicle: dict[str, Any], now: datetime
) -> None:
    saved = repository.saved_vehicle_by_plate(session, org_id, vehicle["plate"])
    _remember(session, saved, SavedVehicle(organisation_id=org_id, plate=vehicle["plate"],
                                           data=vehicle, created_at=now))


def _save_driver(
    session: Session, org_id: uuid.UUID, driver: dict[str, Any], now: datetime
) -> None:
    saved = repository.saved_driver_by_id_number(session, org_id, driver["id_number"])
    _remember(session, saved, SavedDriver(organisation_id=org_id, id_number=driver["id_number"],
                                          data=driver, created_at=now))


def _remember(session: Session, saved: SavedVehicle | SavedDriver | None,
              new: SavedVehicle | SavedDriver) -> None:
    """Save a vehicle or driver for reuse, or refresh the one saved under the same key."""
    if saved is None:
        session.add(new)
    else:
        saved.data = new.data


def get_shipment(
    session: Session, *, shipment_id: uuid.UUID, principal: Principal, for_update: bool = False
) -> Shipment:
    """A shipment the caller may see; others are reported as not found (no existence leak)."""
    if principal.has(Role.camera, Role.peer_platform) and not principal.has(Role.agency_system):
        raise Forbidden("machine clients of this kind cannot read declarations")
    s = repository.get_shipment(session, shipment_id, principal, for_update=for_update)
    if s is None:
        raise ShipmentNotFound(f"no shipment {shipment_id}", field="shipment_id")
    return s


def list_shipments(
    session: Session, *, principal: Principal, statuses: list[str] | None, limit: int, offset: int
) -> tuple[list[Shipment], int]:
    if principal.has(Role.camera, Role.peer_platform) and not principal.has(Role.agency_system):
        raise Forbidden("machine clients of this kind cannot read declarations")
    return repository.list_shipments(
        session, principal, statuses=statuses, limit=limit, offset=offset
    )
