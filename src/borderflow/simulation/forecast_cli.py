"""`borderflow forecast`: the next hours simulated from the platform's current state."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from borderflow.cli.context import clock, console, db_session, fail, network_from
from borderflow.errors import BorderflowError
from borderflow.simulation.live import MAX_HOURS, Forecast, forecast, save_forecast
from borderflow.simulation.scenario import PolicyName


def forecast_command(
    hours: Annotated[int, typer.Option(min=1, max=MAX_HOURS, help="Horizon in hours.")] = 72,
    policy: Annotated[PolicyName, typer.Option(help="Queue policy simulated.")] = (
        PolicyName.borderflow),
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    save: Annotated[bool, typer.Option(
        "--save", help="Store the forecast (checked later against what happens).")] = False,
    actor: Annotated[str, typer.Option(help="Who is recorded as making it (with --save).")] = (
        "cli"),
    network: Annotated[str | None, typer.Option(
        help="Network name or file (default: $BORDERFLOW_NETWORK).")] = None,
) -> None:
    """Forecast the next hours from the live state: vehicles in yards, bookings, en route."""
    net = network_from(network)
    try:
        with db_session() as session:
            fc = forecast(session, network=net, clock=clock(), hours=hours, policy=policy,
                          seed=seed)
            saved = save_forecast(session, fc, actor).id if save else None
    except BorderflowError as exc:
        raise fail(exc) from exc
    _print(fc)
    if saved is not None:
        console.print(f"forecast stored as {saved}")


def _wait(figures: dict[str, Any]) -> str:
    w = figures.get("wait_hours") or {}
    mean, p95 = w.get("mean"), w.get("p95")
    if isinstance(mean, dict):  # several replications: mean ± ci
        mean, p95 = mean.get("mean"), p95.get("mean") if isinstance(p95, dict) else p95
    return f"{mean or 0:,.1f} / {p95 or 0:,.1f}"


def _n(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("mean")
    return f"{value or 0:,.0f}" if isinstance(value, int | float) or value is None else str(value)


def _print(fc: Forecast) -> None:
    expected = sum(1 for i in fc.items if i.expected_cross_at is not None)
    table = Table(title=f"Forecast from {fc.start:%Y-%m-%d %H:%M} UTC, next {fc.hours} h "
                  f"({fc.policy.value}, seed {fc.seed}, scenario {fc.scenario_hash}, "
                  f"code {fc.code_version})")
    for col in ("crossing/direction", "vehicles", "crossed", "inside", "en route",
                "wait h mean / p95", "max outside yards"):
        table.add_column(col, justify="left" if col == "crossing/direction" else "right")
    for key, f in sorted(fc.summary.get("by_crossing", {}).items()):
        table.add_row(escape(key), _n(f.get("vehicles")), _n(f.get("crossed")),
                      _n(f.get("inside")), _n(f.get("en_route")), _wait(f),
                      _n(f.get("max_queue_outside_yards")))
    table.caption = (f"{len(fc.items)} known vehicles; {expected} expected to cross within "
                     f"{fc.hours} h")
    console.print(table)
