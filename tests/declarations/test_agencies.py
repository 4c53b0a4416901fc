"""Agencies' results come from their systems: pushed over HTTP or pulled through a gateway."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from borderflow.declarations import agencies
from borderflow.declarations.schemas import AgencyResultIn
from tests.fixtures.api import durian_shipment

API = "/api/v1"


def _declare(client, cast, **kw) -> dict:
    r = client.post(f"{API}/shipments", json=durian_shipment(**kw),
                    headers=cast.exporter_lan.headers)
    assert r.status_code == 201
    return r.json()


def test_customs_system_reports_channel_and_release(client, cast):
    s = _declare(client, cast, customs_declaration_number="30561234567")
    r = client.post(f"{API}/agency-results", headers=cast.vnaccs.headers, json={
        "agency": "customs", "customs_declaration_number": "30561234567", "channel": "yellow",
        "status": "inspecting", "reference": "VNACCS-MSG-1",
        "reported_at": "2026-11-23T10:05:00+07:00"})
    assert r.status_code == 201, r.json()
    r = client.post(f"{API}/agency-results", headers=cast.vnaccs.headers, json={
        "agency": "customs", "shipment_id": s["id"], "status": "released",
        "reference": "VNACCS-MSG-2", "reported_at": "2026-11-23T10:40:00+07:00"})
    assert r.status_code == 201
    shipment = client.get(f"{API}/shipments/{s['id']}", headers=cast.exporter_lan.headers).json()
    assert shipment["customs_channel"] == "yellow"
    assert shipment["customs_status"] == "released"
    history = client.get(f"{API}/shipments/{s['id']}/agency-results",
                         headers=cast.officer_hoa.headers).json()
    assert [h["status"] for h in history] == ["inspecting", "released"]
    assert history[0]["source"] == "machine:vnaccs"


def test_repeated_agency_message_is_recognised_and_ignored(client, cast):
    s = _declare(client, cast)
    body = {"agency": "quarantine", "shipment_id": s["id"], "status": "held",
            "reference": "PPD-77", "reported_at": "2026-11-23T09:00:00+07:00"}
    first = client.post(f"{API}/agency-results", headers=cast.vnaccs.headers, json=body)
    again = client.post(f"{API}/agency-results", headers=cast.vnaccs.headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    history = client.get(f"{API}/shipments/{s['id']}/agency-results",
                         headers=cast.exporter_lan.headers).json()
    assert len(history) == 1
    assert client.get(f"{API}/shipments/{s['id']}", headers=cast.exporter_lan.headers
                      ).json()["quarantine_status"] == "held"


def test_result_for_an_unknown_declaration_is_404(client, cast):
    r = client.post(f"{API}/agency-results", headers=cast.vnaccs.headers, json={
        "agency": "customs", "shipment_id": str(uuid.uuid4()), "status": "accepted",
        "reference": "X-1", "reported_at": "2026-11-23T09:00:00+07:00"})
    assert r.status_code == 404
    r = client.post(f"{API}/agency-results", headers=cast.vnaccs.headers, json={
        "agency": "customs", "status": "accepted", "reference": "X-2",
        "reported_at": "2026-11-23T09:00:00+07:00"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "shipment_id"


def test_people_cannot_post_agency_results(client, cast):
    s = _declare(client, cast)
    body = {"agency": "customs", "shipment_id": s["id"], "status": "released",
            "reference": "FAKE-1", "reported_at": "2026-11-23T09:00:00+07:00"}
    for persona in (cast.exporter_lan, cast.officer_hoa, cast.camera_hn_gate_1):
        assert client.post(f"{API}/agency-results", headers=persona.headers,
                           json=body).status_code == 403


def test_polling_a_gateway_applies_new_results_once(client, cast, session, clock):
    s = _declare(client, cast, customs_declaration_number="30569999999")
    gateway = agencies.FakeAgencyGateway("vnaccs-pull")
    gateway.publish(AgencyResultIn(
        agency="customs", customs_declaration_number="30569999999", channel="green",
        status="released", reference="PULL-1",
        reported_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC)))
    gateway.publish(AgencyResultIn(
        agency="customs", customs_declaration_number="99999999999", channel="red",
        status="held", reference="PULL-2", reported_at=datetime(2026, 11, 23, 2, 5, tzinfo=UTC)))
    assert agencies.poll(session, gateway=gateway, since=None, clock=clock) == 1
    assert agencies.poll(session, gateway=gateway, since=None, clock=clock) == 0
    session.flush()
    shipment = client.get(f"{API}/shipments/{s['id']}", headers=cast.exporter_lan.headers).json()
    assert shipment["customs_channel"] == "green"
    assert shipment["customs_status"] == "released"
