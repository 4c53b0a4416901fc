"""Declaring, amending, submitting, cancelling, completing; idempotent retries; reuse of saved
vehicles and drivers (API level, SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from borderflow.declarations import lifecycle
from borderflow.declarations.models import Shipment
from tests.fixtures.api import durian_shipment

API = "/api/v1"


def declare(client, persona, **overrides):
    r = client.post(f"{API}/shipments", json=durian_shipment(**overrides), headers=persona.headers)
    assert r.status_code == 201, r.json()
    return r.json()


def count_shipments(session) -> int:
    return session.scalar(select(func.count()).select_from(Shipment)) or 0


def test_declared_shipment_is_submitted_with_normalised_identifiers(client, cast):
    body = declare(client, cast.exporter_lan, vehicle={"plate": "63c 12345",
                                                       "containers": ["csqu 305438 3"]})
    assert body["status"] == "submitted"
    assert body["vehicle"]["plate"] == "63C-123.45"
    assert body["vehicle"]["containers"] == ["CSQU3054383"]
    assert body["driver"]["phone"] == "+84912345678"
    assert body["direction"] == "export"
    assert body["cargo_class"] == "fresh_fruit" and body["shelf_life_hours"] == 216
    assert body["arrival_from"].endswith("Z") or body["arrival_from"].endswith("+00:00") or \
        body["arrival_from"].endswith("+07:00")


def test_draft_then_submit(client, cast):
    body = declare(client, cast.exporter_lan, submit=False)
    assert body["status"] == "draft" and body["submitted_at"] is None
    r = client.post(f"{API}/shipments/{body['id']}/submit", headers=cast.exporter_lan.headers)
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    again = client.post(f"{API}/shipments/{body['id']}/submit", headers=cast.exporter_lan.headers)
    assert again.status_code == 409


def test_amendment_keeps_history(client, cast):
    body = declare(client, cast.exporter_lan)
    r = client.patch(f"{API}/shipments/{body['id']}", headers=cast.exporter_lan.headers,
                     json={"crossings": ["tan-thanh"], "reason": "Huu Nghi yard full"})
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "amended" and r.json()["version"] == 2
    assert r.json()["crossings"] == ["tan-thanh"]
    revs = client.get(f"{API}/shipments/{body['id']}/revisions",
                      headers=cast.exporter_lan.headers).json()
    assert [(v["version"], v["action"]) for v in revs] == [(1, "create"), (2, "amend")]
    assert revs[1]["changed_fields"] == ["crossings"]
    assert revs[1]["actor"] == "user:exporter_lan"


def test_amendment_with_nothing_to_change_is_refused(client, cast):
    body = declare(client, cast.exporter_lan)
    r = client.patch(f"{API}/shipments/{body['id']}", headers=cast.exporter_lan.headers,
                     json={"reason": "just because"})
    assert r.status_code == 422


def test_after_a_slot_is_booked_only_the_driver_may_change(client, cast, session, clock):
    body = declare(client, cast.exporter_lan)
    shipment = session.get(Shipment, uuid.UUID(body["id"]))
    lifecycle.mark_slot_booked(session, shipment=shipment, actor="queue", clock=clock,
                             slot_start=datetime(2026, 11, 25, 2, tzinfo=UTC))
    session.flush()
    refused = client.patch(f"{API}/shipments/{body['id']}", headers=cast.exporter_lan.headers,
                           json={"vehicle": {"plate": "12C-999.99"}})
    assert refused.status_code == 409
    assert refused.json()["detail"][0]["field"] == "vehicle"
    assert "reason_vi" in refused.json()["detail"][0]
    new_driver = {"name": "Tran Van Hai", "id_number": "001088054321", "phone": "0987654321",
                  "nationality": "VN"}
    ok = client.patch(f"{API}/shipments/{body['id']}", headers=cast.exporter_lan.headers,
                      json={"driver": new_driver, "reason": "driver ill"})
    assert ok.status_code == 200
    assert ok.json()["driver"]["id_number"] == "001088054321"
    assert ok.json()["vehicle"]["plate"] == "63C-123.45"


def test_cancelled_shipment_cannot_be_amended_or_completed(client, cast):
    body = declare(client, cast.exporter_lan)
    r = client.post(f"{API}/shipments/{body['id']}/cancel", headers=cast.exporter_lan.headers,
                    json={"reason": "buyer cancelled"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.patch(f"{API}/shipments/{body['id']}", headers=cast.exporter_lan.headers,
                        json={"origin": "Dak Lak"}).status_code == 409
    assert client.post(f"{API}/shipments/{body['id']}/complete",
                       headers=cast.officer_hoa.headers).status_code == 409


def test_customs_officer_completes_a_shipment_at_his_crossing(client, cast):
    body = declare(client, cast.exporter_lan)
    r = client.post(f"{API}/shipments/{body['id']}/complete", headers=cast.officer_hoa.headers)
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert client.post(f"{API}/shipments/{body['id']}/cancel", headers=cast.exporter_lan.headers,
                       json={"reason": "late"}).status_code == 409


def test_retry_with_the_same_idempotency_key_never_makes_two_shipments(client, cast, session):
    headers = {**cast.exporter_lan.headers, "Idempotency-Key": "lan-2026-11-23-0001"}
    first = client.post(f"{API}/shipments", json=durian_shipment(), headers=headers)
    before = count_shipments(session)
    second = client.post(f"{API}/shipments", json=durian_shipment(), headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    assert count_shipments(session) == before


def test_same_idempotency_key_with_a_different_body_is_a_conflict(client, cast):
    headers = {**cast.exporter_lan.headers, "Idempotency-Key": "lan-0002"}
    assert client.post(f"{API}/shipments", json=durian_shipment(),
                       headers=headers).status_code == 201
    r = client.post(f"{API}/shipments", json=durian_shipment(origin="Dak Lak"), headers=headers)
    assert r.status_code == 409
    assert r.json()["detail"][0]["field"] == "Idempotency-Key"


def test_idempotency_keys_belong_to_one_enterprise(client, cast):
    key = {"Idempotency-Key": "shared-key"}
    a = client.post(f"{API}/shipments", json=durian_shipment(),
                    headers={**cast.exporter_lan.headers, **key})
    b = client.post(f"{API}/shipments", json=durian_shipment(),
                    headers={**cast.broker_minh.headers, **key})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_repeat_shipment_reuses_saved_vehicle_and_driver(client, cast):
    declare(client, cast.exporter_lan, save_vehicle=True, save_driver=True)
    vehicles = client.get(f"{API}/vehicles", headers=cast.exporter_lan.headers).json()
    drivers = client.get(f"{API}/drivers", headers=cast.exporter_lan.headers).json()
    assert [v["plate"] for v in vehicles] == ["63C-123.45"]
    assert [d["id_number"] for d in drivers] == ["001099012345"]
    repeat = durian_shipment(vehicle_id=vehicles[0]["id"], driver_id=drivers[0]["id"])
    del repeat["vehicle"], repeat["driver"]
    r = client.post(f"{API}/shipments", json=repeat, headers=cast.exporter_lan.headers)
    assert r.status_code == 201, r.json()
    assert r.json()["vehicle"]["trailer_plate"] == "63R-012.34"
    # Another enterprise cannot use them.
    r = client.post(f"{API}/shipments", json=repeat, headers=cast.broker_minh.headers)
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["detail"]} == {"vehicle_id", "driver_id"}


def test_listing_filters_by_status_and_pages(client, cast):
    ids = [declare(client, cast.exporter_lan)["id"] for _ in range(3)]
    client.post(f"{API}/shipments/{ids[0]}/cancel", headers=cast.exporter_lan.headers,
                json={"reason": "x"})
    page = client.get(f"{API}/shipments", params={"status": "submitted", "limit": 1},
                      headers=cast.exporter_lan.headers).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    cancelled = client.get(f"{API}/shipments", params={"status": "cancelled"},
                           headers=cast.exporter_lan.headers).json()
    assert [s["id"] for s in cancelled["items"]] == [ids[0]]
