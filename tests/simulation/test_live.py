"""Forecasts "starting from now": the simulation started from the live platform's state
(vehicles in yards, bookings, vehicles on the road), stored, and checked against what happened
(both backends)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from borderflow.network.capacity import compute_capacity
from borderflow.network.schemas import Direction
from borderflow.queue.models import Booking, BookingEvent
from borderflow.simulation import live
from borderflow.simulation.models import ForecastItemRow, ForecastRow
from borderflow.simulation.scenario import PolicyName
from tests.fixtures.api import durian_shipment

API = "/api/v1"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
OPEN_0700 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 07:00 Hanoi: the crossings open
LINE = durian_shipment()["goods"][0]  # type: ignore[index]


def declare(client, persona, **overrides) -> str:
    r = client.post(f"{API}/shipments", json=durian_shipment(**overrides),
                    headers=persona.headers)
    assert r.status_code == 201, r.json()
    return str(r.json()["id"])


def general(**overrides):
    line = {**LINE, "hs_code": "847130", "description": "Laptops", "cargo_class": "general"}
    line.pop("shelf_life_hours")
    return {"goods": [line], "phytosanitary_certificate": None, **overrides}


def book(client, persona, shipment_id, **body) -> dict:
    r = client.post(f"{API}/bookings", json={"shipment_id": shipment_id, **body},
                    headers=persona.headers)
    assert r.status_code == 201, r.json()
    return dict(r.json()["booking"])


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass
class Fleet:
    in_yard: dict  # booking at huu-nghi whose vehicle has arrived
    booked: list[dict]  # every booking
    unbooked: list[str]  # submitted shipments without a booking
    draft: str

    @property
    def shipments(self) -> set[str]:
        return {b["shipment_id"] for b in self.booked} | set(self.unbooked)


@pytest.fixture
def fleet(client, cast) -> Fleet:
    """A fruit truck in the Huu Nghi yard, Chi Ma's first export slot full (4 bookings), a
    laptop truck booked later, two fruit trucks declared for Chi Ma and not booked (they come
    on the first slot's heels and re-book at the gate), and a draft (not a vehicle yet)."""
    yard = book(client, cast.exporter_lan, declare(client, cast.exporter_lan), crossing="huu-nghi")
    r = client.post(f"{API}/bookings/{yard['id']}/arrival", headers=cast.camera_hn_gate_1.headers,
                    json={"at": NOW.isoformat(), "source": "ANPR camera HN-1"})
    assert r.status_code == 200 and r.json()["arrived_at"], r.json()
    chi_ma = [book(client, cast.exporter_lan,
                   declare(client, cast.exporter_lan, crossings=["chi-ma"]),
                   slot_start=OPEN_0700.isoformat()) for _ in range(4)]
    laptops = book(client, cast.broker_minh,
                   declare(client, cast.broker_minh, crossings=["chi-ma"], **general()),
                   slot_start=(OPEN_0700 + timedelta(hours=3)).isoformat())
    unbooked = [declare(client, cast.exporter_lan, crossings=["chi-ma"],
                        arrival_from="2026-11-25T07:00:00+07:00") for _ in range(2)]
    draft = declare(client, cast.exporter_lan, submit=False)
    return Fleet(yard, [yard, *chi_ma, laptops], unbooked, draft)


def run(session, app, **kwargs) -> live.Forecast:
    return live.forecast(session, network=app.state.network, clock=app.state.clock,
                         queue_policy=app.state.queue_policy, **kwargs)


def test_forecast_lists_every_known_vehicle_exactly_once(fleet, session, app):
    fc = run(session, app)
    ids = [str(i.shipment_id) for i in fc.items]
    assert sorted(ids) == sorted(fleet.shipments)
    assert fleet.draft not in ids
    by_shipment = {str(i.shipment_id): i for i in fc.items}
    yard = by_shipment[fleet.in_yard["shipment_id"]]
    assert (yard.state, str(yard.booking_id)) == ("in_yard", fleet.in_yard["id"])
    assert {by_shipment[s].state for s in fleet.unbooked} == {"en_route"}
    assert all(by_shipment[s].booking_id is None for s in fleet.unbooked)
    assert fc.summary["vehicles_known"] == len(fleet.shipments)
    assert fc.summary["overall"]["vehicles"] == len(fleet.shipments)


def test_booked_vehicles_cross_within_the_horizon_at_their_crossing(fleet, session, app):
    fc = run(session, app, hours=72, policy=PolicyName.borderflow)
    assert fc.start == NOW and fc.start.tzinfo is not None
    end = fc.start + timedelta(hours=72)
    booked = {b["id"]: b for b in fleet.booked}
    for item in fc.items:
        if item.booking_id is None:
            continue
        b = booked[str(item.booking_id)]
        assert item.expected_cross_at is not None, b
        assert item.expected_cross_at.tzinfo is not None
        # in line from the start: a free place calls a vehicle forward before its slot
        assert fc.start <= item.expected_cross_at <= end
        if item.state != "in_yard":
            assert item.expected_cross_at >= parse(b["slot_start"]) - timedelta(hours=1)
        assert item.crossing_id == b["crossing_id"]
    # the unbooked fruit trucks come too, after Chi Ma's full first slot
    for item in fc.items:
        if item.booking_id is None:
            assert item.expected_cross_at is not None
            assert item.expected_cross_at >= OPEN_0700 + timedelta(hours=1)


def test_forecast_never_puts_more_vehicles_through_a_slot_than_its_capacity(fleet, session, app):
    fc = run(session, app)
    network = app.state.network
    per_slot = Counter(
        (i.crossing_id, i.direction, i.expected_cross_at.replace(minute=0, second=0,
                                                                 microsecond=0))
        for i in fc.items if i.expected_cross_at is not None)
    assert per_slot, "nothing crossed"
    for (crossing, direction, hour), n in per_slot.items():
        table = compute_capacity(network, crossing_id=crossing, direction=Direction(direction),
                                 start=hour, end=hour + timedelta(hours=1))
        assert n <= int(table.capacity[0]), (crossing, hour, n)
    # Chi Ma clears 4 exports an hour: 4 booked + 2 re-booking at the gate need two hours
    chi_ma = [i.expected_cross_at for i in fc.items if i.crossing_id == "chi-ma"
              and i.expected_cross_at is not None and i.expected_cross_at < OPEN_0700
              + timedelta(hours=2)]
    assert len(chi_ma) == 6


def test_same_seed_gives_the_same_forecast(fleet, session, app):
    a = run(session, app, seed=11, policy=PolicyName.booked)
    b = run(session, app, seed=11, policy=PolicyName.booked)
    assert a.items == b.items
    assert a.summary == b.summary
    assert (a.seed, a.scenario_hash, a.code_version) == (b.seed, b.scenario_hash, b.code_version)


def test_forecast_only_reads(fleet, session, app):
    before = (session.scalar(select(func.count()).select_from(Booking)),
              session.scalar(select(func.count()).select_from(BookingEvent)))
    run(session, app)
    assert not session.new and not session.dirty
    assert before == (session.scalar(select(func.count()).select_from(Booking)),
                      session.scalar(select(func.count()).select_from(BookingEvent)))


def test_empty_platform_forecasts_every_crossing_with_no_vehicles(session, app):
    fc = run(session, app, hours=6)
    assert fc.items == []
    assert "huu-nghi/export" in fc.summary["by_crossing"]
    assert fc.summary["overall"]["vehicles"] == 0


def test_forecast_uses_the_calendar_exceptions_stored_at_run_time(fleet, client, cast, session,
                                                                  app):
    r = client.post(f"{API}/calendar/exceptions", headers=cast.operator_an.headers, json={
        "kind": "suspended", "crossings": ["chi-ma"], "starts": "2026-11-23T00:00:00+00:00",
        "ends": "2026-11-28T00:00:00+00:00", "reason": "flooded approach road"})
    assert r.status_code in (200, 201), r.text
    fc = run(session, app)
    assert all(i.expected_cross_at is None for i in fc.items if i.crossing_id == "chi-ma")
    assert fc.summary["by_crossing"]["chi-ma/export"]["crossed"] == 0


# --- the API ------------------------------------------------------------------------------------


def test_operator_runs_and_stores_a_forecast_with_its_items(fleet, client, cast, session):
    r = client.post(f"{API}/forecasts", headers=cast.operator_an.headers,
                    json={"hours": 48, "policy": "borderflow", "seed": 5})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["horizon_hours"], body["policy"], body["seed"]) == (48, "borderflow", 5)
    assert body["made_by"] == "user:operator_an"
    assert body["scenario_hash"] and body["code_version"]
    assert parse(body["starts_at"]) == NOW
    assert {i["shipment_id"] for i in body["items"]} == fleet.shipments
    assert "chi-ma/export" in body["summary"]["by_crossing"]
    stored = session.scalar(select(func.count()).select_from(ForecastItemRow).where(
        ForecastItemRow.forecast_id == uuid.UUID(body["id"])))
    assert stored == len(fleet.shipments)
    latest = client.get(f"{API}/forecasts/latest", headers=cast.admin.headers)
    assert latest.status_code == 200
    assert latest.json() == body


def test_officer_sees_only_his_crossings_part_of_the_latest_forecast(fleet, client, cast):
    client.post(f"{API}/forecasts", headers=cast.admin.headers, json={})
    hoa = client.get(f"{API}/forecasts/latest", headers=cast.officer_hoa.headers).json()
    assert {i["crossing_id"] for i in hoa["items"]} == {"huu-nghi"}
    assert {k.split("/")[0] for k in hoa["summary"]["by_crossing"]} == {"huu-nghi"}
    assert set(hoa["summary"]["series"]["yard"]) == {"huu-nghi"}
    binh = client.get(f"{API}/forecasts/latest", headers=cast.guard_binh.headers).json()
    assert {i["crossing_id"] for i in binh["items"]} == {"chi-ma"}


def test_no_forecast_yet_is_a_404(client, cast):
    r = client.get(f"{API}/forecasts/latest", headers=cast.operator_an.headers)
    assert r.status_code == 404 and r.json()["detail"][0]["field"] == "forecast"


@pytest.mark.parametrize(("body", "field"), [
    ({"hours": 0}, "hours"), ({"hours": 169}, "hours"), ({"hours": "soon"}, "hours"),
    ({"policy": "lifo"}, "policy"), ({"seed": -1}, "seed"), ({"replications": 3}, "replications"),
])
def test_bad_forecast_request_names_the_field(client, cast, session, body, field):
    r = client.post(f"{API}/forecasts", headers=cast.operator_an.headers, json=body)
    assert r.status_code == 422, r.text
    assert [p["field"] for p in r.json()["detail"]] == [field]
    assert session.scalar(select(func.count()).select_from(ForecastRow)) == 0


@pytest.mark.parametrize("caller", ["exporter_lan", "driver_tuan", "officer_hoa", "vnaccs"])
def test_only_operators_and_admins_run_forecasts(client, cast, session, caller):
    r = client.post(f"{API}/forecasts", headers=getattr(cast, caller).headers, json={})
    assert r.status_code == 403
    assert session.scalar(select(func.count()).select_from(ForecastRow)) == 0


# --- forecast against what happened -----------------------------------------------------------


def cross(session, booking_id: str, at: datetime) -> None:
    """What tracking will do when the vehicle goes through the gate."""
    booking = session.get(Booking, uuid.UUID(booking_id))
    booking.status = "crossed"
    session.add(BookingEvent(booking_id=booking.id, at=at, action="crossed",
                             actor="camera:camera_hn_gate_1", details={}))
    session.flush()


def test_accuracy_compares_stored_forecasts_with_crossed_events(fleet, client, cast, session):
    body = client.post(f"{API}/forecasts", headers=cast.operator_an.headers, json={}).json()
    items = {i["booking_id"]: i for i in body["items"] if i["booking_id"]}
    yard = items[fleet.in_yard["id"]]
    chi_ma = items[fleet.booked[1]["id"]]
    cross(session, fleet.in_yard["id"], parse(yard["expected_cross_at"]) + timedelta(hours=2))
    cross(session, fleet.booked[1]["id"],
          parse(chi_ma["expected_cross_at"]) - timedelta(minutes=30))

    overall, by_crossing = live.forecast_accuracy(session, since=NOW - timedelta(days=1))
    assert by_crossing["huu-nghi"].compared == 1
    assert by_crossing["huu-nghi"].mean_error_hours == pytest.approx(2.0)
    assert by_crossing["huu-nghi"].mean_absolute_error_hours == pytest.approx(2.0)
    assert by_crossing["huu-nghi"].p90_absolute_error_hours == pytest.approx(2.0)
    assert by_crossing["chi-ma"].mean_error_hours == pytest.approx(-0.5)
    assert overall.compared == 2
    assert overall.mean_absolute_error_hours == pytest.approx(1.25)

    r = client.get(f"{API}/forecasts/accuracy", headers=cast.operator_an.headers,
                   params={"since": "2026-11-22T00:00:00+00:00"})
    assert r.status_code == 200, r.text
    assert r.json()["by_crossing"]["huu-nghi"]["mean_absolute_error_hours"] == pytest.approx(2.0)
    assert r.json()["overall"]["compared"] == 2
    hoa = client.get(f"{API}/forecasts/accuracy", headers=cast.officer_hoa.headers).json()
    assert set(hoa["by_crossing"]) == {"huu-nghi"}
    later = client.get(f"{API}/forecasts/accuracy", headers=cast.operator_an.headers,
                       params={"since": "2026-11-24T00:00:00+00:00"}).json()
    assert later["overall"]["compared"] == 0 and later["by_crossing"] == {}


def test_accuracy_since_must_carry_a_time_zone(client, cast):
    r = client.get(f"{API}/forecasts/accuracy", headers=cast.operator_an.headers,
                   params={"since": "2026-11-22T00:00:00"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "since"


# --- the command --------------------------------------------------------------------------------




def test_forecast_command_prints_each_crossing_and_stores_with_save(cli_home):
    from borderflow.cli import app as cli

    result = CliRunner().invoke(cli, ["forecast", "--hours", "12", "--seed", "3", "--save"])
    assert result.exit_code == 0, result.output
    assert "huu-nghi/export" in result.output and "chi-ma/import" in result.output
    assert "forecast stored as" in result.output
    bad = CliRunner().invoke(cli, ["forecast", "--hours", "500"])
    assert bad.exit_code == 2
