"""The border network as data: crossings, routes, lanes, yards, both sides' calendars.

Loaded from a TOML file (see `loader.py`) and validated here. The default `lang-son` network
ships in `data/lang-son.toml`; any other file with the same shape works without code changes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Side(StrEnum):
    vn = "vn"
    cn = "cn"


class SideScope(StrEnum):
    vn = "vn"
    cn = "cn"
    both = "both"


class Direction(StrEnum):
    export = "export"
    import_ = "import"


class CrossingKind(StrEnum):
    road = "road"
    rail = "rail"


class CrossingClass(StrEnum):
    international = "international"
    main = "main"
    auxiliary = "auxiliary"


class CrossingState(StrEnum):
    open = "open"
    suspended = "suspended"
    closed = "closed"


class HolidayRule(StrEnum):
    closed = "closed"
    """The side does not work on its country's public holidays unless an agreement opens it."""
    open = "open"
    """The side works through public holidays; closures are entered as exceptions."""


class ExceptionKind(StrEnum):
    closed = "closed"
    """Whole days closed (or a daily window of them)."""
    suspended = "suspended"
    """An ad-hoc suspension for a time window."""
    hours = "hours"
    """Extended or reduced working hours on one side or both for a date range."""
    open = "open"
    """An opening agreement: works on weekends/holidays it would otherwise not (may set hours)."""
    preregistered_only = "preregistered_only"
    """Open (holiday closure lifted) but only goods registered in advance may pass."""
    capacity = "capacity"
    """Clearance rate multiplied by `factor` (tightened checks, new lanes, driverless route)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Names(_Strict):
    vi: str
    en: str
    zh: str


def _parse_hhmm(value: str) -> time:
    try:
        hh, mm = value.split(":")
        h, m = int(hh), int(mm)
    except ValueError as exc:
        raise ValueError(f"time {value!r} must be HH:MM") from exc
    if h == 24 and m == 0:
        return time(0, 0)  # end of day, handled by `Interval.end_minute`
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"time {value!r} is not a time of day")
    return time(h, m)


class Interval(_Strict):
    """A daily time window in a side's local time, e.g. 08:00–20:00. End may be 24:00."""

    start: str
    end: str

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, data: object) -> object:
        if isinstance(data, (list, tuple)):
            if len(data) != 2:
                raise ValueError('a time window is a pair ["HH:MM", "HH:MM"]')
            return {"start": data[0], "end": data[1]}
        return data

    @model_validator(mode="after")
    def _check(self) -> Interval:
        _parse_hhmm(self.start)
        _parse_hhmm(self.end)
        if self.end_minute <= self.start_minute:
            raise ValueError(f"window {self.start}–{self.end} ends before it starts")
        return self

    @property
    def start_minute(self) -> int:
        t = _parse_hhmm(self.start)
        return t.hour * 60 + t.minute

    @property
    def end_minute(self) -> int:
        if self.end == "24:00":
            return 24 * 60
        t = _parse_hhmm(self.end)
        return t.hour * 60 + t.minute


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SideHours(_Strict):
    """One side's normal working hours, in that side's own time zone."""

    windows: list[Interval] = Field(min_length=1)
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    on_holidays: HolidayRule = HolidayRule.closed
    source: str | None = None


class SideInfo(_Strict):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    tz: str
    hours: SideHours
    subdivision: str | None = None

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        import holidays

        if value not in holidays.list_supported_countries():
            raise ValueError(f"no public-holiday calendar for country {value!r}")
        return value


class LaneRate(_Strict):
    lanes: int = Field(ge=0)
    rate_per_lane_per_hour: float = Field(ge=0)
    source: str | None = None

    @property
    def per_hour(self) -> float:
        return self.lanes * self.rate_per_lane_per_hour


class Route(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: Names
    markers: str | None = None
    directions: dict[Direction, LaneRate]
    note: str | None = None


class Status(_Strict):
    state: CrossingState = CrossingState.open
    reason: str | None = None
    since: datetime | date | None = None
    """Day (network's home zone) or instant from which the state holds; for `open`, the day the
    crossing opened (it was shut before)."""

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | date | None) -> datetime | date | None:
        if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("a since instant must carry a UTC offset (or give a date)")
        return value


class Yard(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: Names
    kind: Literal["yard", "overflow", "staging"] = "yard"
    capacity: int = Field(ge=0)
    operator: str | None = None
    distance_km: float | None = Field(default=None, ge=0)
    source: str | None = None


class Crossing(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: CrossingKind
    class_: CrossingClass = Field(alias="class")
    names: dict[Side, Names]
    status: Status = Status()
    markers: str | None = None
    hours: dict[Side, SideHours] = Field(default_factory=dict)
    """Overrides of the network's default hours for this crossing, per side."""
    routes: list[Route] = Field(min_length=1)
    yards: list[Yard] = Field(default_factory=list)
    note: str | None = None

    @field_validator("names")
    @classmethod
    def _both_names(cls, value: dict[Side, Names]) -> dict[Side, Names]:
        missing = [s.value for s in Side if s not in value]
        if missing:
            raise ValueError(f"names for side(s) {', '.join(missing)} are missing")
        return value

    @model_validator(mode="after")
    def _unique_routes(self) -> Crossing:
        ids = [r.id for r in self.routes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"route id(s) used twice: {', '.join(dupes)}")
        return self

    def route(self, route_id: str) -> Route:
        for r in self.routes:
            if r.id == route_id:
                return r
        from borderflow.errors import RouteNotFound

        known = ", ".join(r.id for r in self.routes)
        raise RouteNotFound(
            f"crossing {self.id} has no route {route_id!r} (routes: {known})", field="route"
        )


class CalendarException(_Strict):
    """A change to the normal calendar of one or more crossings.

    Dated either by whole days (`from`/`to`, inclusive, read in `tz` or the network's home zone;
    with `window` only that daily window of each day) or by instants (`starts`/`ends`, with
    offsets).
    """

    kind: ExceptionKind
    crossings: list[str] = Field(min_length=1)
    """Crossing ids, or ["*"] for every crossing of the network."""
    reason: str = Field(min_length=1)
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    window: Interval | None = None
    starts: datetime | None = None
    ends: datetime | None = None
    tz: str | None = None
    side: SideScope = SideScope.both
    hours: list[Interval] | None = None
    factor: float | None = Field(default=None, ge=0)
    route: str | None = None
    direction: Direction | None = None
    source: str | None = None

    @field_validator("starts", "ends")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("must carry a UTC offset, e.g. 2025-04-15T07:00:00+07:00")
        return value

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> CalendarException:
        by_days = self.from_ is not None or self.to is not None
        by_instants = self.starts is not None or self.ends is not None
        if by_days == by_instants:
            raise ValueError("give either from/to (dates) or starts/ends (instants), not both")
        if by_days and self.from_ is None:
            raise ValueError("from (the first day) is missing")
        if by_instants and self.starts is None:
            raise ValueError("starts (the first instant) is missing")
        if by_days and self.to is not None and self.from_ is not None and self.to < self.from_:
            raise ValueError("to is before from")
        if by_instants and self.ends and self.starts and self.ends <= self.starts:
            raise ValueError("ends is not after starts")
        if self.window is not None and not by_days:
            raise ValueError("window applies to from/to dates only")
        if self.kind is ExceptionKind.hours and not self.hours:
            raise ValueError('an hours exception needs hours = [["HH:MM", "HH:MM"], ...]')
        if self.kind is ExceptionKind.capacity and self.factor is None:
            raise ValueError("a capacity exception needs factor (e.g. 0.3 or 3.0)")
        if self.kind is ExceptionKind.hours and not by_days:
            raise ValueError("an hours exception is dated by from/to days")
        return self

    def bounds(self, home_tz: str) -> tuple[datetime, datetime | None]:
        """The first and last instant (UTC) this exception can touch; `None` = open-ended."""
        from datetime import UTC

        if self.starts is not None:
            return self.starts.astimezone(UTC), (
                self.ends.astimezone(UTC) if self.ends is not None else None
            )
        assert self.from_ is not None
        zone = ZoneInfo(self.tz or home_tz)
        start = datetime.combine(self.from_, time(0), zone).astimezone(UTC)
        end = (
            datetime.combine(self.to + timedelta(days=1), time(0), zone).astimezone(UTC)
            if self.to is not None
            else None
        )
        return start, end


class NetworkInfo(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: Names
    home_tz: str
    note: str | None = None


class Network(_Strict):
    network: NetworkInfo
    sides: dict[Side, SideInfo]
    crossings: list[Crossing] = Field(min_length=1)
    staging_areas: list[Annotated[Yard, Field()]] = Field(default_factory=list)
    exceptions: list[CalendarException] = Field(default_factory=list)

    @field_validator("sides")
    @classmethod
    def _both_sides(cls, value: dict[Side, SideInfo]) -> dict[Side, SideInfo]:
        missing = [s.value for s in Side if s not in value]
        if missing:
            raise ValueError(f"side(s) {', '.join(missing)} are missing")
        return value

    @model_validator(mode="after")
    def _references(self) -> Network:
        ids = [c.id for c in self.crossings]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"crossings: crossing id(s) used twice: {', '.join(dupes)}")
        for i, exc in enumerate(self.exceptions):
            check_exception_targets(self, exc, where=f"exceptions[{i}]")
        return self

    @property
    def id(self) -> str:
        return self.network.id

    def crossing(self, crossing_id: str) -> Crossing:
        for c in self.crossings:
            if c.id == crossing_id:
                return c
        from borderflow.errors import CrossingNotFound

        known = ", ".join(c.id for c in self.crossings)
        raise CrossingNotFound(
            f"no crossing {crossing_id!r} in network {self.id} (crossings: {known})",
            field="crossing",
        )

    def side_hours(self, crossing: Crossing, side: Side) -> SideHours:
        return crossing.hours.get(side) or self.sides[side].hours

    def exceptions_for(self, crossing_id: str) -> list[CalendarException]:
        return [e for e in self.exceptions if "*" in e.crossings or crossing_id in e.crossings]


def check_exception_targets(network: Network, exc: CalendarException, where: str) -> None:
    """Refuse an exception naming a crossing or route the network does not have."""
    known = {c.id: c for c in network.crossings}
    for cid in exc.crossings:
        if cid != "*" and cid not in known:
            raise ValueError(f"{where}.crossings: unknown crossing {cid!r}")
    if exc.route is not None:
        targets = known.values() if "*" in exc.crossings else [known[c] for c in exc.crossings]
        for c in targets:
            if exc.route not in {r.id for r in c.routes}:
                raise ValueError(f"{where}.route: crossing {c.id} has no route {exc.route!r}")
