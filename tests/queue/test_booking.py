"""Booking crossing slots: earliest available with nearest windows, perishable reserve,
capacity never exceeded, anti-gaming limits, estimates, lateness, overrides (both backends)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from borderflow.outbox.models import OutboxMessage
from borderflow.queue.models import Booking, BookingEvent, CrossingSlot, WaitEstimate
from tests.fixtures.api import durian_shipment

API = "/api/v1"
OPEN_0700 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 07:00 Hanoi, 08:00 China
LINE = durian_shipment()["goods"][0]  # type: ignore[index]


def declare(client, persona, **overrides) -> str:
    r = client.post(f"{API}/shipments", json=durian_shipment(**overrides),
                    headers=persona.headers)
    assert r.status_code == 201, r.json()
    return r.json()["id"]


def general(**overrides):
    line = {**LINE, "hs_code": "847130", "description": "Laptops", "cargo_class": "general"}
    line.pop("shelf_life_hours")
    return {"goods": [line], "phytosanitary_certificate": None, **overrides}


def book(client, persona, shipment_id, **body):
    return client.post(f"{API}/bookings", json={"shipment_id": shipment_id, **body},
                       headers=persona.headers)


def signed_in_again(session, clock, persona):
    """A fresh token after moving the clock past the 12-hour token lifetime."""
    from borderflow.accounts import service as accounts
    from tests.fixtures.api import PASSWORD

    raw, _ = accounts.login(session, username=persona.name, password=PASSWORD, clock=clock)
    persona.headers = {"Authorization": f"Bearer {raw}"}
    return persona


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_books_the_earliest_slot_on_the_first_listed_crossing(client, cast):
    sid = declare(client, cast.exporter_lan)
    r = book(client, cast.exporter_lan, sid)
    assert r.status_code == 201, r.json()
    reply = r.json()
    assert reply["booking"]["crossing_id"] == "huu-nghi"
    assert parse(reply["booking"]["slot_start"]) == OPEN_0700  # 06:00 Hanoi: still closed
    assert reply["booking"]["priority"] == "perishable"
    assert set(reply["nearest_windows"]) == {"huu-nghi", "chi-ma"}
    assert reply["estimate"]["position"] == 1
    shipment = client.get(f"{API}/shipments/{sid}", headers=cast.exporter_lan.headers).json()
    assert parse(shipment["booked_slot_start"]) == OPEN_0700


def test_full_slot_is_a_clear_no_with_the_nearest_windows(client, cast):
    # Chi Ma clears 4 exports an hour.
    ids = [declare(client, cast.exporter_lan, crossings=["chi-ma"]) for _ in range(5)]
    answers = [book(client, cast.exporter_lan, sid, slot_start=OPEN_0700.isoformat())
               for sid in ids]
    assert [a.status_code for a in answers] == [201, 201, 201, 201, 409]
    refusal = answers[-1].json()["detail"][0]
    assert refusal["field"] == "slot_start" and refusal["reason_vi"]
    # Earliest-available for the fifth lands in the next hour.
    r = book(client, cast.exporter_lan, ids[-1])
    assert parse(r.json()["booking"]["slot_start"]) == OPEN_0700 + timedelta(hours=1)


def test_regular_goods_cannot_take_the_perishable_reserve_until_it_is_released(client, cast):
    regular = [declare(client, cast.exporter_lan, crossings=["chi-ma"], **general())
               for _ in range(4)]
    answers = [book(client, cast.exporter_lan, sid, slot_start=OPEN_0700.isoformat())
               for sid in regular]
    assert [a.status_code for a in answers] == [201, 201, 201, 409]  # 1 of 4 reserved
    fruit = declare(client, cast.exporter_lan, crossings=["chi-ma"])
    assert book(client, cast.exporter_lan, fruit,
                slot_start=OPEN_0700.isoformat()).status_code == 201


def test_unused_reserve_is_released_shortly_before_the_slot(client, cast, clock, session):
    regular = [declare(client, cast.exporter_lan, crossings=["chi-ma"], **general())
               for _ in range(4)]
    clock.set(OPEN_0700 - timedelta(hours=5))  # within the 6-hour release time
    signed_in_again(session, clock, cast.exporter_lan)
    answers = [book(client, cast.exporter_lan, sid, slot_start=OPEN_0700.isoformat())
               for sid in regular]
    assert [a.status_code for a in answers] == [201, 201, 201, 201]


def test_slot_is_never_over_capacity(client, cast, session):
    ids = [declare(client, cast.exporter_lan, crossings=["chi-ma"]) for _ in range(9)]
    for sid in ids:
        book(client, cast.exporter_lan, sid, slot_start=OPEN_0700.isoformat())
    over = session.scalar(select(func.count()).select_from(CrossingSlot).where(
        CrossingSlot.booked > CrossingSlot.capacity))
    assert over == 0
    booked = session.scalar(select(CrossingSlot.booked).where(
        CrossingSlot.crossing_id == "chi-ma", CrossingSlot.start == OPEN_0700,
        CrossingSlot.direction == "export"))
    assert booked == 4


def test_one_live_booking_per_shipment(client, cast):
    sid = declare(client, cast.exporter_lan)
    assert book(client, cast.exporter_lan, sid).status_code == 201
    again = book(client, cast.exporter_lan, sid)
    assert again.status_code == 409


def test_only_the_owner_books_and_only_submitted_shipments(client, cast):
    sid = declare(client, cast.exporter_lan)
    assert book(client, cast.broker_minh, sid).status_code == 404
    assert book(client, cast.officer_hoa, sid).status_code == 403
    draft = declare(client, cast.exporter_lan, submit=False)
    assert book(client, cast.exporter_lan, draft).status_code == 409


def test_booked_shipment_is_frozen_except_the_driver(client, cast):
    sid = declare(client, cast.exporter_lan)
    book(client, cast.exporter_lan, sid)
    r = client.patch(f"{API}/shipments/{sid}", headers=cast.exporter_lan.headers,
                     json={"vehicle": {"plate": "12C-999.99"}})
    assert r.status_code == 409


def test_cancel_releases_the_place_and_counts_toward_the_limit(client, cast, session):
    sid = declare(client, cast.exporter_lan, crossings=["chi-ma"])
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    r = client.post(f"{API}/bookings/{booking['id']}/cancel", headers=cast.exporter_lan.headers,
                    json={"reason": "buyer postponed"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert session.scalar(select(CrossingSlot.booked).where(
        CrossingSlot.crossing_id == "chi-ma", CrossingSlot.start == OPEN_0700,
        CrossingSlot.direction == "export")) == 0
    assert client.post(f"{API}/bookings/{booking['id']}/cancel",
                       headers=cast.exporter_lan.headers,
                       json={"reason": "again"}).status_code == 409


def test_rebooking_is_limited(client, cast):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    for i in range(2):
        r = client.post(f"{API}/bookings/{booking['id']}/rebook",
                        headers=cast.exporter_lan.headers,
                        json={"slot_start": (OPEN_0700 + timedelta(hours=2 + i)).isoformat()})
        assert r.status_code == 200, r.json()
        booking = r.json()["booking"]
        assert booking["rebook_count"] == i + 1
    r = client.post(f"{API}/bookings/{booking['id']}/rebook", headers=cast.exporter_lan.headers,
                    json={})
    assert r.status_code == 409


def test_every_estimate_given_is_stored(client, cast, session):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    for _ in range(2):
        r = client.get(f"{API}/bookings/{booking['id']}", headers=cast.exporter_lan.headers)
        assert r.status_code == 200
        est = r.json()["estimate"]
        assert parse(est["earliest_at"]) <= parse(est["expected_at"]) <= parse(est["latest_at"])
    stored = session.scalar(select(func.count()).select_from(WaitEstimate).where(
        WaitEstimate.booking_id == uuid.UUID(booking["id"])))
    assert stored == 3  # one with the booking reply, two on reading


def test_lateness_within_grace_keeps_the_slot_at_lower_priority(client, cast, clock):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    late = OPEN_0700 + timedelta(hours=1, minutes=30)  # slot ends 01:00Z, grace 60 min
    clock.set(late)
    r = client.post(f"{API}/bookings/{booking['id']}/arrival",
                    headers=cast.camera_hn_gate_1.headers,
                    json={"at": late.isoformat(), "source": "ANPR camera HN-1"})
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "active" and r.json()["late"] is True
    assert r.json()["priority"] == "regular"


def test_arriving_after_grace_loses_the_slot_and_gets_the_next_free_one(client, cast, session,
                                                                       clock):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    very_late = OPEN_0700 + timedelta(hours=3)
    clock.set(very_late)
    r = client.post(f"{API}/bookings/{booking['id']}/arrival",
                    headers=cast.camera_hn_gate_1.headers,
                    json={"at": very_late.isoformat(), "source": "ANPR camera HN-1"})
    assert r.status_code == 200 and r.json()["status"] == "lost"
    offered = session.scalars(select(Booking).where(
        Booking.shipment_id == uuid.UUID(sid), Booking.status == "active")).one()
    assert offered.slot_start >= very_late - timedelta(hours=1)
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == "booking.offered")) == 1


def test_enterprises_cannot_record_arrivals(client, cast):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    r = client.post(f"{API}/bookings/{booking['id']}/arrival", headers=cast.exporter_lan.headers,
                    json={"at": OPEN_0700.isoformat(), "source": "me"})
    assert r.status_code == 403


def test_no_show_sweep(client, cast, session, clock):
    from borderflow.queue.arrivals import no_show_rate, sweep_no_shows
    from borderflow.queue.policy import QueuePolicy

    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    clock.set(OPEN_0700 + timedelta(hours=3))
    assert sweep_no_shows(session, clock=clock, policy=QueuePolicy()) == 1
    row = session.get(Booking, uuid.UUID(booking["id"]))
    assert row is not None and row.status == "no_show"
    assert no_show_rate(session, cast.exporter_lan.organisation_id) == (1, 1)


def test_override_needs_an_operator_and_a_reason_and_is_audited(client, cast, session):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    body = {"reason": "Relief goods for flood victims", "priority": "emergency"}
    assert client.post(f"{API}/bookings/{booking['id']}/override",
                       headers=cast.exporter_lan.headers, json=body).status_code == 403
    assert client.post(f"{API}/bookings/{booking['id']}/override",
                       headers=cast.operator_an.headers,
                       json={"priority": "emergency", "reason": "x"}).status_code == 422
    r = client.post(f"{API}/bookings/{booking['id']}/override",
                    headers=cast.operator_an.headers, json=body)
    assert r.status_code == 200 and r.json()["priority"] == "emergency"
    ev = session.scalars(select(BookingEvent).where(
        BookingEvent.booking_id == uuid.UUID(booking["id"]),
        BookingEvent.action == "override")).one()
    assert ev.actor == "user:operator_an" and ev.reason == body["reason"]


def test_dispatch_advice_from_the_mekong_delta(client, cast):
    sid = declare(client, cast.exporter_lan)
    book(client, cast.exporter_lan, sid)
    r = client.get(f"{API}/shipments/{sid}/dispatch-advice", headers=cast.exporter_lan.headers)
    assert r.status_code == 200, r.json()
    advice = r.json()
    assert advice["travel_hours"] == 42.0  # Tien Giang
    assert parse(advice["latest_dispatch_at"]) == OPEN_0700 - timedelta(hours=42)
    assert advice["send"] is True


def test_dispatch_advice_warns_when_the_slot_is_beyond_shelf_life(client, cast):
    line = {**LINE, "shelf_life_hours": 1}
    sid = declare(client, cast.exporter_lan, goods=[line])
    r = client.get(f"{API}/shipments/{sid}/dispatch-advice", headers=cast.exporter_lan.headers,
                   params={"travel_hours": 3})
    assert r.status_code == 200
    assert r.json()["send"] is False and "shelf life" in r.json()["warning"]


def test_public_feed_needs_no_sign_in_and_is_cacheable(client, cast):
    sid = declare(client, cast.exporter_lan)
    book(client, cast.exporter_lan, sid)
    r = client.get(f"{API}/public/queue")
    assert r.status_code == 200
    assert "max-age" in r.headers["Cache-Control"] and r.headers["ETag"]
    feed = {(e["crossing"], e["direction"]): e for e in r.json()["crossings"]}
    assert feed[("huu-nghi", "export")]["booked_next_24h"] in (0, 1)
    assert feed[("binh-nghi", "export")]["capacity_next_24h"] == 0


@pytest.mark.parametrize("kind", ["closed"])
def test_closing_a_crossing_replans_its_bookings_in_one_transaction(client, cast, session,
                                                                   kind):
    ids = [declare(client, cast.exporter_lan) for _ in range(3)]
    ids.append(declare(client, cast.exporter_lan, crossings=["huu-nghi"], **general()))
    bookings = [book(client, cast.exporter_lan, sid).json()["booking"] for sid in ids]
    assert {b["crossing_id"] for b in bookings} == {"huu-nghi"}
    r = client.post(f"{API}/calendar/exceptions", headers=cast.operator_an.headers, json={
        "kind": kind, "crossings": ["huu-nghi"], "from": "2026-11-25", "to": "2026-11-25",
        "reason": "Sudden closure by the Chinese side"})
    assert r.status_code == 201, r.json()
    report = r.json()["replan"]
    assert sorted(report["moved"]) == sorted(b["id"] for b in bookings)
    rows = {str(b.id): b for b in session.scalars(select(Booking).where(
        Booking.id.in_([uuid.UUID(b["id"]) for b in bookings])))}
    for b in bookings[:3]:  # fruit accepting Chi Ma re-routes there the same morning
        assert rows[b["id"]].crossing_id == "chi-ma"
        assert rows[b["id"]].slot_start == OPEN_0700
    regular = rows[bookings[3]["id"]]  # only Huu Nghi acceptable: the next day it opens
    assert regular.crossing_id == "huu-nghi"
    assert regular.slot_start >= datetime(2026, 11, 25, 17, tzinfo=UTC)
    notices = session.scalars(select(OutboxMessage).where(
        OutboxMessage.topic == "booking.replanned")).all()
    assert len(notices) == 4
    assert {n.recipient for n in notices} == {f"org:{cast.exporter_lan.organisation_id}"}
    over = session.scalar(select(func.count()).select_from(CrossingSlot).where(
        CrossingSlot.booked > CrossingSlot.capacity))
    assert over == 0


def test_an_arrival_in_the_future_is_refused(client, cast, session):
    sid = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, sid).json()["booking"]
    r = client.post(f"{API}/bookings/{booking['id']}/arrival",
                    headers=cast.camera_hn_gate_1.headers,
                    json={"at": "2026-11-30T03:00:00+00:00", "source": "ANPR camera HN-1"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "at"
    row = session.get(Booking, uuid.UUID(booking["id"]))
    assert row is not None and row.status == "active" and row.arrived_at is None
