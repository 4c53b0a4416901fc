"""`borderflow export-arrivals`: the platform's own past declarations as a replay CSV.

Every shipment submitted on the platform (any status but draft and cancelled) whose planned
arrival (`arrival_from`) falls in the period becomes one row of the CSV that a scenario's
`arrivals_csv` replays: `arrival` is the first yard arrival recorded for one of its bookings
(ANPR camera, yard operator, officer), else the planned `arrival_from`; then the declared
crossings (preferred first), the direction, the cargo class and the shelf life.

The platform does not know how long the truck drove, so `travel_hours` is left out (0: the
truck is ready at the border at `arrival`).
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.clock import require_aware
from borderflow.declarations.models import Shipment
from borderflow.declarations.schemas import ShipmentStatus
from borderflow.errors import BorderflowError, InvalidInput
from borderflow.queue.models import Booking

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
"""The period's dates are Vietnamese calendar days; the CSV's times are written in it too."""

COLUMNS = ("arrival", "crossings", "direction", "cargo", "shelf_life_hours", "shipment_id")
"""`shipment_id` is for tracing a row back to the platform; the replay ignores it."""

NOT_SUBMITTED = (ShipmentStatus.draft.value, ShipmentStatus.cancelled.value)


def export_arrivals(session: Session, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One row per submitted shipment whose planned arrival is in [start, end), sorted by
    arrival: the yard arrival of its booking if one was recorded, else `arrival_from`."""
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end <= start:
        raise InvalidInput("the period's end must be after its start", field="end")
    # A vehicle that lost its slot (arrived after the grace) is offered a new booking: its
    # first recorded arrival is when it reached the yard.
    arrived = (select(Booking.shipment_id.label("shipment_id"),
                      func.min(Booking.arrived_at).label("arrived_at"))
               .where(Booking.arrived_at.is_not(None))
               .group_by(Booking.shipment_id)
               .subquery())
    rows = session.execute(
        select(Shipment.id, Shipment.arrival_from, Shipment.crossings, Shipment.direction,
               Shipment.cargo_class, Shipment.shelf_life_hours, arrived.c.arrived_at)
        .outerjoin(arrived, arrived.c.shipment_id == Shipment.id)
        .where(Shipment.status.not_in(NOT_SUBMITTED),
               Shipment.arrival_from >= start, Shipment.arrival_from < end)).all()
    out: list[dict[str, Any]] = []
    for sid, arrival_from, crossings, direction, cargo, shelf, arrived_at in rows:
        out.append({
            "arrival": arrived_at if arrived_at is not None else arrival_from,
            "recorded": arrived_at is not None,
            "crossings": list(crossings),
            "direction": direction,
            "cargo": cargo,
            "shelf_life_hours": shelf,
            "shipment_id": sid,
        })
    out.sort(key=lambda r: (r["arrival"], str(r["shipment_id"])))
    return out


def write_arrivals_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as a replay CSV (`arrivals_csv`): times in Vietnam time with their offset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            shelf = r["shelf_life_hours"]
            writer.writerow([
                r["arrival"].astimezone(VIETNAM).isoformat(),
                "|".join(r["crossings"]),
                r["direction"],
                r["cargo"],
                "" if shelf is None else str(shelf),
                str(r["shipment_id"]),
            ])


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD, Vietnam time)",
                           field=option) from exc


def period(from_: str, to: str) -> tuple[datetime, datetime]:
    """[first day 00:00, the day after the last 00:00) in Vietnam time; aware. A bad date
    fails with `InvalidInput` naming the option (`--from`, `--to`)."""
    first, last = _day(from_, "--from"), _day(to, "--to")
    if last < first:
        raise InvalidInput(f"{to} is before --from {from_}", field="--to")
    return (datetime.combine(first, time(0), VIETNAM),
            datetime.combine(last + timedelta(days=1), time(0), VIETNAM))


def export_arrivals_command(
    from_: Annotated[str, typer.Option(
        "--from", help="First day (YYYY-MM-DD, Vietnam time) of the planned arrivals.")],
    to: Annotated[str, typer.Option(help="Last day, inclusive (YYYY-MM-DD, Vietnam time).")],
    out: Annotated[Path, typer.Option(help="CSV file to write (a scenario's arrivals_csv).")],
) -> None:
    """Export the platform's submitted shipments as a replay CSV for `simulate`."""
    from borderflow.cli.context import console, db_session, fail  # the CLI imports this module

    try:
        start, end = period(from_, to)
        with db_session() as session:
            rows = export_arrivals(session, start=start, end=end)
    except BorderflowError as exc:
        raise fail(exc) from exc
    try:
        write_arrivals_csv(rows, out)
    except OSError as exc:
        raise fail(f"--out: cannot write {out}: {exc.strerror}") from exc
    recorded = sum(1 for r in rows if r["recorded"])
    console.print(f"{len(rows)} arrivals ({recorded} recorded at a yard, {len(rows) - recorded} "
                  f"planned) from {from_} to {to} written to {out}", highlight=False)
