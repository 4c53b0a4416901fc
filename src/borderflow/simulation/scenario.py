"""What-if scenarios: a TOML file says network, period, demand, capacity changes and policy.

A broken file fails with a `ScenarioFileError` naming the file, the key path
(e.g. `demand[2].per_day`) and the reason, the same way network files do.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from borderflow.declarations.cargo import DEFAULT_SHELF_LIFE_HOURS, CargoClass
from borderflow.errors import BorderflowError, InvalidInput
from borderflow.network.loader import read_toml, validation_problems
from borderflow.network.schemas import CalendarException, Direction
from borderflow.queue.policy import QueuePolicy
from borderflow.simulation.policies import POLICIES, Policy, PolicyVariant


class ScenarioFileError(BorderflowError):
    """A scenario file is unreadable or invalid: names the file, the key path and the reason."""

    status_code = 422

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {key or '<file>'}: {why}" for key, why in problems))


class PolicyName(StrEnum):
    """The shipped policies (`simulation/policies.py` says what each does)."""

    fifo = "fifo"
    """Today: trucks are dispatched when loaded and queue first-come at the physical gate."""
    booked = "booked"
    """GoSwift-style: every truck books a slot at its declared crossing when dispatched and
    crosses in that slot; it still drives off when loaded and waits in a waiting area."""
    borderflow = "borderflow"
    """Booked slots with perishable priority, re-routing over the declarant's acceptable
    crossings, dispatch advice (leave so as to arrive just before the slot; don't dispatch
    when no slot exists within the shelf life) and hold/call-forward from a staging point."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Dist(_Strict):
    """A service-time distribution, in minutes."""

    kind: Literal["exponential", "deterministic", "lognormal", "empirical"]
    mean_minutes: float | None = Field(default=None, gt=0)
    sd_minutes: float | None = Field(default=None, gt=0)
    values_minutes: list[float] | None = None
    """For `empirical`: observed service times, drawn with equal probability."""

    @model_validator(mode="after")
    def _check(self) -> Dist:
        if self.kind == "empirical":
            if not self.values_minutes:
                raise ValueError("an empirical distribution needs values_minutes = [...]")
            if any(v < 0 for v in self.values_minutes):
                raise ValueError("values_minutes must not be negative")
        elif self.mean_minutes is None:
            raise ValueError(f"a {self.kind} distribution needs mean_minutes")
        if self.kind == "lognormal" and self.sd_minutes is None:
            raise ValueError("a lognormal distribution needs sd_minutes")
        return self

    @property
    def mean(self) -> float:
        if self.kind == "empirical":
            assert self.values_minutes is not None
            return sum(self.values_minutes) / len(self.values_minutes)
        assert self.mean_minutes is not None
        return self.mean_minutes


class Channels(_Strict):
    """Customs inspection channels: probabilities and the extra time yellow/red add."""

    green: float = Field(ge=0, le=1)
    yellow: float = Field(default=0, ge=0, le=1)
    red: float = Field(default=0, ge=0, le=1)
    yellow_extra: Dist | None = None
    red_extra: Dist | None = None

    @model_validator(mode="after")
    def _check(self) -> Channels:
        if abs(self.green + self.yellow + self.red - 1) > 1e-9:
            raise ValueError("green + yellow + red must add up to 1")
        if self.yellow > 0 and self.yellow_extra is None:
            raise ValueError("yellow_extra is needed when yellow > 0")
        if self.red > 0 and self.red_extra is None:
            raise ValueError("red_extra is needed when red > 0")
        return self


class Stage(_Strict):
    """Customs, quarantine or any other check before the gate: parallel lanes, first-come."""

    name: str = Field(min_length=1)
    lanes: int = Field(ge=1)
    service: Dist
    """Default service time."""
    service_by_cargo: dict[CargoClass, Dist] = Field(default_factory=dict)
    applies_to: list[CargoClass] | None = None
    """Cargo classes that pass this stage (None: all; quarantine: plant and animal goods)."""
    channels: Channels | None = None


class Gate(_Strict):
    """The crossing itself. Without `lanes` its capacity comes from the network's calendars and
    the capacity function (the live platform's); with `lanes` it is a plain c-server queue that
    is always open (for queueing-theory checks such as M/M/c)."""

    lanes: int | None = Field(default=None, ge=1)
    service: Dist | None = None

    @model_validator(mode="after")
    def _check(self) -> Gate:
        if (self.lanes is None) != (self.service is None):
            raise ValueError("give both lanes and service (a queueing gate) or neither")
        return self


class CrossingSetup(_Strict):
    yard_capacity: int | None = Field(default=None, ge=0)
    """Vehicles the crossing's yards hold (default: the network's yards)."""
    stages: list[Stage] = Field(default_factory=list)
    gate: Gate = Gate()
    acceptance_per_day: dict[Direction, int] = Field(default_factory=dict)
    """The other side's acceptance: at most this many vehicles a (China-local) day."""


class Peak(_Strict):
    from_: date = Field(alias="from")
    to: date
    factor: float = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> Peak:
        if self.to < self.from_:
            raise ValueError("to is before from")
        return self


class Demand(_Strict):
    """A stream of vehicles: Poisson arrivals whose rate follows a daily profile and peaks."""

    crossings: list[str] = Field(min_length=1)
    """Acceptable crossings, the declarant's preferred first."""
    direction: Direction
    cargo: CargoClass = CargoClass.general
    per_day: float = Field(ge=0)
    hourly_profile: list[float] | None = None
    """24 relative weights for the hours of the day (home time); None: flat."""
    peaks: list[Peak] = Field(default_factory=list)
    travel_hours: float = Field(default=0, ge=0)
    """Driving time from origin to the border area (Mekong Delta ~40 h)."""
    travel_sd_hours: float = Field(default=0, ge=0)
    shelf_life_hours: float | None = Field(default=None, gt=0)
    """Shelf life in transit; default: the cargo class's."""

    @field_validator("hourly_profile")
    @classmethod
    def _profile(cls, value: list[float] | None) -> list[float] | None:
        if value is not None:
            if len(value) != 24:
                raise ValueError(f"needs 24 hourly weights, got {len(value)}")
            if any(v < 0 for v in value) or sum(value) <= 0:
                raise ValueError("weights must be non-negative and not all zero")
        return value

    @property
    def shelf_life(self) -> float | None:
        if self.shelf_life_hours is not None:
            return self.shelf_life_hours
        default = DEFAULT_SHELF_LIFE_HOURS[self.cargo]
        return float(default) if default is not None else None


class CapacityChange(CalendarException):
    """A calendar exception the scenario adds to the network's (closure, capacity factor…)."""

    announced: datetime | None = None
    """When the change becomes known (None: known from the start). Booked policies re-plan
    then; before it, bookings are made on the old capacity."""


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = ""
    description: str = ""
    network: str | None = "lang-son"
    """A shipped network's name or a file; "none" (or "") for a network-free queueing model."""
    start: datetime
    days: float = Field(gt=0, le=366)
    warmup_days: float = Field(default=0, ge=0)
    """Vehicles arriving before this are simulated but not counted."""
    slot_minutes: int = Field(default=60, ge=5, le=24 * 60)
    policy: str = PolicyName.fifo.value
    """fifo, booked, borderflow (see `simulation/policies.py`) or one of `policies`."""
    compare: list[str] = Field(default_factory=list)
    """Other policies to run on the same demand for the report's side-by-side comparison."""
    policies: dict[str, PolicyVariant] = Field(default_factory=dict)
    """The scenario's own policy variants: `[policies.no-reroute] base = "borderflow"`,
    `reroute = false`."""
    queue_policy: dict[str, Any] = Field(default_factory=dict)
    """Overrides of the live queue's `QueuePolicy` (perishable_share, grace, …)."""
    no_show_rate: float = Field(default=0.0, ge=0, le=1)
    lateness_sd_hours: float = Field(default=0.0, ge=0)
    declare_ahead_hours: float = Field(default=24.0, ge=0)
    """borderflow: declarants declare and book this long before the truck would leave."""
    dispatch_margin_hours: float | None = Field(default=None, ge=0)
    """borderflow: dispatch advice leaves this much spare time on the road (default: two
    standard deviations of travel time and lateness)."""
    call_forward_lead_hours: float = Field(default=1.0, ge=0)
    """borderflow: vehicles wait at the staging point until this long before their slot."""
    staging_capacity: int | None = Field(default=None, ge=0)
    crossings: dict[str, CrossingSetup] = Field(default_factory=dict)
    demand: list[Demand] = Field(default_factory=list)
    arrivals_csv: str | None = None
    """Replay: a CSV (arrival, crossings, direction, cargo[, travel_hours, shelf_life_hours])."""
    capacity_changes: list[CapacityChange] = Field(default_factory=list)
    seed: int = Field(default=0, ge=0)
    replications: int = Field(default=1, ge=1, le=100_000)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a UTC offset, e.g. 2021-12-01T00:00:00+07:00")
        return value

    @field_validator("network", mode="before")
    @classmethod
    def _no_network(cls, value: object) -> object:
        return None if value in ("", "none") else value

    @field_validator("queue_policy")
    @classmethod
    def _queue_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        QueuePolicy.model_validate(value)  # raises with the field named
        return value

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        for name, variant in self.policies.items():
            if name in POLICIES:
                raise ValueError(f"policies.{name}: a shipped policy's name; choose another")
            try:
                variant.build(name)
            except ValueError as exc:
                raise ValueError(f"policies.{name}: {exc}") from exc
        known = [*POLICIES, *self.policies]
        for where, name in [("policy", self.policy),
                            *((f"compare[{i}]", c) for i, c in enumerate(self.compare))]:
            if name not in known:
                raise ValueError(f"{where}: unknown policy {name!r} (known: {', '.join(known)})")
        lanes_gates = sorted(c for d in self.demand for c in d.crossings
                             if c in self.crossings and self.crossings[c].gate.lanes is not None)
        for name in dict.fromkeys([self.policy, *self.compare]):
            if lanes_gates and self.policy_named(name).books:
                raise ValueError(
                    f"crossings.{lanes_gates[0]}.gate.lanes: a lanes gate has no slots to book; "
                    f"policy {name!r} books slots (use fifo, or drop gate.lanes)")
        if not self.demand and self.arrivals_csv is None:
            raise ValueError("demand: give at least one [[demand]] stream or arrivals_csv")
        if self.network is None:
            used = {c for d in self.demand for c in d.crossings}
            for c in sorted(used):
                setup = self.crossings.get(c)
                if setup is None or setup.gate.lanes is None:
                    raise ValueError(
                        f"crossings.{c}: without a network every crossing needs gate.lanes "
                        "and gate.service")
            if self.capacity_changes:
                raise ValueError("capacity_changes: need a network")
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def policy_named(self, name: str) -> Policy:
        if name in self.policies:
            return self.policies[name].build(name)
        if name in POLICIES:
            return POLICIES[name]
        known = ", ".join([*POLICIES, *self.policies])
        raise InvalidInput(f"unknown policy {name!r} (known: {known})", field="policy")

    def queue_rules(self) -> QueuePolicy:
        return QueuePolicy.model_validate({"slot_minutes": self.slot_minutes,
                                           **self.queue_policy})

    def digest(self) -> str:
        """A short hash of the scenario's content (recorded with every result)."""
        text = self.model_dump_json(by_alias=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def shipped_scenarios() -> list[str]:
    data = resources.files("borderflow.simulation") / "scenarios"
    return sorted(p.name.removesuffix(".toml") for p in data.iterdir()
                  if p.name.endswith(".toml"))


def resolve_scenario_path(name_or_path: str) -> Path:
    if name_or_path in shipped_scenarios():
        return Path(str(resources.files("borderflow.simulation") / "scenarios"
                        / f"{name_or_path}.toml"))
    return Path(name_or_path)


def parse_scenario(text: str, source: str) -> Scenario:
    raw = read_toml(text, source, ScenarioFileError)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioFileError(source, validation_problems(exc, raw)) from exc
    if scenario.arrivals_csv is not None and not Path(scenario.arrivals_csv).is_absolute():
        base = Path(source).parent
        scenario = scenario.model_copy(update={"arrivals_csv": str(base / scenario.arrivals_csv)})
    return scenario


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario's name (`dec-2021`) or a file path."""
    path = resolve_scenario_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        known = ", ".join(shipped_scenarios())
        raise ScenarioFileError(str(path), [("", f"file not found (shipped: {known})")]) from exc
    except OSError as exc:
        raise ScenarioFileError(str(path), [("", f"cannot read: {exc.strerror}")]) from exc
    return parse_scenario(text, str(path))
