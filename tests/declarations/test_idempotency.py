"""Idempotency keys under concurrent retries, with real commits on separate connections
(SQLite and PostgreSQL): two requests with one key never both create a shipment."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from borderflow.accounts.models import Organisation
from borderflow.accounts.roles import Principal, Role
from borderflow.audit.models import AuditEntry
from borderflow.clock import FixedClock
from borderflow.declarations import service
from borderflow.declarations.models import GoodsLine, Shipment, ShipmentRevision
from borderflow.declarations.schemas import ShipmentCreate
from borderflow.errors import Conflict, ValidationFailed
from borderflow.network.schemas import Network
from tests.fixtures.api import durian_shipment


@pytest.fixture
def racer(engine: Engine, clock: FixedClock) -> Iterator[Principal]:
    """An enterprise committed for real (the racing sessions do not share a transaction), and
    everything it declared removed afterwards."""
    org_id = uuid.uuid4()
    with Session(engine) as s, s.begin():
        s.add(Organisation(id=org_id, name="Racing exporter", kind="enterprise", country="VN",
                           created_at=clock.now()))
    yield Principal(kind="user", id=uuid.uuid4(), name=f"racer-{org_id.hex[:6]}",
                    organisation_id=org_id, roles=frozenset({Role.enterprise_user}))
    with Session(engine) as s, s.begin():
        ids = select(Shipment.id).where(Shipment.organisation_id == org_id)
        entity_ids = [str(i) for i in s.scalars(ids)]
        s.execute(delete(AuditEntry).where(AuditEntry.entity == "shipment",
                                           AuditEntry.entity_id.in_(entity_ids)))
        s.execute(delete(ShipmentRevision).where(ShipmentRevision.shipment_id.in_(ids)))
        s.execute(delete(GoodsLine).where(GoodsLine.shipment_id.in_(ids)))
        s.execute(delete(Shipment).where(Shipment.organisation_id == org_id))
        s.execute(delete(Organisation).where(Organisation.id == org_id))


def _declare(session: Session, principal: Principal, clock: FixedClock, network: Network,
             key: str, **overrides: Any) -> tuple[Shipment, bool]:
    return service.create_shipment(
        session, shipment_in=ShipmentCreate.model_validate(durian_shipment(**overrides)),
        principal=principal, clock=clock, network=network, idempotency_key=key)


def _count(engine: Engine, org_id: uuid.UUID) -> dict[str, int]:
    with Session(engine) as s:
        ids = select(Shipment.id).where(Shipment.organisation_id == org_id)
        return {
            "shipments": s.scalar(select(func.count()).select_from(Shipment)
                                  .where(Shipment.organisation_id == org_id)) or 0,
            "lines": s.scalar(select(func.count()).select_from(GoodsLine)
                              .where(GoodsLine.shipment_id.in_(ids))) or 0,
            "revisions": s.scalar(select(func.count()).select_from(ShipmentRevision)
                                  .where(ShipmentRevision.shipment_id.in_(ids))) or 0,
        }


@pytest.mark.parametrize("first_commits", [True, False], ids=["first-commits", "first-fails"])
def test_a_concurrent_retry_waits_for_the_first_and_never_makes_a_second_shipment(
    engine: Engine, racer: Principal, clock: FixedClock, lang_son: Network, first_commits: bool
) -> None:
    key = "race-0001"
    first = Session(engine)
    created, replayed = _declare(first, racer, clock, lang_son, key)
    assert not replayed
    result: dict[str, Any] = {}

    def retry() -> None:
        try:
            with Session(engine) as second, second.begin():
                shipment, again = _declare(second, racer, clock, lang_son, key)
                result["id"], result["replayed"] = shipment.id, again
        except Exception as exc:  # reported to the main thread
            result["error"] = exc

    thread = threading.Thread(target=retry)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive(), "the retry must wait for the first request's transaction"
    if first_commits:
        first.commit()
    else:
        first.rollback()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and "error" not in result, result
    if first_commits:
        assert result == {"id": created.id, "replayed": True}
    else:  # the first request failed: the retry creates the shipment
        assert result["replayed"] is False and result["id"] != created.id
    assert _count(engine, racer.organisation_id) == {"shipments": 1, "lines": 1, "revisions": 1}


def test_a_retry_of_an_accepted_request_is_answered_even_if_no_longer_valid(
    engine: Engine, racer: Principal, clock: FixedClock, lang_son: Network
) -> None:
    with Session(engine) as s, s.begin():
        created, _ = _declare(s, racer, clock, lang_son, "late-retry")
    later = FixedClock(clock.now() + timedelta(days=5))  # the arrival window is now past
    with Session(engine) as s, s.begin():
        with pytest.raises(ValidationFailed):
            _declare(s, racer, later, lang_son, "another-key")
        shipment, replayed = _declare(s, racer, later, lang_son, "late-retry")
        assert replayed and shipment.id == created.id
        with pytest.raises(Conflict):  # same key, different body: still refused
            _declare(s, racer, later, lang_son, "late-retry", origin="Dak Lak")
    assert _count(engine, racer.organisation_id)["shipments"] == 1
