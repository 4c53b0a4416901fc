"""The README's main job: the real server with demo traffic on an embedded database."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from borderflow import demo
from borderflow.app import create_app
from borderflow.db import upgrade
from borderflow.declarations.models import AgencyResult, Shipment


def demo_app(tmp_path, lang_son):
    """The demo's app on a fresh SQLite file, its people seeded, on the accelerated clock."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    upgrade(url)
    clock = demo.accelerated(288)
    app = create_app(database_url=url, clock=clock, network=lang_son)
    return app, clock, demo.seed(app.state.sessionmaker, clock, lang_son)


def traffic(server, clock, lang_son, seeded, *, limit: int, seed_value: int) -> demo.DemoStats:
    stats = demo.DemoStats()
    demo.run_traffic(server.base_url, clock=clock, network=lang_son,
                     customs_key=seeded["customs_key"], seconds=60, rate=50,
                     seed_value=seed_value, stats=stats, stop=threading.Event(), limit=limit)
    return stats


def test_demo_traffic_declares_shipments_through_the_real_api(tmp_path, lang_son, unused_port):
    app, clock, seeded = demo_app(tmp_path, lang_son)
    with demo.DemoServer(app, "127.0.0.1", unused_port) as server:
        stats = traffic(server, clock, lang_son, seeded, limit=12, seed_value=7)
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

    app, clock, seeded = demo_app(tmp_path, lang_son)
    with demo.DemoServer(app, "127.0.0.1", unused_port) as server:
        traffic(server, clock, lang_son, seeded, limit=6, seed_value=3)
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
