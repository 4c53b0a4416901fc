"""Demo traffic: enterprises declare shipments through the real HTTP API on an accelerated
clock, and a customs system reports channels, so a newcomer sees the platform move.

`borderflow demo` starts the server (embedded SQLite by default) in this process, seeds demo
organisations and people if they are missing, and drives the API until stopped.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from borderflow.accounts import repository as accounts_repo
from borderflow.accounts import service as accounts
from borderflow.accounts.roles import OrganisationKind, Role
from borderflow.accounts.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from borderflow.clock import AcceleratedClock, Clock
from borderflow.db import session_scope
from borderflow.network.schemas import Network

DEMO_PASSWORD = "demo-password-not-for-production"
ACTOR = "demo"

# (name, MST, username) of demo enterprises; MSTs pass the check-digit rule.
ENTERPRISES = [
    ("Lan Fresh Fruit JSC (demo)", "0101243150", "exporter_lan"),
    ("Minh Customs Brokerage (demo)", "0300588569", "broker_minh"),
    ("Dong Dang Import Co. (demo)", "0102100740", "importer_dong"),
]
# (HS code, description, cargo class, shelf life h, direction)
GOODS = [
    ("08106000", "Fresh durian", "fresh_fruit", 216, "export"),
    ("08109010", "Fresh dragon fruit", "fresh_fruit", 336, "export"),
    ("08071100", "Fresh watermelon", "fresh_fruit", 336, "export"),
    ("08109050", "Fresh jackfruit", "chilled", 240, "export"),
    ("08045020", "Fresh mango", "fresh_fruit", 168, "export"),
    ("84713020", "Laptop computers", "general", None, "import"),
    ("85176200", "Network equipment", "general", None, "import"),
    ("87032390", "New passenger cars", "new_vehicles", None, "import"),
]
MOBILE_PREFIXES = ["090", "091", "093", "094", "096", "097", "098", "086", "088"]  # VN mobile
PROVINCES = ["12", "63", "64", "51", "29", "47", "49"]  # Lang Son, Tien Giang, Vinh Long, ...


@dataclass
class DemoStats:
    declared: Counter[str] = field(default_factory=Counter)
    booked: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    last_refusal: str = ""
    amended: int = 0
    cancelled: int = 0
    results: Counter[str] = field(default_factory=Counter)


def seed(factory: sessionmaker[Session], clock: Clock, network: Network) -> dict[str, Any]:
    """Create the demo organisations, people and the customs system's key if missing."""
    with session_scope(factory) as session:
        users: list[str] = []
        if accounts_repo.user_by_username(session, "admin_demo") is None:
            platform = accounts.create_organisation(
                session, org_in=OrganisationCreate(name="Lang Son border platform (demo)",
                                                   kind=OrganisationKind.platform,
                                                   country="VN"), actor=ACTOR, clock=clock)
            accounts.create_user(session, user_in=UserCreate(
                organisation_id=platform.id, username="admin_demo", full_name="Demo admin",
                password=DEMO_PASSWORD, roles=[Role.admin, Role.operator]),
                actor=ACTOR, clock=clock, network=network)
            for name, mst, username in ENTERPRISES:
                org = accounts.create_organisation(session, org_in=OrganisationCreate(
                    name=name, kind=OrganisationKind.enterprise, country="VN", tax_code=mst),
                    actor=ACTOR, clock=clock)
                accounts.create_user(session, user_in=UserCreate(
                    organisation_id=org.id, username=username, full_name=username,
                    password=DEMO_PASSWORD, roles=[Role.enterprise_user]),
                    actor=ACTOR, clock=clock, network=network)
            customs = accounts.create_organisation(session, org_in=OrganisationCreate(
                name="Lang Son customs (demo)", kind=OrganisationKind.agency, country="VN"),
                actor=ACTOR, clock=clock)
            accounts.create_user(session, user_in=UserCreate(
                organisation_id=customs.id, username="officer_hoa", full_name="Officer Hoa",
                password=DEMO_PASSWORD, roles=[Role.customs_officer],
                crossings=["huu-nghi", "tan-thanh"]), actor=ACTOR, clock=clock, network=network)
        users = ["admin_demo", "officer_hoa"] + [u for _, _, u in ENTERPRISES]
        customs_org = next(o for o in accounts_repo.list_organisations(session)
                           if o.name == "Lang Son customs (demo)")
        raw_key, _ = accounts.create_api_key(session, key_in=ApiKeyCreate(
            organisation_id=customs_org.id, name="vnaccs-demo", role=Role.agency_system),
            actor=ACTOR, clock=clock)
    return {"users": users, "customs_key": raw_key}


def _plate(rng: random.Random) -> str:
    return f"{rng.choice(PROVINCES)}C-{rng.randint(100, 999)}.{rng.randint(10, 99)}"


def shipment_body(rng: random.Random, now: datetime, network: Network) -> dict[str, Any]:
    hs, desc, cargo, life, direction = rng.choice(GOODS)
    open_crossings = [c.id for c in network.crossings
                      if c.status.state.value == "open" and c.kind.value == "road"]
    crossings = rng.sample(open_crossings[:3], k=rng.randint(1, 2))
    start = now + timedelta(hours=rng.randint(6, 72))
    goods: dict[str, Any] = {
        "hs_code": hs, "description": desc, "quantity": str(rng.randint(5, 25) * 1000),
        "unit": "KGM", "gross_weight_kg": str(rng.randint(6, 28) * 1000),
        "value": str(rng.randint(5, 90) * 1000), "currency": "USD", "cargo_class": cargo,
    }
    if life:
        goods["shelf_life_hours"] = life
    body: dict[str, Any] = {
        "regime": direction, "crossings": crossings,
        "arrival_from": start.isoformat(), "arrival_to": (start + timedelta(hours=12)).isoformat(),
        "goods": [goods],
        "vehicle": {"plate": _plate(rng)},
        "driver": {"name": "Demo Driver", "id_number": f"0010{rng.randint(10**7, 10**8 - 1)}",
                   "phone": f"{rng.choice(MOBILE_PREFIXES)}{rng.randint(10**6, 10**7 - 1)}",
                   "nationality": "VN"},
        "origin": rng.choice(["Tien Giang", "Dak Lak", "Binh Thuan", "Hanoi", "Bac Giang"]),
    }
    if hs.startswith("08"):
        body["phytosanitary_certificate"] = f"VN-PC-{rng.randint(10**5, 10**6 - 1)}"
    return body


class DemoServer:
    """The real app on uvicorn, in a background thread of this process."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base_url = f"http://{host}:{port}"

    def __enter__(self) -> DemoServer:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def run_traffic(
    base_url: str, *, clock: Clock, network: Network, customs_key: str, seconds: float,
    rate: float, seed_value: int, stats: DemoStats, stop: threading.Event,
    limit: int | None = None,
) -> None:
    """Declare shipments at about `rate` per wall-clock second; amend, cancel and report
    customs channels now and then."""
    rng = random.Random(seed_value)
    gaps = np.random.default_rng(np.random.SeedSequence(seed_value)).exponential(1 / rate,
                                                                                size=100_000)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        tokens = {}
        for _, _, username in ENTERPRISES:
            r = http.post("/api/v1/auth/token",
                          data={"username": username, "password": DEMO_PASSWORD})
            r.raise_for_status()
            tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        declared: list[tuple[str, str]] = []
        deadline = time.monotonic() + seconds
        run = f"{seed_value}-{int(time.time())}"  # retries within a run are idempotent
        i = 0
        while time.monotonic() < deadline and not stop.is_set():
            if limit is not None and sum(stats.declared.values()) >= limit:
                break
            username = rng.choice(list(tokens))
            r = http.post("/api/v1/shipments", json=shipment_body(rng, clock.now(), network),
                          headers={**tokens[username], "Idempotency-Key": f"demo-{run}-{i}"})
            if r.status_code in (200, 201):
                body = r.json()
                declared.append((username, body["id"]))
                stats.declared[body["crossings"][0]] += 1
                if rng.random() < 0.7:  # most book a crossing slot at once
                    b = http.post("/api/v1/bookings", json={"shipment_id": body["id"]},
                                  headers=tokens[username])
                    if b.status_code == 201:
                        stats.booked[b.json()["booking"]["crossing_id"]] += 1
            else:
                stats.refused += 1
                stats.last_refusal = r.text[:300]
            if declared and rng.random() < 0.1:
                who, sid = rng.choice(declared)
                r = http.patch(f"/api/v1/shipments/{sid}", headers=tokens[who],
                               json={"origin": "Lam Dong", "reason": "loaded elsewhere"})
                stats.amended += r.status_code == 200
            if declared and rng.random() < 0.03:
                who, sid = declared.pop(rng.randrange(len(declared)))
                r = http.post(f"/api/v1/shipments/{sid}/cancel", headers=tokens[who],
                              json={"reason": "buyer postponed"})
                stats.cancelled += r.status_code == 200
            if declared and rng.random() < 0.4:
                _, sid = rng.choice(declared)
                channel = rng.choices(["green", "yellow", "red"], weights=[80, 15, 5])[0]
                r = http.post("/api/v1/agency-results", headers={"X-API-Key": customs_key},
                              json={"agency": "customs", "shipment_id": sid, "channel": channel,
                                    "status": "accepted", "reference": f"vnaccs-{run}-{i}",
                                    "reported_at": clock.now().isoformat()})
                if r.status_code in (200, 201):
                    stats.results[channel] += 1
            stop.wait(float(gaps[i % gaps.size]))
            i += 1


def accelerated(factor: float) -> AcceleratedClock:
    from datetime import UTC

    return AcceleratedClock(datetime.now(UTC), factor)
