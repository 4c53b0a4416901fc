"""Who may call what: every /api/v1 endpoint × every persona of the cast, plus an anonymous caller.

The matrix below is the specification. `test_every_api_endpoint_has_a_row_in_the_matrix` reads
the endpoints from `app.routes`, so a new endpoint without a row fails the suite until someone
decides who may call it.

Rules (from the issue): an enterprise sees and changes only its own shipments (another
enterprise's shipment is "not found", never "forbidden", so its existence does not leak); a
driver reads the shipments he is declared to drive and changes nothing; officers read shipments
for their assigned crossings only and declare nothing; operators and admins read everything; only
admins manage organisations, users and API keys; cameras and the other side's platform cannot
read declarations; an agency's system reports results and reads; only enterprise users declare.

The queue (bookings) follows the shipment: a booking is visible exactly to whoever sees its
shipment, and only the enterprise that owns it books, rebooks or cancels; arrivals are recorded by
cameras, operators and officers assigned to the booking's crossing; only operators and admins
override; calendar exceptions come from operators, admins and officers for their own crossings;
the network, capacity and public queue feed are open data.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from borderflow.accounts import service as accounts
from borderflow.accounts.models import AccessToken, ApiKey, Organisation, User
from borderflow.accounts.roles import Role
from borderflow.accounts.schemas import ApiKeyCreate, UserCreate
from borderflow.app import API, create_app
from borderflow.audit.models import AuditEntry
from borderflow.clock import FixedClock
from borderflow.declarations.bulk import template_csv
from borderflow.declarations.models import (
    AgencyResult,
    GoodsLine,
    SavedDriver,
    SavedVehicle,
    Shipment,
    ShipmentRevision,
)
from borderflow.network.models import CalendarExceptionRow
from borderflow.network.schemas import Network
from borderflow.outbox.models import OutboxMessage
from borderflow.queue.models import Booking, BookingEvent, CrossingSlot, WaitEstimate
from borderflow.simulation import live
from borderflow.simulation.models import ForecastItemRow, ForecastRow
from tests.fixtures.api import PASSWORD, Cast, durian_shipment

# --- the matrix --------------------------------------------------------------------------------

OK = "allowed"  # any 2xx
UNAUTHENTICATED = 401
FORBIDDEN = 403
NOT_FOUND = 404

ANONYMOUS = "anonymous"
CALLERS = (
    "admin", "operator_an", "exporter_lan", "broker_minh", "driver_tuan", "officer_hoa",
    "guard_binh", "camera_hn_gate_1", "cn_peer", "vnaccs", ANONYMOUS,
)
N, F, U = NOT_FOUND, FORBIDDEN, UNAUTHENTICATED

# The target of every /shipments/{shipment_id} call (and of POST /bookings) is exporter_lan's
# durian shipment (crossings huu-nghi and chi-ma, driven by driver_tuan); `submit` targets a draft
# of the same; every /bookings/{booking_id} call targets exporter_lan's active booking at huu-nghi
# (of another such shipment, so officer_hoa is assigned to its crossing and guard_binh is not).
# Columns:
#        admin operator_an exporter_lan broker_minh driver_tuan officer_hoa guard_binh
#        camera_hn_gate_1 cn_peer vnaccs anonymous
ROWS: dict[tuple[str, str], tuple[object, ...]] = {
    ("GET", "/openapi.json"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ("POST", "/auth/token"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ("POST", "/auth/logout"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, U),
    ("GET", "/users/me"): (OK, OK, OK, OK, OK, OK, OK, N, N, N, U),
    ("POST", "/organisations"): (OK, F, F, F, F, F, F, F, F, F, U),
    ("GET", "/organisations"): (OK, OK, F, F, F, F, F, F, F, F, U),
    ("POST", "/users"): (OK, F, F, F, F, F, F, F, F, F, U),
    ("POST", "/api-keys"): (OK, F, F, F, F, F, F, F, F, F, U),
    ("DELETE", "/api-keys/{key_id}"): (OK, F, F, F, F, F, F, F, F, F, U),
    ("POST", "/shipments"): (F, F, OK, OK, F, F, F, F, F, F, U),
    ("GET", "/shipments/import/template.csv"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ("POST", "/shipments/import"): (F, F, OK, OK, F, F, F, F, F, F, U),
    ("GET", "/shipments"): (OK, OK, OK, OK, OK, OK, OK, F, F, OK, U),
    ("GET", "/shipments/{shipment_id}"): (OK, OK, OK, N, OK, OK, OK, F, F, OK, U),
    ("PATCH", "/shipments/{shipment_id}"): (F, F, OK, N, F, F, F, F, F, F, U),
    ("POST", "/shipments/{shipment_id}/submit"): (F, F, OK, N, F, F, F, F, F, F, U),
    ("POST", "/shipments/{shipment_id}/cancel"): (OK, OK, OK, N, F, F, F, F, F, F, U),
    ("POST", "/shipments/{shipment_id}/complete"): (F, OK, F, F, F, OK, OK, F, F, OK, U),
    ("GET", "/shipments/{shipment_id}/revisions"): (OK, OK, OK, N, OK, OK, OK, F, F, OK, U),
    ("GET", "/shipments/{shipment_id}/agency-results"): (OK, OK, OK, N, OK, OK, OK, F, F, OK,
                                                         U),
    ("GET", "/vehicles"): (F, F, OK, OK, F, F, F, F, F, F, U),
    ("GET", "/drivers"): (F, F, OK, OK, F, F, F, F, F, F, U),
    ("POST", "/agency-results"): (F, F, F, F, F, F, F, F, F, OK, U),
    ("POST", "/bookings"): (F, F, OK, N, F, F, F, F, F, F, U),
    ("GET", "/bookings/{booking_id}"): (OK, OK, OK, N, OK, OK, OK, F, F, OK, U),
    ("POST", "/bookings/{booking_id}/rebook"): (F, F, OK, N, F, F, F, F, F, F, U),
    ("POST", "/bookings/{booking_id}/cancel"): (F, F, OK, N, F, F, F, F, F, F, U),
    ("POST", "/bookings/{booking_id}/arrival"): (F, OK, F, F, F, OK, F, OK, F, F, U),
    ("POST", "/bookings/{booking_id}/override"): (OK, OK, F, F, F, F, F, F, F, F, U),
    ("GET", "/shipments/{shipment_id}/dispatch-advice"): (OK, OK, OK, N, OK, OK, OK, F, F, OK,
                                                          U),
    ("GET", "/public/queue"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ("GET", "/network"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ("GET", "/capacity"): (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ("POST", "/calendar/exceptions"): (OK, OK, F, F, F, OK, F, F, F, F, U),
    ("POST", "/forecasts"): (OK, OK, F, F, F, F, F, F, F, F, U),
    ("GET", "/forecasts/latest"): (OK, OK, F, F, F, OK, OK, F, F, F, U),
    ("GET", "/forecasts/accuracy"): (OK, OK, F, F, F, OK, OK, F, F, F, U),
}
MATRIX: dict[tuple[tuple[str, str], str], object] = {
    (endpoint, caller): outcome
    for endpoint, row in ROWS.items()
    for caller, outcome in zip(CALLERS, row, strict=True)
}


def api_endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path below /api/v1) of every route the app serves under /api/v1."""
    try:  # FastAPI ≥ 0.16x keeps included routers lazily: walk them
        from fastapi.routing import iter_route_contexts

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI flattens them into app.routes
        routes = app.routes
    out: set[tuple[str, str]] = set()
    for route in routes:
        path = getattr(route, "path", None) or ""
        if not path.startswith(API + "/"):
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                out.add((method, path.removeprefix(API)))
    return out


def test_every_api_endpoint_has_a_row_in_the_matrix(lang_son: Network) -> None:
    app = create_app(database_url="sqlite://", network=lang_son)
    served = api_endpoints(app)
    assert len(served) >= 20  # the enumeration really sees the included routers
    missing = sorted(served - set(ROWS))
    assert not missing, f"endpoints without an access-matrix row: {missing}"
    stale = sorted(set(ROWS) - served)
    assert not stale, f"matrix rows for endpoints the app does not serve: {stale}"


def test_the_matrix_names_every_persona_of_the_cast() -> None:
    assert set(CALLERS) == {*(f.name for f in fields(Cast)), ANONYMOUS}
    assert all(len(row) == len(CALLERS) for row in ROWS.values())


# --- the world every cell runs in --------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    cast: Cast
    session: Session
    clock: FixedClock
    shipment_id: str  # exporter_lan's submitted durian shipment (huu-nghi, chi-ma)
    draft_id: str  # exporter_lan's draft of the same
    spare_key_id: uuid.UUID  # a camera key nobody uses, for DELETE /api-keys/{key_id}
    booked: str | None = None  # exporter_lan's active booking at huu-nghi, made on first use

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == ANONYMOUS else getattr(self.cast, caller).headers

    def call(self, caller: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, API + path, headers=self.headers(caller), **kwargs)

    def shipment(self, shipment_id: str) -> dict[str, Any]:
        """The shipment as stored (not as the test session happens to cache it)."""
        self.session.expire_all()
        r = self.call("operator_an", "GET", f"/shipments/{shipment_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def reset(self, caller: str) -> None:
        """Fresh targets after a call that changed them (and a new token after a logout)."""
        if caller != ANONYMOUS and "Authorization" in self.headers(caller):
            persona = getattr(self.cast, caller)
            raw, _ = accounts.login(self.session, username=persona.name, password=PASSWORD,
                                    clock=self.clock)
            persona.headers = {"Authorization": f"Bearer {raw}"}
        self.spare_key_id = spare_key(self.session, self.cast, self.clock)
        self.shipment_id = declare(self.client, self.cast)["id"]
        self.draft_id = declare(self.client, self.cast, submit=False)["id"]
        self.booked = None

    def booking_id(self) -> str:
        """exporter_lan's active booking at huu-nghi, for a shipment of its own (not
        `shipment_id`: a booked shipment is frozen). Made when first asked for, so the tests
        that never touch the queue see no booking."""
        if self.booked is None:
            self.booked = book(self.client, self.cast, declare(self.client, self.cast)["id"])
        return self.booked


def declare(client: TestClient, cast: Cast, who: str = "exporter_lan", **overrides: object
            ) -> dict[str, Any]:
    r = client.post(f"{API}/shipments", headers=getattr(cast, who).headers,
                    json=durian_shipment(**overrides))
    assert r.status_code == 201, r.text
    return dict(r.json())


def book(client: TestClient, cast: Cast, shipment_id: str, crossing: str = "huu-nghi") -> str:
    r = client.post(f"{API}/bookings", headers=cast.exporter_lan.headers,
                    json={"shipment_id": shipment_id, "crossing": crossing})
    assert r.status_code == 201, r.text
    booking = r.json()["booking"]
    assert (booking["status"], booking["crossing_id"]) == ("active", crossing)
    return str(booking["id"])


def spare_key(session: Session, cast: Cast, clock: FixedClock) -> uuid.UUID:
    _, key = accounts.create_api_key(session, key_in=ApiKeyCreate(
        organisation_id=cast.camera_hn_gate_1.organisation_id, name="camera_spare",
        role=Role.camera), actor="test", clock=clock)
    return key.id


@pytest.fixture
def world(client: TestClient, cast: Cast, session: Session, clock: FixedClock) -> World:
    shipment = declare(client, cast)
    draft = declare(client, cast, submit=False)
    key_id = spare_key(session, cast, clock)
    return World(client, cast, session, clock, shipment["id"], draft["id"], key_id)


def request_for(world: World, endpoint: tuple[str, str], caller: str
                ) -> tuple[str, str, dict[str, Any]]:
    """What `caller` sends to `endpoint`: a request that would succeed for a caller allowed."""
    method, template = endpoint
    cast = world.cast
    booking_id = world.booking_id() if "{booking_id}" in template else None
    path = template.format(shipment_id=world.shipment_id, key_id=world.spare_key_id,
                           booking_id=booking_id)
    kwargs: dict[str, Any] = {}
    if endpoint == ("POST", "/auth/token"):
        person = caller != ANONYMOUS and "Authorization" in world.headers(caller)
        username = getattr(cast, caller).name if person else "exporter_lan"
        kwargs["data"] = {"username": username, "password": PASSWORD}
    elif endpoint == ("POST", "/organisations"):
        kwargs["json"] = {"name": "Dong Dang Plant Quarantine", "kind": "agency",
                          "country": "VN"}
    elif endpoint == ("POST", "/users"):
        kwargs["json"] = {"organisation_id": str(cast.exporter_lan.organisation_id),
                          "username": f"clerk_of_{caller}", "full_name": "Tran Thi Mai",
                          "password": PASSWORD, "roles": ["enterprise_user"]}
    elif endpoint == ("POST", "/api-keys"):
        kwargs["json"] = {"organisation_id": str(cast.camera_hn_gate_1.organisation_id),
                          "name": "camera_hn_gate_2", "role": "camera"}
    elif endpoint == ("POST", "/shipments"):
        kwargs["json"] = durian_shipment()
    elif endpoint == ("POST", "/shipments/import"):
        csv = template_csv(world.clock.now()).encode()
        kwargs["files"] = {"file": ("shipments.csv", csv, "text/csv")}
    elif endpoint == ("PATCH", "/shipments/{shipment_id}"):
        kwargs["json"] = {"origin": "Dak Lak", "reason": "packed at the Dak Lak station"}
    elif endpoint == ("POST", "/shipments/{shipment_id}/submit"):
        path = template.format(shipment_id=world.draft_id)
    elif endpoint == ("POST", "/shipments/{shipment_id}/cancel"):
        kwargs["json"] = {"reason": "buyer withdrew the order"}
    elif endpoint == ("POST", "/agency-results"):
        kwargs["json"] = {"agency": "customs", "shipment_id": world.shipment_id,
                          "channel": "green", "status": "accepted",
                          "reference": f"VNACCS-305112233440-{caller}",
                          "reported_at": "2026-11-23T10:05:00+07:00"}
    elif endpoint == ("POST", "/bookings"):
        kwargs["json"] = {"shipment_id": world.shipment_id}
    elif endpoint == ("POST", "/bookings/{booking_id}/rebook"):
        kwargs["json"] = {}
    elif endpoint == ("POST", "/bookings/{booking_id}/cancel"):
        kwargs["json"] = {"reason": "buyer postponed the order"}
    elif endpoint == ("POST", "/bookings/{booking_id}/arrival"):
        kwargs["json"] = {"at": world.clock.now().isoformat(), "source": f"{caller} at the gate"}
    elif endpoint == ("POST", "/bookings/{booking_id}/override"):
        kwargs["json"] = {"reason": "relief goods for the flood victims", "priority": "emergency"}
    elif endpoint == ("GET", "/capacity"):
        kwargs["params"] = {"crossing": "huu-nghi", "direction": "export",
                            "from": "2026-11-25T00:00:00+07:00", "to": "2026-11-26T00:00:00+07:00"}
    elif endpoint == ("POST", "/calendar/exceptions"):
        # Far from every other date here: it re-plans no booking.
        kwargs["json"] = {"kind": "suspended", "crossings": ["huu-nghi"],
                          "starts": "2026-12-20T07:00:00+07:00",
                          "ends": "2026-12-20T08:00:00+07:00",
                          "reason": f"scanner maintenance ({caller})"}
    elif endpoint == ("POST", "/forecasts"):
        kwargs["json"] = {"hours": 24, "policy": "borderflow", "seed": 7}
    elif endpoint == ("GET", "/forecasts/latest") and world.session.scalar(
            select(ForecastRow.id).limit(1)) is None:
        network = world.client.app.state.network  # type: ignore[attr-defined]
        made = live.forecast(world.session, network=network, clock=world.clock, hours=24)
        live.save_forecast(world.session, made, "test")
    return method, path, kwargs


TABLES: list[Table] = [
    m.__table__  # type: ignore[misc]
    for m in (Organisation, User, AccessToken, ApiKey, Shipment, GoodsLine, ShipmentRevision,
              SavedVehicle, SavedDriver, AgencyResult, AuditEntry, CrossingSlot, Booking,
              BookingEvent, WaitEstimate, OutboxMessage, CalendarExceptionRow, ForecastRow,
              ForecastItemRow)
]


def database_state(session: Session) -> dict[str, list[str]]:
    """Every row of every table the API writes to (a refused request must change none; an
    allowed one may, even a GET: reading a booking stores the estimate given, and the queue
    creates crossing slots when first asked about them)."""
    return {t.name: sorted(repr(tuple(row)) for row in session.execute(select(t)))
            for t in TABLES}


@pytest.mark.parametrize("endpoint", list(ROWS), ids=[f"{m} {p}" for m, p in ROWS])
def test_access_matrix(world: World, endpoint: tuple[str, str]) -> None:
    """Each caller in turn; a refused call must change nothing, an allowed change is undone by
    fresh targets before the next caller."""
    wrong: list[str] = []
    for caller in CALLERS:
        expected = MATRIX[(endpoint, caller)]
        method, path, kwargs = request_for(world, endpoint, caller)
        before = database_state(world.session)

        response = world.call(caller, method, path, **kwargs)

        got = response.status_code
        if expected == OK:
            if not 200 <= got < 300:
                wrong.append(f"{caller}: expected success, got {got} {response.text[:200]}")
            elif method != "GET":
                world.reset(caller)
            continue
        if got != expected:
            wrong.append(f"{caller}: expected {expected}, got {got} {response.text[:200]}")
            if 200 <= got < 300 and method != "GET":
                world.reset(caller)
            continue
        assert response.json()["detail"][0]["reason"]
        if expected == UNAUTHENTICATED and response.headers.get("WWW-Authenticate") != "Bearer":
            wrong.append(f"{caller}: 401 without WWW-Authenticate: Bearer")
        if database_state(world.session) != before:
            wrong.append(f"{caller}: the refused call changed data")
    assert not wrong, f"{endpoint[0]} {endpoint[1]}:\n" + "\n".join(wrong)


# --- the rules, one by one ---------------------------------------------------------------------


def test_broker_cannot_read_another_enterprises_shipment(world: World) -> None:
    r = world.call("broker_minh", "GET", f"/shipments/{world.shipment_id}")
    unknown_id = str(uuid.uuid4())
    unknown = world.call("broker_minh", "GET", f"/shipments/{unknown_id}")
    assert r.status_code == unknown.status_code == 404
    # word for word the answer for a shipment that does not exist (but for the id asked about)
    assert r.json() == json.loads(unknown.text.replace(unknown_id, world.shipment_id))


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"origin": "Lam Dong"}),
        ("POST", "/cancel", {"reason": "not mine to cancel"}),
        ("POST", "/submit", None),
        ("GET", "/revisions", None),
        ("GET", "/agency-results", None),
    ],
)
def test_broker_cannot_touch_another_enterprises_shipment_and_learns_nothing(
    world: World, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    target = world.draft_id if suffix == "/submit" else world.shipment_id
    before = world.shipment(target)
    r = world.call("broker_minh", method, f"/shipments/{target}{suffix}", json=body)
    assert r.status_code == 404
    after = world.shipment(target)
    assert (after["status"], after["version"], after["origin"], after["updated_at"]) == (
        before["status"], before["version"], before["origin"], before["updated_at"])


def test_enterprise_listing_shows_only_its_own_shipments(world: World) -> None:
    minh = declare(world.client, world.cast, "broker_minh")
    lan = world.call("exporter_lan", "GET", "/shipments").json()
    assert {s["id"] for s in lan["items"]} == {world.shipment_id, world.draft_id}
    assert lan["total"] == 2
    broker = world.call("broker_minh", "GET", "/shipments").json()
    assert [s["id"] for s in broker["items"]] == [minh["id"]]
    assert broker["total"] == 1  # the count does not reveal other enterprises' shipments
    assert world.call("exporter_lan", "GET", f"/shipments/{minh['id']}").status_code == 404


def test_enterprise_sees_only_its_own_saved_vehicles_and_drivers(world: World) -> None:
    declare(world.client, world.cast, save_vehicle=True, save_driver=True)
    assert [v["plate"] for v in world.call("exporter_lan", "GET", "/vehicles").json()] == [
        "63C-123.45"]
    assert len(world.call("exporter_lan", "GET", "/drivers").json()) == 1
    assert world.call("broker_minh", "GET", "/vehicles").json() == []
    assert world.call("broker_minh", "GET", "/drivers").json() == []


def test_driver_reads_only_the_shipments_he_drives(world: World) -> None:
    other = declare(world.client, world.cast, driver={
        "name": "Hoang Van Long", "id_number": "001088054321", "phone": "0987654321",
        "nationality": "VN"})
    assert world.call("driver_tuan", "GET", f"/shipments/{world.shipment_id}").status_code == 200
    assert world.call("driver_tuan", "GET", f"/shipments/{other['id']}").status_code == 404
    listed = world.call("driver_tuan", "GET", "/shipments").json()
    assert {s["id"] for s in listed["items"]} == {world.shipment_id, world.draft_id}
    assert listed["total"] == 2


def test_driver_loses_sight_of_a_shipment_reassigned_to_another_driver(world: World) -> None:
    r = world.call("exporter_lan", "PATCH", f"/shipments/{world.shipment_id}", json={
        "driver": {"name": "Hoang Van Long", "id_number": "001088054321",
                   "phone": "0987654321", "nationality": "VN"}, "reason": "Tuan is ill"})
    assert r.status_code == 200, r.text
    assert world.call("driver_tuan", "GET", f"/shipments/{world.shipment_id}").status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"origin": "Dak Lak"}),
        ("POST", "/submit", None),
        ("POST", "/cancel", {"reason": "the truck broke down"}),
        ("POST", "/complete", None),
    ],
)
def test_driver_cannot_change_the_shipment_he_drives(
    world: World, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    target = world.draft_id if suffix == "/submit" else world.shipment_id
    before = world.shipment(target)
    r = world.call("driver_tuan", method, f"/shipments/{target}{suffix}", json=body)
    assert r.status_code == 403
    after = world.shipment(target)
    assert (after["status"], after["version"], after["origin"]) == (
        before["status"], before["version"], before["origin"])


def test_driver_cannot_declare(world: World) -> None:
    r = world.call("driver_tuan", "POST", "/shipments", json=durian_shipment())
    assert r.status_code == 403
    assert world.call("operator_an", "GET", "/shipments").json()["total"] == 2


def test_bulk_import_declares_for_the_uploaders_enterprise_only(world: World) -> None:
    method, path, kwargs = request_for(world, ("POST", "/shipments/import"), "broker_minh")
    r = world.call("broker_minh", method, path, **kwargs)
    assert r.status_code == 200, r.text
    assert r.json()["shipments_created"] == 1
    (created,) = r.json()["created"]
    sid = created["shipment_id"]
    assert world.shipment(sid)["organisation_id"] == str(world.cast.broker_minh.organisation_id)
    assert world.call("exporter_lan", "GET", f"/shipments/{sid}").status_code == 404
    lan = world.call("exporter_lan", "GET", "/shipments").json()
    assert sid not in {s["id"] for s in lan["items"]}


@pytest.mark.parametrize("officer", ["officer_hoa", "guard_binh"])
def test_officers_read_shipments_for_their_assigned_crossings(world: World, officer: str
                                                              ) -> None:
    r = world.call(officer, "GET", f"/shipments/{world.shipment_id}")
    assert r.status_code == 200
    assert r.json()["crossings"] == ["huu-nghi", "chi-ma"]


@pytest.mark.parametrize("officer", ["officer_hoa", "guard_binh"])
def test_officers_cannot_see_a_shipment_for_another_crossing(world: World, officer: str) -> None:
    tan_thanh = declare(world.client, world.cast, crossings=["tan-thanh"])
    sid = tan_thanh["id"]
    assert world.call(officer, "GET", f"/shipments/{sid}").status_code == 404
    assert world.call(officer, "GET", f"/shipments/{sid}/revisions").status_code == 404
    assert world.call(officer, "GET", f"/shipments/{sid}/agency-results").status_code == 404
    assert world.call(officer, "POST", f"/shipments/{sid}/complete").status_code == 404
    listed = world.call(officer, "GET", "/shipments").json()
    assert sid not in {s["id"] for s in listed["items"]}
    assert listed["total"] == 2
    assert world.shipment(sid)["status"] == "submitted"


def test_officer_sees_a_shipment_once_it_is_amended_to_his_crossing(world: World) -> None:
    tan_thanh = declare(world.client, world.cast, crossings=["tan-thanh"])
    sid = tan_thanh["id"]
    assert world.call("guard_binh", "GET", f"/shipments/{sid}").status_code == 404
    r = world.call("exporter_lan", "PATCH", f"/shipments/{sid}",
                   json={"crossings": ["tan-thanh", "chi-ma"]})
    assert r.status_code == 200, r.text
    assert world.call("guard_binh", "GET", f"/shipments/{sid}").status_code == 200
    assert world.call("officer_hoa", "GET", f"/shipments/{sid}").status_code == 404


@pytest.mark.parametrize("officer", ["officer_hoa", "guard_binh"])
def test_officers_cannot_declare_or_amend(world: World, officer: str) -> None:
    before = world.shipment(world.shipment_id)
    assert world.call(officer, "POST", "/shipments", json=durian_shipment()).status_code == 403
    r = world.call(officer, "PATCH", f"/shipments/{world.shipment_id}", json={"origin": "X"})
    assert r.status_code == 403
    after = world.shipment(world.shipment_id)
    assert (after["version"], after["status"], after["origin"]) == (
        before["version"], before["status"], before["origin"])
    assert world.call("operator_an", "GET", "/shipments").json()["total"] == 2


@pytest.mark.parametrize("caller", ["admin", "operator_an", "vnaccs"])
def test_operators_admins_and_agency_systems_read_every_shipment(world: World, caller: str
                                                                 ) -> None:
    minh = declare(world.client, world.cast, "broker_minh", crossings=["tan-thanh"])
    listed = world.call(caller, "GET", "/shipments").json()
    assert {s["id"] for s in listed["items"]} == {world.shipment_id, world.draft_id, minh["id"]}
    assert world.call(caller, "GET", f"/shipments/{minh['id']}").status_code == 200


@pytest.mark.parametrize("machine", ["camera_hn_gate_1", "cn_peer"])
def test_cameras_and_the_peer_platform_cannot_read_declarations(world: World, machine: str
                                                                ) -> None:
    assert world.call(machine, "GET", "/shipments").status_code == 403
    for suffix in ("", "/revisions", "/agency-results"):
        r = world.call(machine, "GET", f"/shipments/{world.shipment_id}{suffix}")
        assert r.status_code == 403
    # forbidden by kind, whatever the id: the answer says nothing about existence
    assert world.call(machine, "GET", f"/shipments/{uuid.uuid4()}").status_code == 403


def test_agency_system_reports_a_result_and_reads_it_back(world: World) -> None:
    method, path, kwargs = request_for(world, ("POST", "/agency-results"), "vnaccs")
    r = world.call("vnaccs", method, path, **kwargs)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "machine:vnaccs"
    results = world.call("vnaccs", "GET", f"/shipments/{world.shipment_id}/agency-results")
    assert [x["reference"] for x in results.json()] == ["VNACCS-305112233440-vnaccs"]
    assert world.shipment(world.shipment_id)["customs_channel"] == "green"


@pytest.mark.parametrize("caller", ["exporter_lan", "officer_hoa", "operator_an", "cn_peer"])
def test_only_agency_systems_report_agency_results(world: World, caller: str) -> None:
    method, path, kwargs = request_for(world, ("POST", "/agency-results"), caller)
    assert world.call(caller, method, path, **kwargs).status_code == 403
    assert world.shipment(world.shipment_id)["customs_channel"] is None
    assert world.call("operator_an", "GET",
                      f"/shipments/{world.shipment_id}/agency-results").json() == []


def test_a_forbidden_amend_leaves_version_status_and_history_unchanged(world: World) -> None:
    before = world.shipment(world.shipment_id)
    history = world.call("exporter_lan", "GET", f"/shipments/{world.shipment_id}/revisions")
    for caller in ("operator_an", "admin", "driver_tuan", "officer_hoa", "vnaccs"):
        r = world.call(caller, "PATCH", f"/shipments/{world.shipment_id}",
                       json={"origin": "Dak Lak", "reason": "trying"})
        assert r.status_code == 403, caller
    after = world.shipment(world.shipment_id)
    assert after == before
    assert world.call("exporter_lan", "GET",
                      f"/shipments/{world.shipment_id}/revisions").json() == history.json()


def test_operator_may_cancel_any_enterprises_shipment(world: World) -> None:
    r = world.call("operator_an", "POST", f"/shipments/{world.shipment_id}/cancel",
                   json={"reason": "vehicle reported stolen"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    revisions = world.call("exporter_lan", "GET",
                           f"/shipments/{world.shipment_id}/revisions").json()
    assert revisions[-1]["actor"] == "user:operator_an"


@pytest.mark.parametrize("caller", ["admin", "operator_an", "driver_tuan", "officer_hoa",
                                    "guard_binh", "camera_hn_gate_1", "cn_peer", "vnaccs"])
def test_nobody_but_enterprise_users_declares(world: World, caller: str) -> None:
    r = world.call(caller, "POST", "/shipments", json=durian_shipment())
    assert r.status_code == 403
    assert world.call("operator_an", "GET", "/shipments").json()["total"] == 2


@pytest.mark.parametrize("caller", ["operator_an", "exporter_lan", "officer_hoa", "vnaccs"])
def test_only_admins_manage_accounts(world: World, caller: str) -> None:
    before = database_state(world.session)
    for endpoint in [("POST", "/organisations"), ("POST", "/users"), ("POST", "/api-keys"),
                     ("DELETE", "/api-keys/{key_id}")]:
        method, path, kwargs = request_for(world, endpoint, caller)
        assert world.call(caller, method, path, **kwargs).status_code == 403, endpoint
    assert database_state(world.session) == before


# --- the queue: bookings follow their shipment -------------------------------------------------


def booking_row(world: World, booking_id: str) -> tuple[object, ...]:
    """The booking as stored (not as the test session happens to cache it)."""
    world.session.expire_all()
    row = world.session.get(Booking, uuid.UUID(booking_id))
    assert row is not None
    return (row.status, row.crossing_id, row.slot_id, row.slot_start, row.priority,
            row.arrived_at, row.late, row.rebook_count, row.updated_at)


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("POST", "/cancel", {"reason": "not mine to cancel"}),
     ("POST", "/rebook", {})],
)
def test_broker_cannot_touch_another_enterprises_booking_and_learns_nothing(
    world: World, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    booking_id = world.booking_id()
    before = booking_row(world, booking_id)
    r = world.call("broker_minh", method, f"/bookings/{booking_id}{suffix}", json=body)
    unknown_id = str(uuid.uuid4())
    unknown = world.call("broker_minh", method, f"/bookings/{unknown_id}{suffix}", json=body)
    assert r.status_code == unknown.status_code == 404
    assert booking_row(world, booking_id) == before
    # word for word the answer for a booking that does not exist (but for the id asked about)
    assert r.json() == json.loads(unknown.text.replace(unknown_id, booking_id))


@pytest.mark.parametrize("machine", ["camera_hn_gate_1", "cn_peer"])
def test_cameras_and_the_peer_platform_cannot_read_bookings_whatever_the_id(world: World,
                                                                            machine: str
                                                                            ) -> None:
    assert world.call(machine, "GET", f"/bookings/{world.booking_id()}").status_code == 403
    # forbidden by kind, whatever the id, as for shipments
    assert world.call(machine, "GET", f"/bookings/{uuid.uuid4()}").status_code == 403


def signed_in_officer(world: World, username: str, crossings: list[str]) -> dict[str, str]:
    """A customs officer of officer_hoa's agency assigned to `crossings`."""
    accounts.create_user(world.session, user_in=UserCreate(
        organisation_id=world.cast.officer_hoa.organisation_id, username=username,
        full_name="Pham Van Duc", password=PASSWORD, roles=[Role.customs_officer],
        crossings=crossings), actor="test", clock=world.clock)
    raw, _ = accounts.login(world.session, username=username, password=PASSWORD,
                            clock=world.clock)
    return {"Authorization": f"Bearer {raw}"}


def arrival(world: World, booking_id: str, headers: dict[str, str], at: datetime | None = None
            ) -> Any:
    return world.client.post(f"{API}/bookings/{booking_id}/arrival", headers=headers, json={
        "at": (at or world.clock.now()).isoformat(), "source": "gate officer"})


def test_a_key_assigned_to_another_crossing_records_no_arrival(world: World) -> None:
    booking_id = world.booking_id()  # at huu-nghi
    raw, _ = accounts.create_api_key(world.session, key_in=ApiKeyCreate(
        organisation_id=world.cast.camera_hn_gate_1.organisation_id, name="camera_cm_gate_1",
        role=Role.camera, crossings=["chi-ma"]), actor="test", clock=world.clock)
    before = booking_row(world, booking_id)
    assert arrival(world, booking_id, {"X-API-Key": raw}).status_code == 403
    assert booking_row(world, booking_id) == before


def test_an_officer_assigned_to_no_crossing_records_no_arrival(world: World) -> None:
    booking_id = world.booking_id()
    headers = signed_in_officer(world, "officer_unassigned", crossings=[])
    assert world.client.get(f"{API}/bookings/{booking_id}", headers=headers).status_code == 404
    before = booking_row(world, booking_id)
    assert arrival(world, booking_id, headers).status_code == 403
    assert booking_row(world, booking_id) == before


def test_an_arrival_cannot_be_recorded_before_it_happens(world: World) -> None:
    booking_id = world.booking_id()  # slot 2026-11-25 07:00+07:00; now 2026-11-23 10:00+07:00
    before = booking_row(world, booking_id)
    r = arrival(world, booking_id, world.cast.camera_hn_gate_1.headers,
                at=world.clock.now() + timedelta(days=7))
    assert 400 <= r.status_code < 500, r.text
    assert booking_row(world, booking_id) == before
