"""The border model's invariants on a shortened December 2021 (Lang Son, three policies): every
vehicle is accounted for exactly once, no slot lets through more vehicles than the capacity
function allows, a seed fixes the result, replications report means with confidence intervals,
and borderflow never sends perishable goods towards a slot beyond their shelf life."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from borderflow.simulation.model import Model
from borderflow.simulation.results import summarize
from borderflow.simulation.run import (
    CROSSED,
    EN_ROUTE,
    HELD,
    IN_YARD,
    NO_SHOW,
    NOT_DISPATCHED,
    PLANNED,
    Run,
    RunOutcome,
)
from borderflow.simulation.runner import replicate, simulate
from borderflow.simulation.scenario import PolicyName, Scenario, load_scenario

POLICIES = list(PolicyName)
STATES = {PLANNED, EN_ROUTE, HELD, IN_YARD, CROSSED, NOT_DISPATCHED, NO_SHOW}
SEED = 11


@pytest.fixture(scope="module")
def december() -> Scenario:
    """Ten days of December 2021 with some no-shows and a warm-up day, so that every state
    and every counting rule is exercised."""
    return load_scenario("dec-2021").model_copy(
        update={"days": 10, "warmup_days": 1, "no_show_rate": 0.05})


@pytest.fixture(scope="module")
def model(december: Scenario) -> Model:
    return Model(december)


@pytest.fixture(scope="module")
def outcomes(model: Model) -> dict[PolicyName, RunOutcome]:
    """Each policy once on the same vehicles (the runs are the expensive part: shared)."""
    out = {}
    for policy in POLICIES:
        rngs = model.rngs(SEED, 0)
        out[policy] = Run(model, policy, model.draw(rngs), rngs).run()
    return out


def arrays(out: RunOutcome) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(out.state), np.asarray(out.arrived, dtype=float),
            np.asarray(out.crossed, dtype=float), np.asarray(out.key_of))


# --------------------------------------------------------------------------- conservation
@pytest.mark.parametrize("policy", POLICIES)
def test_every_vehicle_is_in_exactly_one_state_that_agrees_with_its_times(
        policy: PolicyName, outcomes: dict[PolicyName, RunOutcome]):
    out = outcomes[policy]
    state, arrived, crossed, key = arrays(out)
    n = len(out.fleet)
    assert n > 1000
    assert len(state) == len(arrived) == len(crossed) == len(key) == n
    assert set(state.tolist()) <= STATES
    # One state each: the per-state counts add up to the fleet.
    assert sum(int((state == s).sum()) for s in STATES) == n

    # Reached the border area: held, in a yard, crossed, or (borderflow only) driving on to
    # another crossing after losing its slot (en route again, with an arrival time).
    rerouted = (state == EN_ROUTE) & ~np.isnan(arrived)
    at_border = np.isin(state, (HELD, IN_YARD, CROSSED)) | rerouted
    np.testing.assert_array_equal(~np.isnan(arrived), at_border)
    if policy is not PolicyName.borderflow:
        assert not rerouted.any(), "only borderflow re-routes"
    np.testing.assert_array_equal(~np.isnan(crossed), state == CROSSED)
    assert (crossed[state == CROSSED] >= arrived[state == CROSSED]).all()
    assert (crossed[state == CROSSED] <= out_hours(out)).all()
    assert (key[at_border] >= 0).all(), "a vehicle at the border belongs to a crossing"
    assert not (state == NO_SHOW)[~out.fleet.no_show].any(), "only drawn no-shows stay away"
    if policy is not PolicyName.borderflow:
        assert not (state == NOT_DISPATCHED).any(), "only borderflow holds trucks at origin"
    # The runs are not trivial: vehicles crossed and some are still queuing at the end.
    assert (state == CROSSED).sum() > 0.3 * n
    assert np.isin(state, (HELD, IN_YARD, EN_ROUTE, PLANNED)).any()


def out_hours(out: RunOutcome) -> float:
    return float(out.series["hour"][-1])


def _conserved(figures: dict[str, Any], where: str) -> None:
    assert figures["arrived"] == figures["crossed"] + figures["inside"], where
    assert figures["vehicles"] == (figures["arrived"] + figures["en_route"]
                                   + figures["not_dispatched"] + figures["no_show"]), where


@pytest.mark.parametrize("policy", POLICIES)
def test_summary_counts_every_counted_vehicle_once_overall_and_per_crossing(
        policy: PolicyName, model: Model, outcomes: dict[PolicyName, RunOutcome]):
    out = outcomes[policy]
    figures = summarize(model, out)
    overall, by_crossing = figures["overall"], figures["by_crossing"]
    _conserved(overall, "overall")
    for key, f in by_crossing.items():
        _conserved(f, key)
    for name in ("vehicles", "arrived", "crossed", "inside", "en_route", "not_dispatched",
                 "no_show"):
        assert sum(f[name] for f in by_crossing.values()) == overall[name], name

    # The same figures straight from the per-vehicle states (only vehicles due after the
    # warm-up day count).
    state, _, _, _ = arrays(out)
    counted = out.fleet.ready >= 24.0
    assert 0 < counted.sum() < len(state)

    arrived = ~np.isnan(np.asarray(out.arrived, dtype=float))

    def count(*states: int, at_border: bool | None = None) -> int:
        mask = counted & np.isin(state, states)
        if at_border is not None:
            mask &= arrived == at_border
        return int(mask.sum())

    assert overall["vehicles"] == int(counted.sum())
    assert overall["crossed"] == count(CROSSED)
    assert overall["inside"] == count(HELD, IN_YARD) + count(EN_ROUTE, at_border=True)
    assert overall["en_route"] == count(EN_ROUTE, PLANNED, at_border=False)
    assert overall["not_dispatched"] == count(NOT_DISPATCHED)
    assert overall["no_show"] == count(NO_SHOW)
    assert overall["no_show"] > 0


# ------------------------------------------------------------------------------- capacity
def crossings_per_slot(out: RunOutcome, model: Model, key: str) -> np.ndarray:
    _, _, crossed, key_of = arrays(out)
    mine = crossed[(key_of == model.keys.index(key)) & ~np.isnan(crossed)]
    return np.bincount(np.floor(mine / model.L).astype(int),
                       minlength=len(model.tables[key].capacity))


@pytest.mark.parametrize("policy", POLICIES)
def test_crossings_per_slot_never_exceed_the_capacity_function(
        policy: PolicyName, model: Model, outcomes: dict[PolicyName, RunOutcome]):
    out = outcomes[policy]
    assert model.tables, "the scenario's crossings take their capacity from the network"
    full = False
    for key, tables in model.tables.items():
        used = crossings_per_slot(out, model, key)
        cap = tables.capacity[:len(used)]
        over = np.flatnonzero(used > cap)
        assert not len(over), f"{key}: slots {over[:5].tolist()} over capacity"
        full = full or bool(((used == cap) & (cap > 0)).any())
    assert full, "some slot is used to the full: the check bites"


@pytest.fixture(scope="module")
def announced(december: Scenario) -> tuple[Scenario, Model]:
    """December 2021 where the squeeze is announced only on the day it starts (noon), after
    a day of bookings on the old capacity; the physical gates are squeezed all the same."""
    squeeze = min(c.from_ for c in december.capacity_changes)
    at = datetime.combine(squeeze, datetime.min.time(), december.start.tzinfo) \
        + timedelta(hours=12)
    changes = [c.model_copy(update={"announced": at}) for c in december.capacity_changes]
    late = december.model_copy(update={"days": 6, "capacity_changes": changes})
    truth = Model(december.model_copy(update={"days": 6}))  # every change known from the start
    return late, truth


@pytest.mark.parametrize("policy", POLICIES)
def test_gates_keep_to_a_capacity_cut_announced_during_the_run(
        policy: PolicyName, announced: tuple[Scenario, Model]):
    late, truth = announced
    model = Model(late)
    assert any(t.after for t in model.tables.values()), "the change is announced later"
    rngs = model.rngs(SEED, 0)
    out = Run(model, policy, model.draw(rngs), rngs).run()
    for key, tables in truth.tables.items():
        used = crossings_per_slot(out, model, key)
        over = np.flatnonzero(used > tables.capacity[:len(used)])
        assert not len(over), (f"{key}: {len(over)} slots let through more than the reduced "
                               f"capacity, first at hour {over[0] * model.L:.0f}")


# ---------------------------------------------------------------------------- determinism
def _without_wall(result: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "wall_seconds"}, sort_keys=True)


def test_same_seed_gives_identical_figures_and_another_seed_different_ones(
        december: Scenario):
    short = december.model_copy(update={"days": 4})
    first = simulate(short, seed=5, replications=1, workers=1)
    assert set(first["policies"]) == {p.value for p in POLICIES}
    assert _without_wall(simulate(short, seed=5, replications=1, workers=1)) \
        == _without_wall(first)
    other = simulate(short, seed=6, replications=1, workers=1)
    for policy in POLICIES:
        a = first["policies"][policy.value]["overall"]
        b = other["policies"][policy.value]["overall"]
        assert a["vehicles"] != b["vehicles"] or a["wait_hours"] != b["wait_hours"], policy
    assert first["seed"] == 5 and other["seed"] == 6
    assert first["scenario"]["hash"] == other["scenario"]["hash"] == short.digest()


REPLICATED = (PolicyName.fifo, PolicyName.borderflow)
COUNTS = ("vehicles", "arrived", "crossed", "inside", "en_route", "not_dispatched", "no_show")


@pytest.fixture(scope="module")
def replicated(december: Scenario) -> tuple[Scenario, dict[str, Any]]:
    short = december.model_copy(update={"days": 3})
    return short, simulate(short, seed=9, replications=3, policies=list(REPLICATED), workers=1)


def test_replications_give_means_with_t_confidence_intervals(
        replicated: tuple[Scenario, dict[str, Any]]):
    short, result = replicated
    assert result["replications"] == 3
    singles = [replicate(short, 9, r, list(REPLICATED)) for r in range(3)]
    for i, policy in enumerate(REPLICATED):
        entry = result["policies"][policy.value]
        overall = entry["overall"]
        for name in ("vehicles", "crossed", "spoiled", "throughput_per_day",
                     "max_queue_outside_yards"):
            assert set(overall[name]) == {"mean", "ci95"}, name
        for q in ("mean", "p50", "p95", "max"):
            assert set(overall["wait_hours"][q]) == {"mean", "ci95"}, q
        for f in entry["by_crossing"].values():
            assert set(f["vehicles"]) == {"mean", "ci95"}
        # The mean and the Student-t half-width of the three replications' own figures.
        values = np.array([s[i]["overall"]["vehicles"] for s in singles], dtype=float)
        assert len(set(values)) > 1, "replications draw different vehicles"
        assert overall["vehicles"]["mean"] == pytest.approx(values.mean())
        half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
        assert overall["vehicles"]["ci95"] == pytest.approx(half)
        waits = [s[i]["overall"]["wait_hours"]["mean"] for s in singles]
        assert overall["wait_hours"]["mean"]["mean"] == pytest.approx(np.mean(waits))


def test_replicated_figures_keep_every_count_so_vehicles_still_add_up(
        replicated: tuple[Scenario, dict[str, Any]]):
    _, result = replicated
    for policy in REPLICATED:
        overall = result["policies"][policy.value]["overall"]
        missing = [name for name in COUNTS if name not in overall]
        assert not missing, f"{policy}: replicated figures drop {missing}"
        mean = {name: overall[name]["mean"] for name in COUNTS}
        assert mean["vehicles"] == pytest.approx(mean["arrived"] + mean["en_route"]
                                                 + mean["not_dispatched"] + mean["no_show"])


def test_replications_spread_over_processes_give_the_same_figures(
        replicated: tuple[Scenario, dict[str, Any]]):
    short, result = replicated
    parallel = simulate(short, seed=9, replications=3, policies=list(REPLICATED), workers=2)
    assert _without_wall(parallel) == _without_wall(result)


# ----------------------------------------------------------------------------- shelf life
def test_borderflow_dispatches_no_perishable_truck_whose_slot_is_beyond_its_shelf_life(
        december: Scenario):
    # On time to the minute (no lateness, no travel noise, no no-shows), with a shelf life
    # short enough that today's first-come queue spoils fruit.
    demand = [d.model_copy(update={"travel_sd_hours": 0.0,
                                   "shelf_life_hours": 30.0 if d.shelf_life else None})
              for d in december.demand]
    exact = december.model_copy(update={"lateness_sd_hours": 0.0, "no_show_rate": 0.0,
                                        "warmup_days": 0, "demand": demand})
    model = Model(exact)
    perishable = np.array([s.shelf_life is not None for s in model.streams])
    assert perishable.any()
    shelf = np.array([s.shelf_life or math.inf for s in model.streams])

    spoiled = {}
    for policy in (PolicyName.fifo, PolicyName.borderflow):
        rngs = model.rngs(SEED, 0)
        run = Run(model, policy, model.draw(rngs), rngs)
        out = run.run()
        spoiled[policy] = summarize(model, out)["overall"]["spoiled"]
        if policy is PolicyName.borderflow:
            state, arrived, crossed, _ = arrays(out)
            fleet = out.fleet
            life = shelf[fleet.stream]
            # Every truck given a slot has it within its shelf life of being ready...
            slot = np.asarray(run.slot)
            booked = (slot >= 0) & (state != NOT_DISPATCHED)
            assert booked[perishable[fleet.stream]].any()
            assert (slot[booked] * model.L <= fleet.ready[booked] + life[booked]).all()
            # ...and the others are told not to leave.
            assert (state == NOT_DISPATCHED).any()
            # Crossed within the shelf life of arriving, and of being ready to cross...
            done = state == CROSSED
            assert (crossed[done] - arrived[done] <= life[done]).all()
            assert (crossed[done] <= fleet.ready[done] + life[done] + model.L).all()
            # ...and the ones still waiting at the end are not past it either.
            waiting = np.isin(state, (HELD, IN_YARD))
            assert (model.hours - arrived[waiting] <= life[waiting]).all()
    assert spoiled[PolicyName.fifo] > 0, "the check bites: first-come spoils fruit here"
    assert spoiled[PolicyName.borderflow] == 0


@pytest.mark.parametrize("name", ["dec-2021", "mmc"])
def test_first_come_direct_path_equals_the_event_kernel_vehicle_by_vehicle(name: str):
    """First-come runs take a direct pass per station; the event kernel must give the same
    crossing of every vehicle, the same states, hourly series and event count."""
    scenario = load_scenario(name)
    scenario = scenario.model_copy(update={"days": 6 if name == "dec-2021" else 20})
    model = Model(scenario)
    outcomes = []
    for kernel in (False, True):
        rngs = model.rngs(3, 0)
        fleet = model.draw(rngs)
        outcomes.append(Run(model, PolicyName.fifo, fleet, rngs).run(kernel=kernel))
    direct, kernel_run = outcomes
    assert len(direct.state) > 500
    assert direct.state == kernel_run.state
    assert np.allclose(direct.crossed, kernel_run.crossed, rtol=0, atol=1e-9, equal_nan=True)
    assert np.allclose(direct.arrived, kernel_run.arrived, rtol=0, atol=1e-9, equal_nan=True)
    assert direct.series["outside"] == kernel_run.series["outside"]
    assert direct.series["on_road"] == kernel_run.series["on_road"]
    assert direct.max_outside == kernel_run.max_outside
    assert direct.max_outside_total == kernel_run.max_outside_total
    assert direct.events == kernel_run.events


def test_vehicles_a_forecast_starts_with_are_counted_even_before_the_start():
    """A truck already in a yard arrived before the run began (negative time): it still counts."""
    from borderflow.simulation.model import Initial

    scenario = load_scenario("dec-2021").model_copy(update={"days": 2})
    model = Model(scenario)
    rngs = model.rngs(1, 0)
    fleet = model.draw(rngs)
    initial = [Initial(0, "in_yard", arrived=-2.0), Initial(0, "en_route", eta=1.0)]
    for policy in ("fifo", "borderflow"):
        rngs = model.rngs(1, 0)
        out = Run(model, policy, model.draw(rngs), rngs, initial=initial).run()
        figures = summarize(model, out)["overall"]
        drawn = int((fleet.ready >= 0).sum())
        assert figures["vehicles"] == drawn + 2, policy
        assert out.state[-2] in (IN_YARD, CROSSED) and out.arrived[-2] == -2.0


def test_after_a_re_plan_no_truck_leaves_on_its_old_departure_advice():
    """A closure announced mid-run moves bookings; a truck not yet on the road leaves on the
    new advice, never on the old one."""
    from borderflow.simulation.scenario import CapacityChange

    base = load_scenario("dec-2021")
    start = base.start
    closure = CapacityChange.model_validate({
        "kind": "closed", "crossings": ["huu-nghi"], "reason": "test closure",
        "starts": (start + timedelta(days=4)).isoformat(),
        "ends": (start + timedelta(days=5)).isoformat(),
        "announced": (start + timedelta(hours=30)).isoformat()})
    scenario = base.model_copy(update={
        "days": 8, "capacity_changes": [*base.capacity_changes, closure]})
    model = Model(scenario)
    rngs = model.rngs(5, 0)
    run = Run(model, "borderflow", model.draw(rngs), rngs)
    departures: list[tuple[int, float, float]] = []  # vehicle, when, advice at that moment
    go = run._go

    def recording_go(v: int, depart: float) -> None:
        if run.state[v] == PLANNED and 0 <= run.slot[v] < 10**9:
            departures.append((v, depart, run._advised_departure(v)))
        go(v, depart)

    run._go = recording_go  # type: ignore[method-assign]
    run.run()
    after = [d for d in departures if d[1] > 30.0 + 1e-9]
    assert after, "some trucks leave after the announcement"
    stale = [d for d in after if d[1] < d[2] - 1e-6]
    assert not stale, f"{len(stale)} trucks left before their advice, e.g. {stale[:3]}"
