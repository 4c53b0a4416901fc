"""Forecasts HTTP API: run one from the live state, read the latest, check past ones.

Operators and admins run forecasts; they and officers read them (an officer sees the vehicles
and figures of the crossings assigned to him only).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from borderflow.accounts.roles import OFFICER_ROLES, Principal, Role
from borderflow.clock import require_aware
from borderflow.deps import ClockDep, NetworkDep, ReadSessionDep, SessionDep, require
from borderflow.errors import InvalidInput, NotFound
from borderflow.network.schemas import Direction
from borderflow.queue.router import policy_of
from borderflow.simulation import live
from borderflow.simulation.models import ForecastItemRow, ForecastRow
from borderflow.simulation.scenario import PolicyName

router = APIRouter(tags=["forecasts"])
Operator = Annotated[Principal, require(Role.operator, Role.admin)]
Reader = Annotated[Principal, require(Role.operator, Role.admin, *sorted(OFFICER_ROLES))]
ACCURACY_WINDOW = timedelta(days=30)


class ForecastCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: int = Field(default=72, ge=1, le=live.MAX_HOURS, description="Horizon in hours.")
    policy: PolicyName = Field(default=PolicyName.borderflow,
                               description="The queue policy simulated.")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="Random seed.")


class ForecastItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    shipment_id: uuid.UUID
    booking_id: uuid.UUID | None
    crossing_id: str = Field(description="The crossing it is expected to use")
    direction: Direction
    state: str = Field(description="in_yard or en_route when the forecast started")
    slot_start: datetime | None
    expected_cross_at: datetime | None = Field(
        description="Expected crossing time; null: not within the horizon")


class ForecastRead(BaseModel):
    id: uuid.UUID
    network_id: str
    made_at: datetime
    made_by: str
    starts_at: datetime
    horizon_hours: int
    policy: PolicyName
    seed: int
    replications: int
    scenario_hash: str
    code_version: str
    summary: dict[str, Any] = Field(
        description="overall, by_crossing (\"crossing/direction\" → figures) and hourly series")
    items: list[ForecastItemRead]


class AccuracyFigures(BaseModel):
    compared: int
    mean_error_hours: float | None = Field(description="actual − expected (bias)")
    mean_absolute_error_hours: float | None
    p90_absolute_error_hours: float | None
    not_expected: int = Field(description="Crossed though not expected within the horizon")


class AccuracyRead(BaseModel):
    since: datetime
    overall: AccuracyFigures
    by_crossing: dict[str, AccuracyFigures]


def _sees_all(principal: Principal) -> bool:
    return principal.has(Role.operator, Role.admin)


def _for(principal: Principal, row: ForecastRow, items: list[ForecastItemRow]) -> ForecastRead:
    summary: dict[str, Any] = dict(row.summary)
    if not _sees_all(principal):
        mine = principal.crossings
        items = [i for i in items if i.crossing_id in mine]
        summary["by_crossing"] = {k: v for k, v in summary.get("by_crossing", {}).items()
                                  if k.split("/")[0] in mine}
        series = dict(summary.get("series") or {})
        for name in ("yard", "outside"):
            if isinstance(series.get(name), dict):
                series[name] = {c: v for c, v in series[name].items() if c in mine}
        summary["series"] = series
    return ForecastRead(
        id=row.id, network_id=row.network_id, made_at=row.made_at, made_by=row.made_by,
        starts_at=row.starts_at, horizon_hours=row.horizon_hours, policy=PolicyName(row.policy),
        seed=row.seed, replications=row.replications, scenario_hash=row.scenario_hash,
        code_version=row.code_version, summary=summary,
        items=[ForecastItemRead.model_validate(i) for i in items])


@router.post("/forecasts", response_model=ForecastRead, status_code=status.HTTP_201_CREATED)
def make_forecast(body: ForecastCreate, principal: Operator, session: SessionDep,
                  snapshot: ReadSessionDep, clock: ClockDep, network: NetworkDep,
                  request: Request) -> ForecastRead:
    """Simulate the next hours from the platform's current state (vehicles in yards, bookings,
    vehicles on the road) and store the forecast, to be checked later against what happens.
    The state is read and simulated outside the writing transaction, which only stores."""
    fc = live.forecast(snapshot, network=network, clock=clock, hours=body.hours,
                       policy=body.policy, seed=body.seed, queue_policy=policy_of(request))
    row = live.save_forecast(session, fc, principal.actor)
    return _for(principal, row, live.items_of(session, forecast_id=row.id))


@router.get("/forecasts/latest", response_model=ForecastRead)
def latest(principal: Reader, session: SessionDep, network: NetworkDep) -> ForecastRead:
    """The most recent stored forecast (officers: their crossings' part of it)."""
    found = live.latest_forecast(session, network_id=network.id)
    if found is None:
        raise NotFound("no forecast has been made yet", field="forecast",
                       vi="chưa có dự báo nào", zh="尚无预测")
    return _for(principal, *found)


@router.get("/forecasts/accuracy", response_model=AccuracyRead)
def accuracy(principal: Reader, session: SessionDep, clock: ClockDep, network: NetworkDep,
             since: Annotated[AwareDatetime | None, Query(
                 description="Forecasts made from then on (default: the last 30 days)")] = None,
             ) -> AccuracyRead:
    """Stored forecasts against what happened: for booked vehicles that have crossed, the
    error actual − expected crossing time (hours), per crossing."""
    try:
        start = (since if since is not None else clock.now() - ACCURACY_WINDOW)
        start = require_aware(start, "since")
    except OverflowError as exc:
        raise InvalidInput("out of range", field="since") from exc
    overall, by_crossing = live.forecast_accuracy(
        session, since=start, network_id=network.id,
        crossings=None if _sees_all(principal) else principal.crossings)
    return AccuracyRead(
        since=start, overall=AccuracyFigures(**vars(overall)),
        by_crossing={k: AccuracyFigures(**vars(v)) for k, v in by_crossing.items()})
