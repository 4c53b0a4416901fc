"""The `borderflow` command."""

from __future__ import annotations

import typer

from borderflow.accounts.cli import users_app
from borderflow.cli.context import console, fail
from borderflow.config import get_settings
from borderflow.db import upgrade
from borderflow.network.cli import calendar_app, capacity, network_app
from borderflow.outbox.cli import outbox_app
from borderflow.queue.allocate_cli import allocate
from borderflow.simulation.cli import simulate_command
from borderflow.simulation.export import export_arrivals_command
from borderflow.simulation.forecast_cli import forecast_command

app = typer.Typer(
    help="borderflow: keeps freight moving across land border gates.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

app.add_typer(network_app, name="network")
app.add_typer(calendar_app, name="calendar")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(outbox_app, name="outbox")
app.command("capacity")(capacity)
app.command("allocate")(allocate)
app.command("simulate")(simulate_command)
app.command("forecast")(forecast_command)
app.command("export-arrivals")(export_arrivals_command)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (stateless; share the DB)."),
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs). Migrates the database first."""
    import uvicorn

    upgrade(get_settings().resolved_database_url())
    uvicorn.run("borderflow.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=False,
                timeout_worker_healthcheck=30)  # a loaded 2-core box misses the 5 s default


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Create or migrate the database (SQLite file by default, or $BORDERFLOW_DATABASE_URL)."""
    url = get_settings().resolved_database_url()
    try:
        upgrade(url, revision)
    except Exception as exc:  # surface the driver's message without a traceback
        raise fail(f"cannot upgrade {url.split('@')[-1]}: {exc}") from exc
    console.print(f"[green]database at {revision}[/]: {url.split('@')[-1]}")


@app.command("demo")
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port."),
    seconds: float = typer.Option(0, help="Stop after this many seconds (0: run until Ctrl-C)."),
    rate: float = typer.Option(5.0, help="Declarations per wall-clock second."),
    speed: float = typer.Option(288.0, help="Clock acceleration (288: a day in 5 minutes)."),
    seed: int = typer.Option(2026, help="Random seed of the demo traffic."),
) -> None:
    """Run the platform with demo traffic: the real API on the embedded database, enterprises
    declaring shipments and a customs system reporting channels, on an accelerated clock."""
    import threading
    import time
    from datetime import timedelta

    from rich.live import Live
    from rich.table import Table

    from borderflow import demo as demo_mod
    from borderflow.app import create_app
    from borderflow.network.capacity import compute_capacity
    from borderflow.network.loader import load_network
    from borderflow.network.schemas import Direction

    settings = get_settings()
    url = settings.resolved_database_url()
    upgrade(url)
    network = load_network(settings.network)
    clock = demo_mod.accelerated(speed)
    app_ = create_app(settings, clock=clock, network=network)
    seeded = demo_mod.seed(app_.state.sessionmaker, clock, network)
    stats = demo_mod.DemoStats()
    stop = threading.Event()
    duration = seconds if seconds > 0 else float("inf")

    def table() -> Table:
        now = clock.now()
        t = Table(title=f"borderflow demo — platform clock {now:%Y-%m-%d %H:%M} UTC "
                  f"(×{speed:g}), API {server.base_url}/docs")
        for col in ("crossing", "declared", "booked", "export capacity next 24 h"):
            t.add_column(col)
        for c in network.crossings:
            cap = compute_capacity(network, crossing_id=c.id, direction=Direction.export,
                                   start=now, end=now + timedelta(hours=24)).total
            t.add_row(c.id, str(stats.declared.get(c.id, 0)), str(stats.booked.get(c.id, 0)),
                      str(cap))
        t.caption = (f"refused {stats.refused} · amended {stats.amended} · cancelled "
                     f"{stats.cancelled} · customs channels {dict(stats.results)} · "
                     f"sign in as {', '.join(seeded['users'])} / {demo_mod.DEMO_PASSWORD}")
        return t

    with demo_mod.DemoServer(app_, host, port) as server:
        worker = threading.Thread(target=demo_mod.run_traffic, kwargs={
            "base_url": server.base_url, "clock": clock, "network": network,
            "customs_key": seeded["customs_key"], "seconds": duration, "rate": rate,
            "seed_value": seed, "stats": stats, "stop": stop}, daemon=True)
        worker.start()
        try:
            with Live(table(), console=console, refresh_per_second=1) as live:
                while worker.is_alive():
                    time.sleep(1)
                    live.update(table())
        except KeyboardInterrupt:
            stop.set()
        worker.join(timeout=10)
    if stats.last_refusal:
        console.print(f"last refusal: {stats.last_refusal}", highlight=False)
    console.print(f"[green]demo finished[/]: {sum(stats.declared.values())} shipments declared, "
                  f"{stats.refused} refused; database: {url.split('@')[-1]}")


def main() -> None:
    app()
