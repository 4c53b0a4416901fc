"""SQL for declarations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from borderflow.accounts.roles import SEE_ALL_ROLES, Principal, Role
from borderflow.audit.models import AuditEntry
from borderflow.declarations.models import (
    AgencyResult,
    GoodsLine,
    SavedDriver,
    SavedVehicle,
    Shipment,
    ShipmentRevision,
)


def visibility(principal: Principal) -> ColumnElement[bool] | None:
    """The rows `principal` may see: None = all of them."""
    if principal.has(*SEE_ALL_ROLES):
        return None
    clauses: list[ColumnElement[bool]] = []
    if principal.has(Role.enterprise_user):
        clauses.append(Shipment.organisation_id == principal.organisation_id)
    if principal.has(Role.driver) and principal.id_number:
        clauses.append(Shipment.driver_id_number == principal.id_number.upper())
    if principal.crossings and principal.has(
        Role.customs_officer, Role.border_guard_officer, Role.quarantine_officer,
        Role.yard_operator, Role.traffic_police,
    ):
        clauses.extend(_crossing_clause(c) for c in sorted(principal.crossings))
    return or_(*clauses) if clauses else false()


def _crossing_clause(crossing: str) -> ColumnElement[bool]:
    # `crossings` is a JSON list of ids (letters, digits, dashes): match the quoted id in its
    # text form, which works the same on SQLite and PostgreSQL.
    from sqlalchemy import String, cast

    return cast(Shipment.crossings, String).contains(f'"{crossing}"')


def _visible(stmt: Select[Shipment], principal: Principal) -> Select[Shipment]:
    clause = visibility(principal)
    return stmt if clause is None else stmt.where(clause)


def get_shipment(
    session: Session, shipment_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> Shipment | None:
    stmt = _visible(select(Shipment).where(Shipment.id == shipment_id), principal)
    stmt = stmt.options(selectinload(Shipment.lines))
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def get_shipment_any(session: Session, shipment_id: uuid.UUID) -> Shipment | None:
    return session.scalar(
        select(Shipment).where(Shipment.id == shipment_id).options(selectinload(Shipment.lines))
    )


def by_customs_number(session: Session, number: str) -> Shipment | None:
    return session.scalar(
        select(Shipment).where(Shipment.customs_declaration_number == number)
        .order_by(Shipment.created_at.desc()).limit(1)
    )


def by_idempotency_key(session: Session, org_id: uuid.UUID, key: str) -> Shipment | None:
    return session.scalar(
        select(Shipment)
        .where(Shipment.organisation_id == org_id, Shipment.idempotency_key == key)
        .options(selectinload(Shipment.lines))
    )


# Declaring writes its rows with Core INSERTs (no unit-of-work flush, no re-load): the hottest
# write path of the API. The tables' Python-side column defaults (ids, version) still apply.
_SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]
_GOODS_LINES: Table = GoodsLine.__table__  # type: ignore[assignment]
_REVISIONS: Table = ShipmentRevision.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]


def _insert_unless_key_taken(session: Session) -> Insert:
    """INSERT INTO shipments … ON CONFLICT (organisation_id, idempotency_key) DO NOTHING."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Insert = postgresql.insert(_SHIPMENTS).on_conflict_do_nothing(
            index_elements=["organisation_id", "idempotency_key"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(_SHIPMENTS).on_conflict_do_nothing(
            index_elements=["organisation_id", "idempotency_key"])
    else:
        raise NotImplementedError(f"no ON CONFLICT insert for {dialect}")  # pragma: no cover
    # Only UPDATE/DELETE keep the cursor's row count unless asked.
    return stmt.execution_options(preserve_rowcount=True)


def insert_shipment(session: Session, row: dict[str, Any]) -> bool:
    """Insert one shipment row; False (nothing written) when its organisation already used its
    idempotency key. On PostgreSQL a concurrent insert of the same key makes this wait for the
    other transaction: its commit means False, its rollback means this insert goes ahead, so
    two requests with one key never both create a shipment (no savepoint needed)."""
    if row.get("idempotency_key") is None:  # NULL keys never conflict
        session.execute(insert(_SHIPMENTS), row)
        return True
    result = session.execute(_insert_unless_key_taken(session), row)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def insert_goods_lines(session: Session, shipment_id: uuid.UUID, lines: list[dict[str, Any]]
                       ) -> None:
    session.execute(insert(_GOODS_LINES), [{**ln, "shipment_id": shipment_id} for ln in lines])


def insert_revision(session: Session, row: dict[str, Any]) -> None:
    session.execute(insert(_REVISIONS), row)


def insert_declaration(
    session: Session, shipment: dict[str, Any], lines: list[dict[str, Any]],
    revision: dict[str, Any], audit_entry: dict[str, Any],
) -> bool:
    """A new declaration's rows: the shipment (every column given), its goods lines, its first
    revision, its audit entry. False, and nothing written, when the organisation already used
    the shipment's idempotency key (see `insert_shipment`).

    PostgreSQL: one statement, data-modifying CTEs hanging off the shipment's INSERT … ON
    CONFLICT DO NOTHING RETURNING id (one round trip instead of four). Elsewhere: one INSERT
    per table."""
    if session.get_bind().dialect.name != "postgresql":
        if not insert_shipment(session, shipment):
            return False
        insert_goods_lines(session, shipment["id"], lines)
        insert_revision(session, {**revision, "shipment_id": shipment["id"]})
        session.execute(insert(_AUDIT), audit_entry)
        return True
    if any(shipment.get(k) is not None for k in _NULL_WHEN_DECLARED):
        raise ValueError(f"a new declaration leaves {', '.join(_NULL_WHEN_DECLARED)} empty")
    params = {f"s_{k}": v for k, v in shipment.items() if k not in _NULL_WHEN_DECLARED}
    for i, line in enumerate(lines):
        params.update({f"g{i}_{k}": v for k, v in line.items()})
    params.update({f"r_{k}": v for k, v in revision.items() if k != "shipment_id"})
    params.update({f"a_{k}": v for k, v in audit_entry.items()})
    return bool(session.execute(_pg_declaration(len(lines)), params).scalar_one() == 1)


# Set later by the queue and the agencies: left out of the statement, which keeps a one-line
# declaration within 50 parameters, the most psycopg caches the parsed query for.
_NULL_WHEN_DECLARED = ("booked_slot_start", "customs_channel", "customs_status",
                       "quarantine_status")


@cache
def _pg_declaration(n_lines: int) -> Select[Any]:
    """WITH s AS (INSERT INTO shipments … ON CONFLICT DO NOTHING RETURNING id),
    g AS (INSERT INTO goods_lines … SELECT s.id, … FROM s [UNION ALL …]), r AS (… revision),
    a AS (… audit entry) SELECT count(*) FROM s — built once per number of lines."""

    def binds(prefix: str, table: Table, skip: tuple[str, ...] = ()) -> list[Any]:
        return [bindparam(f"{prefix}{c.key}", type_=c.type).label(c.key) for c in table.c
                if c.key not in skip]

    s = (postgresql.insert(_SHIPMENTS)
         .values({c.key: bindparam(f"s_{c.key}", type_=c.type) for c in _SHIPMENTS.c
                  if c.key not in _NULL_WHEN_DECLARED})
         .on_conflict_do_nothing(index_elements=["organisation_id", "idempotency_key"])
         .returning(_SHIPMENTS.c.id)
         .cte("s"))
    owned = ("id", "shipment_id")
    line_cols = ["shipment_id", *(c.key for c in _GOODS_LINES.c if c.key not in owned)]
    per_line = [select(s.c.id, *binds(f"g{i}_", _GOODS_LINES, owned)) for i in range(n_lines)]
    lines = per_line[0] if n_lines == 1 else union_all(*per_line)
    g = insert(_GOODS_LINES).from_select(line_cols, lines).cte("g")
    rev_cols = ["shipment_id", *(c.key for c in _REVISIONS.c if c.key not in owned)]
    r = (insert(_REVISIONS)
         .from_select(rev_cols, select(s.c.id, *binds("r_", _REVISIONS, owned)))
         .cte("r"))
    audit_cols = [c.key for c in _AUDIT.c if c.key != "id"]
    a = (insert(_AUDIT)
         .from_select(audit_cols, select(*binds("a_", _AUDIT, ("id",))).select_from(s))
         .cte("a"))
    return select(func.count()).select_from(s).add_cte(g, r, a)


def list_shipments(
    session: Session, principal: Principal, *, statuses: Iterable[str] | None, limit: int,
    offset: int,
) -> tuple[list[Shipment], int]:
    base = _visible(select(Shipment), principal)
    if statuses:
        base = base.where(Shipment.status.in_(list(statuses)))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.options(selectinload(Shipment.lines))
        .order_by(Shipment.created_at.desc(), Shipment.id)
        .limit(limit).offset(offset)
    )
    return list(rows), total


def revisions(session: Session, shipment_id: uuid.UUID) -> list[ShipmentRevision]:
    return list(session.scalars(
        select(ShipmentRevision).where(ShipmentRevision.shipment_id == shipment_id)
        .order_by(ShipmentRevision.id)
    ))


def saved_vehicle(session: Session, org_id: uuid.UUID, vehicle_id: uuid.UUID
                  ) -> SavedVehicle | None:
    return session.scalar(select(SavedVehicle).where(
        SavedVehicle.id == vehicle_id, SavedVehicle.organisation_id == org_id))


def saved_vehicle_by_plate(session: Session, org_id: uuid.UUID, plate: str) -> SavedVehicle | None:
    return session.scalar(select(SavedVehicle).where(
        SavedVehicle.plate == plate, SavedVehicle.organisation_id == org_id))


def saved_driver(session: Session, org_id: uuid.UUID, driver_id: uuid.UUID) -> SavedDriver | None:
    return session.scalar(select(SavedDriver).where(
        SavedDriver.id == driver_id, SavedDriver.organisation_id == org_id))


def saved_driver_by_id_number(session: Session, org_id: uuid.UUID, id_number: str
                              ) -> SavedDriver | None:
    return session.scalar(select(SavedDriver).where(
        SavedDriver.id_number == id_number, SavedDriver.organisation_id == org_id))


def list_saved_vehicles(session: Session, org_id: uuid.UUID) -> list[SavedVehicle]:
    return list(session.scalars(select(SavedVehicle).where(
        SavedVehicle.organisation_id == org_id).order_by(SavedVehicle.plate)))


def list_saved_drivers(session: Session, org_id: uuid.UUID) -> list[SavedDriver]:
    return list(session.scalars(select(SavedDriver).where(
        SavedDriver.organisation_id == org_id).order_by(SavedDriver.id_number)))


def agency_result_by_reference(session: Session, agency: str, reference: str
                               ) -> AgencyResult | None:
    return session.scalar(select(AgencyResult).where(
        AgencyResult.agency == agency, AgencyResult.reference == reference))


def agency_results(session: Session, shipment_id: uuid.UUID) -> list[AgencyResult]:
    return list(session.scalars(select(AgencyResult).where(
        AgencyResult.shipment_id == shipment_id).order_by(AgencyResult.reported_at)))
