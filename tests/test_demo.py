"""The README's main job: the real server with demo traffic on an embedded database."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from borderflow import demo
from borderflow.app import create_app
from borderflow.db import upgrade
from borderflow.declarations.models import AgencyResult, Shipment


def test_demo_traffic_declares_shipments_through_the_real_api(tmp_path, lang_son, unused_port):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    upgrade(url)
    clock = demo.accelerated(288)
    app = create_app(database_url=url, clock=clock, network=lang_son)
    seeded = demo.seed(app.state.sessionmaker, clock, lang_son)
    stats = demo.DemoStats()
    with demo.DemoServer(app, "127.0.0.1", unused_port) as server:
        demo.run_traffic(server.base_url, clock=clock, network=lang_son,
                         customs_key=seeded["customs_key"], seconds=60, rate=50, seed_value=7,
                         stats=stats, stop=threading.Event(), limit=12)
    assert stats.refused == 0, stats.last_refusal
    declared = sum(stats.declared.values())
    assert declared == 12
    assert sum(stats.booked.values()) >= 1
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Shipment)) == declared
        assert session.scalar(select(func.count()).select_from(AgencyResult)) == sum(
            stats.results.values())
    # Seeding again (a second run on the same database) adds no duplicate people.
    again = demo.seed(app.state.sessionmaker, clock, lang_son)
    assert again["users"] == seeded["users"]
    app.state.engine.dispose()


def test_a_forecast_over_the_real_server_reads_the_demo_traffic(tmp_path, lang_son, unused_port):
    """POST /forecasts reads the live state through its own read-only session (no test
    override): the demo's declared and booked trucks are all in the stored forecast."""
    import httpx

    url = f"sqlite:///{tmp_path / 'forecast.sqlite3'}"
    upgrade(url)
    clock = demo.accelerated(288)
    app = create_app(database_url=url, clock=clock, network=lang_son)
    seeded = demo.seed(app.state.sessionmaker, clock, lang_son)
    stats = demo.DemoStats()
    with demo.DemoServer(app, "127.0.0.1", unused_port) as server:
        demo.run_traffic(server.base_url, clock=clock, network=lang_son,
                         customs_key=seeded["customs_key"], seconds=60, rate=50, seed_value=3,
                         stats=stats, stop=threading.Event(), limit=6)
        token = httpx.post(f"{server.base_url}/api/v1/auth/token",
                           data={"username": "admin_demo", "password": demo.DEMO_PASSWORD}).json()
        reply = httpx.post(f"{server.base_url}/api/v1/forecasts", json={"hours": 24},
                           headers={"Authorization": f"Bearer {token['access_token']}"},
                           timeout=60)
    assert reply.status_code == 201, reply.text
    with app.state.sessionmaker() as session:
        submitted = session.scalar(select(func.count()).select_from(Shipment).where(
            Shipment.status != "draft", Shipment.status != "cancelled"))
    assert submitted and len(reply.json()["items"]) == submitted
    app.state.engine.dispose()
