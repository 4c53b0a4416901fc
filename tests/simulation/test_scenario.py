"""Scenario files: a broken one fails with a `ScenarioFileError` that names the file, the key
path and the reason; every shipped one loads and runs (briefly) under each of its policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderflow.errors import BorderflowError, CrossingNotFound
from borderflow.simulation.model import Model
from borderflow.simulation.runner import simulate
from borderflow.simulation.scenario import (
    PolicyName,
    ScenarioFileError,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
)

HEAD = """name = "broken"
network = "lang-son"
start = "2026-01-01T00:00:00+07:00"
days = 2
"""
FRUIT = """[[demand]]
crossings = ["huu-nghi", "tan-thanh"]
direction = "export"
cargo = "fresh_fruit"
per_day = 40
"""
GOOD = HEAD + FRUIT


def problem(text: str) -> ScenarioFileError:
    with pytest.raises(ScenarioFileError) as info:
        parse_scenario(text, "broken.toml")
    return info.value


def test_a_good_file_parses():
    scenario = parse_scenario(GOOD, "good.toml")
    assert scenario.demand[0].per_day == 40
    assert scenario.policy == PolicyName.fifo


@pytest.mark.parametrize(("text", "key", "reason"), [
    pytest.param(GOOD.replace("per_day = 40", "per_day = -5"), "demand[0].per_day",
                 "greater than or equal to 0", id="negative rate"),
    pytest.param(GOOD + FRUIT.replace("per_day = 40", 'per_day = "lots"'),
                 "demand[1].per_day", "valid number", id="second stream"),
    pytest.param(GOOD.replace("+07:00", ""), "start", "UTC offset", id="naive start"),
    pytest.param(GOOD.replace('"fresh_fruit"', '"bananas"'), "demand[0].cargo", "fresh_fruit",
                 id="unknown cargo"),
    pytest.param(GOOD + "hourly_profile = [" + ", ".join(["1"] * 23) + "]\n",
                 "demand[0].hourly_profile", "needs 24 hourly weights, got 23",
                 id="23-hour profile"),
    pytest.param(GOOD + "hourly_profile = [" + ", ".join(["0"] * 24) + "]\n",
                 "demand[0].hourly_profile", "not all zero", id="all-zero profile"),
    pytest.param(GOOD + "travel_hourz = 3\n", "demand[0].travel_hourz", "Extra inputs",
                 id="misspelt key"),
    pytest.param(GOOD.replace("days = 2", "days = 400"), "days", "366", id="too long"),
    pytest.param(GOOD.replace('name = "broken"', 'name = "Broken Run"'), "name", "pattern",
                 id="bad name"),
    pytest.param(HEAD, "demand", "at least one", id="no demand"),
    pytest.param(GOOD + '\n[queue_policy]\nperishable_share = 2\n',
                 "queue_policy.perishable_share", "less than or equal to 1",
                 id="queue policy"),
    pytest.param(GOOD + """
[[crossings.huu-nghi.stages]]
name = "customs"
lanes = 2
service = { kind = "exponential", mean_minutes = 9 }
[crossings.huu-nghi.stages.channels]
green = 0.5
yellow = 0.4
yellow_extra = { kind = "deterministic", mean_minutes = 30 }
""", "crossings.huu-nghi.stages[0].channels", "add up to 1", id="channels"),
    pytest.param(GOOD + """
[crossings.huu-nghi]
gate = { lanes = 2 }
""", "crossings.huu-nghi.gate", "both lanes and service", id="half a gate"),
    pytest.param(GOOD.replace('"lang-son"', '"none"'), "crossings.huu-nghi",
                 "gate.lanes", id="no network, no lanes"),
    pytest.param(GOOD + """
[crossings.huu-nghi]
stages = [{ name = "quarantine", lanes = 1, service = { kind = "empirical" } }]
""", "crossings.huu-nghi.stages[0].service", "values_minutes", id="empirical without values"),
])
def test_bad_scenario_names_the_key_path_and_the_reason(text: str, key: str, reason: str):
    error = problem(text)
    assert error.path == "broken.toml"
    keys = [k for k, _ in error.problems]
    assert key in keys, error.problems
    why = dict(error.problems)[key]
    assert reason in why
    assert str(error).startswith("broken.toml: ")
    assert f"{key}: " in str(error)
    assert error.status_code == 422


def test_file_that_is_not_toml_is_refused_with_the_parser_reason():
    text = GOOD + "days = = 3\n"
    error = problem(text)
    assert "not valid TOML" in str(error)
    assert f"line {len(text.splitlines())}" in str(error)


def test_missing_scenario_lists_the_shipped_ones(tmp_path: Path):
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(str(tmp_path / "nowhere.toml"))
    assert "file not found" in str(info.value)
    assert "dec-2021" in str(info.value)


def test_scenario_file_loads_from_a_path(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_scenario(str(path)).name == "broken"
    path.write_text(GOOD.replace("per_day = 40", "per_day = -1"), encoding="utf-8")
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(str(path))
    assert str(path) in str(info.value)
    assert "demand[0].per_day" in str(info.value)


def test_unknown_crossing_is_refused_when_the_model_is_built_naming_the_crossing():
    scenario = parse_scenario(GOOD.replace('"tan-thanh"', '"atlantis"'), "broken.toml")
    with pytest.raises(CrossingNotFound) as info:
        Model(scenario)
    assert "atlantis" in str(info.value)
    assert "huu-nghi" in str(info.value), "the message lists the crossings there are"
    # `simulate` builds the model first, so the error comes before any replication runs.
    with pytest.raises(BorderflowError, match="atlantis"):
        simulate(scenario, replications=4, workers=2)


@pytest.mark.parametrize("name", shipped_scenarios())
def test_shipped_scenario_loads_and_runs_two_days_under_each_of_its_policies(name: str):
    scenario = load_scenario(name)
    assert scenario.name == name
    policies = [scenario.policy, *(p for p in scenario.compare if p != scenario.policy)]
    short = scenario.model_copy(update={"days": 2, "warmup_days": 0})
    result = simulate(short, replications=1, workers=1)
    assert list(result["policies"]) == [str(p) for p in policies]
    for policy, entry in result["policies"].items():
        overall = entry["overall"]
        assert overall["vehicles"] > 0, policy
        assert overall["arrived"] == overall["crossed"] + overall["inside"], policy
        assert overall["vehicles"] == (overall["arrived"] + overall["en_route"]
                                       + overall["not_dispatched"] + overall["no_show"]), policy
        assert entry["events"] > 0, policy


def test_shipped_scenarios_include_the_theory_check_and_december_2021():
    assert {"mmc", "dec-2021"} <= set(shipped_scenarios())


def test_a_scenario_can_define_its_own_policy_variant_and_run_it():
    text = GOOD + """
[policies.no-reroute]
base = "borderflow"
reroute = false
description = "borderflow without re-routing"
"""
    scenario = parse_scenario(text, "variant.toml")
    rules = scenario.policy_named("no-reroute")
    assert rules.books and not rules.reroute and rules.perishable_priority
    short = scenario.model_copy(update={"days": 2})
    result = simulate(short, policies=["no-reroute", "borderflow"], replications=1)
    assert set(result["policies"]) == {"no-reroute", "borderflow"}
    assert result["policies"]["no-reroute"]["overall"]["vehicles"] == \
        result["policies"]["borderflow"]["overall"]["vehicles"]


def test_unknown_policy_names_the_key_and_the_known_ones():
    err = problem('compare = ["goswift"]\n' + GOOD)
    text = str(err)
    assert "compare[0]" in text and "goswift" in text and "borderflow" in text


def test_a_variant_of_the_physical_queue_cannot_switch_booking_rules():
    err = problem(GOOD + '\n[policies.odd]\nbase = "fifo"\nreroute = true\n')
    assert "policies.odd" in str(err) and "no booking" in str(err)


def test_a_lanes_gate_cannot_run_under_a_booking_policy():
    text = ('compare = ["booked"]\n' + GOOD
            + '\n[crossings.huu-nghi]\ngate = { lanes = 2, service = { kind = "exponential", '
              'mean_minutes = 10 } }\n')
    err = problem(text)
    assert "crossings.huu-nghi.gate.lanes" in str(err) and "'booked'" in str(err)
