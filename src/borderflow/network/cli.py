"""`borderflow network …`, `borderflow capacity`, `borderflow calendar …`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from borderflow.cli.context import clock, console, db_session, fail, network_from
from borderflow.errors import BorderflowError
from borderflow.network import service
from borderflow.network.loader import load_network_file
from borderflow.network.models import CalendarExceptionRow
from borderflow.network.schemas import Direction, ExceptionKind, Network, Side, SideScope

network_app = typer.Typer(
    help="The border network: crossings, routes, lanes, yards.", no_args_is_help=True
)
calendar_app = typer.Typer(
    help="Calendar exceptions added at run time (stored, audited).", no_args_is_help=True
)

if TYPE_CHECKING:
    from borderflow.queue.replan import ReplanReport

NetworkOpt = Annotated[
    str | None,
    typer.Option(
        "--network",
        "-n",
        help="Shipped network name or TOML file (default: $BORDERFLOW_NETWORK or lang-son).",
    ),
]


def _hours(network: Network, crossing_id: str) -> str:
    c = network.crossing(crossing_id)
    parts = []
    for side in Side:
        h = network.side_hours(c, side)
        windows = ", ".join(f"{w.start}–{w.end}" for w in h.windows)
        parts.append(f"{side.value.upper()} {windows} ({network.sides[side].tz.split('/')[-1]})")
    return "\n".join(parts)


@network_app.command("show")
def show(network: NetworkOpt = None) -> None:
    """List the crossings with their status, routes, rates per hour and yards."""
    net = network_from(network)
    console.print(
        f"[bold]{net.network.name.en}[/] ({net.id}) — {net.network.name.vi} / {net.network.name.zh}"
    )
    table = Table(show_lines=True)
    for col in (
        "crossing",
        "VN / CN",
        "kind",
        "status",
        "routes: export / import per hour",
        "hours",
        "yards",
    ):
        table.add_column(col)
    for c in net.crossings:
        routes = "\n".join(
            f"{r.id}: "
            + " / ".join(
                f"{(lr.per_hour if (lr := r.directions.get(d)) else 0):g}"
                for d in (Direction.export, Direction.import_)
            )
            for r in c.routes
        )
        status = c.status.state.value
        if c.status.reason:
            status += f"\n{c.status.reason}"
        yards = "\n".join(f"{y.name.en}: {y.capacity}" for y in c.yards) or "–"
        table.add_row(
            c.id,
            f"{c.names[Side.vn].vi}\n{c.names[Side.cn].zh} ({c.names[Side.cn].en})",
            f"{c.kind.value}\n{c.class_.value}",
            status,
            routes,
            _hours(net, c.id),
            yards,
        )
    console.print(table)
    if net.staging_areas:
        console.print(
            "Overflow and staging: "
            + ", ".join(f"{y.name.en} ({y.kind}, {y.capacity})" for y in net.staging_areas)
        )
    console.print(
        f"{len(net.exceptions)} calendar exceptions in the file; "
        "`borderflow calendar list` shows the run-time ones."
    )


@network_app.command("check")
def check(path: Annotated[Path, typer.Argument(help="Network TOML file to validate.")]) -> None:
    """Validate a network file; print every problem with its key path."""
    try:
        net = load_network_file(path)
    except BorderflowError as exc:
        raise fail(exc, code=1) from exc
    routes = sum(len(c.routes) for c in net.crossings)
    console.print(
        f"[green]ok[/] {path}: network {net.id}, {len(net.crossings)} crossings, "
        f"{routes} routes, {len(net.exceptions)} exceptions"
    )


def _parse_when(value: str, zone: ZoneInfo, name: str, end: bool = False) -> datetime:
    """A date (midnight in the network's home zone; an end date counts whole) or an ISO instant
    with offset."""
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d + timedelta(days=1 if end else 0), time(0), zone)
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--{name}: {value!r} is not a date (YYYY-MM-DD) or an ISO datetime") from exc
    if dt.tzinfo is None:
        raise fail(f"--{name}: {value!r} has no UTC offset; add one such as +07:00")
    return dt


def capacity(
    crossing: Annotated[str, typer.Option(help="Crossing id, e.g. huu-nghi.")],
    direction: Annotated[Direction, typer.Option(help="export or import.")],
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD) or instant.")],
    to: Annotated[str, typer.Option(help="Last day, inclusive (YYYY-MM-DD), or end instant.")],
    route: Annotated[str | None, typer.Option(help="One route only.")] = None,
    slot: Annotated[int, typer.Option(help="Slot length in minutes.")] = 60,
    all_slots: Annotated[bool, typer.Option("--all", help="Show closed slots too.")] = False,
    network: NetworkOpt = None,
) -> None:
    """Clearance capacity per slot, with both sides' local times."""
    net = network_from(network)
    home = ZoneInfo(net.network.home_tz)
    start = _parse_when(from_, home, "from")
    end = _parse_when(to, home, "to", end=True)
    try:
        with db_session() as session:
            table = service.crossing_capacity(
                session,
                network=net,
                crossing_id=crossing,
                direction=direction,
                start=start,
                end=end,
                route_id=route,
                slot=timedelta(minutes=slot),
            )
    except BorderflowError as exc:
        raise fail(exc) from exc
    vn, cn = ZoneInfo(net.sides[Side.vn].tz), ZoneInfo(net.sides[Side.cn].tz)
    out = Table(
        title=f"{crossing} {direction.value}"
        + (f" route {route}" if route else "")
        + f", {slot}-minute slots"
    )
    for col in ("Vietnam (UTC+7)", "China (UTC+8)", "open min", "capacity", "restriction", "why"):
        out.add_column(col)
    hidden = 0
    day_totals: dict[date, int] = {}
    for s in table.slots():
        local = s.start.astimezone(vn)
        day_totals[local.date()] = day_totals.get(local.date(), 0) + s.capacity
        if s.open_minutes == 0 and not all_slots:
            hidden += 1
            continue
        out.add_row(
            local.strftime("%a %d %b %H:%M"),
            s.start.astimezone(cn).strftime("%a %d %b %H:%M"),
            str(s.open_minutes),
            str(s.capacity),
            "pre-registered only" if s.preregistered_only else "",
            "; ".join(s.reasons),
        )
    console.print(out)
    days = Table(title="per Vietnamese day")
    days.add_column("day")
    days.add_column("capacity", justify="right")
    days.add_column("why")
    for d, total in day_totals.items():
        why = ""
        for s in table.slots():
            if s.start.astimezone(vn).date() == d and s.reasons:
                why = "; ".join(s.reasons)
                break
        days.add_row(d.strftime("%a %d %b %Y"), str(total), why)
    console.print(days)
    if hidden:
        console.print(f"{hidden} closed slots hidden (--all shows them). Total: {table.total}")


@calendar_app.command("add-exception")
def add_exception(
    crossing: Annotated[list[str], typer.Option(help="Crossing id (repeat for several, * = all).")],
    kind: Annotated[ExceptionKind, typer.Option(help="What changes.")],
    reason: Annotated[str, typer.Option(help="Why (shown to users and kept in the audit log).")],
    actor: Annotated[str, typer.Option(help="Who decides this (kept in the audit log).")],
    from_: Annotated[str | None, typer.Option("--from", help="First day YYYY-MM-DD.")] = None,
    to: Annotated[str | None, typer.Option(help="Last day YYYY-MM-DD (inclusive).")] = None,
    starts: Annotated[str | None, typer.Option(help="Start instant, ISO with offset.")] = None,
    ends: Annotated[str | None, typer.Option(help="End instant, ISO with offset.")] = None,
    window: Annotated[str | None, typer.Option(help="Daily window HH:MM-HH:MM.")] = None,
    hours: Annotated[str | None, typer.Option(help="Working hours HH:MM-HH:MM.")] = None,
    side: Annotated[SideScope, typer.Option(help="Side concerned.")] = SideScope.both,
    factor: Annotated[float | None, typer.Option(help="Capacity factor.")] = None,
    route: Annotated[str | None, typer.Option(help="One route only.")] = None,
    direction: Annotated[Direction | None, typer.Option(help="One direction only.")] = None,
    network: NetworkOpt = None,
) -> None:
    """Add a closure, suspension, hours change, opening agreement, pre-registered-only period or
    capacity change. It applies at once to booking, tracking and simulation."""
    net = network_from(network)
    spec: dict[str, object] = {
        "kind": kind.value,
        "crossings": crossing,
        "reason": reason,
        "side": side.value,
    }
    for key, value in (
        ("from", from_),
        ("to", to),
        ("starts", starts),
        ("ends", ends),
        ("factor", factor),
        ("route", route),
    ):
        if value is not None:
            spec[key] = value
    if direction is not None:
        spec["direction"] = direction.value
    if window:
        spec["window"] = window.split("-", 1)
    if hours:
        spec["hours"] = [hours.split("-", 1)]
    try:
        with db_session() as session:
            row = service.add_exception(
                session, network=net, exception_in=spec, actor=actor, clock=clock()
            )
            row_id = row.id
            report = _replan(session, net, row, actor, reason)
    except BorderflowError as exc:
        raise fail(exc) from exc
    console.print(f"[green]added[/] exception {row_id}: {kind.value} at {', '.join(crossing)}")
    if report.moved or report.unplaced:
        console.print(f"re-planned: {len(report.moved)} bookings moved, "
                      f"{len(report.unplaced)} without a slot (owners notified)")


def _replan(session: Session, net: Network, row: CalendarExceptionRow, actor: str,
            reason: str) -> ReplanReport:
    """Bookings the new exception affects are re-planned in the same transaction."""
    from borderflow.queue.policy import QueuePolicy
    from borderflow.queue.replan import replan

    crossings = [c.id for c in net.crossings] if "*" in row.crossings else list(row.crossings)
    return replan(session, network=net, crossing_ids=crossings, start=row.starts_at,
                  end=row.ends_at, clock=clock(), policy=QueuePolicy(), actor=actor,
                  reason=reason)


@calendar_app.command("list")
def list_exceptions(network: NetworkOpt = None) -> None:
    """Run-time exceptions in force (not revoked)."""
    net = network_from(network)
    from borderflow.network import repository

    with db_session() as session:
        rows = repository.active_exceptions(session, network_id=net.id)
        table = Table()
        for col in ("id", "kind", "crossings", "from (UTC)", "to (UTC)", "reason", "by", "at"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r.id),
                r.kind,
                ", ".join(r.crossings),
                r.starts_at.isoformat(),
                r.ends_at.isoformat() if r.ends_at else "open-ended",
                r.reason,
                r.created_by,
                r.created_at.isoformat(timespec="seconds"),
            )
    console.print(table)


@calendar_app.command("revoke")
def revoke(
    exception_id: Annotated[int, typer.Argument(help="Exception id (see `calendar list`).")],
    actor: Annotated[str, typer.Option(help="Who revokes it.")],
    reason: Annotated[str, typer.Option(help="Why.")],
) -> None:
    """Revoke a run-time exception (kept in history, audited)."""
    try:
        with db_session() as session:
            row = service.revoke_exception(
                session, exception_id=exception_id, actor=actor, reason=reason, clock=clock()
            )
            _replan(session, network_from(None), row, actor, reason)  # capacity comes back
    except BorderflowError as exc:
        raise fail(exc) from exc
    console.print(f"[green]revoked[/] exception {exception_id}")
