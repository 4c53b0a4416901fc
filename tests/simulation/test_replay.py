"""Replay: the platform's own past declarations exported as an `arrivals_csv` (both backends)
and simulated vehicle for vehicle; a hand-written replay; a broken replay line named."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borderflow.simulation.export import (
    COLUMNS,
    export_arrivals,
    period,
    write_arrivals_csv,
)
from borderflow.simulation.model import Model
from borderflow.simulation.runner import simulate
from borderflow.simulation.scenario import (
    Scenario,
    ScenarioFileError,
    load_scenario,
    parse_scenario,
)
from tests.fixtures.api import durian_shipment

API = "/api/v1"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # the fixtures' clock: 10:00 in Hanoi
OPEN_0700 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 07:00 Hanoi: the crossings open
LINE = durian_shipment()["goods"][0]  # type: ignore[index]
START = datetime.fromisoformat("2026-11-23T00:00:00+07:00")
END = datetime.fromisoformat("2026-11-27T00:00:00+07:00")  # --from 2026-11-23 --to 2026-11-26


def declare(client, persona, **overrides) -> str:
    r = client.post(f"{API}/shipments", json=durian_shipment(**overrides),
                    headers=persona.headers)
    assert r.status_code == 201, r.json()
    return str(r.json()["id"])


def book(client, persona, shipment_id, **body) -> dict:
    r = client.post(f"{API}/bookings", json={"shipment_id": shipment_id, **body},
                    headers=persona.headers)
    assert r.status_code == 201, r.json()
    return dict(r.json()["booking"])


def laptops(**overrides):
    line = {**LINE, "hs_code": "847130", "description": "Laptops", "cargo_class": "general"}
    line.pop("shelf_life_hours")
    return {"goods": [line], "phytosanitary_certificate": None, **overrides}


def scenario_file(tmp_path: Path, csv_name: str, *, days: float = 4,
                  start: str = "2026-11-23T00:00:00+07:00") -> Path:
    path = tmp_path / "replay.toml"
    path.write_text(f'name = "replay"\nnetwork = "lang-son"\nstart = {start}\n'
                    f'days = {days}\npolicy = "fifo"\narrivals_csv = "{csv_name}"\n',
                    encoding="utf-8")
    return path


@pytest.fixture
def history(client, cast) -> dict[str, str]:
    """Shipments of 23–26 Nov 2026 (Vietnam time) in every state the export must tell apart."""
    yard = declare(client, cast.exporter_lan)
    booking = book(client, cast.exporter_lan, yard, crossing="huu-nghi")
    r = client.post(f"{API}/bookings/{booking['id']}/arrival",
                    headers=cast.camera_hn_gate_1.headers,
                    json={"at": NOW.isoformat(), "source": "ANPR camera HN-1"})
    assert r.status_code == 200 and r.json()["arrived_at"], r.json()
    booked = declare(client, cast.exporter_lan, crossings=["chi-ma"])
    book(client, cast.exporter_lan, booked, slot_start=OPEN_0700.isoformat())
    general = declare(client, cast.broker_minh, crossings=["chi-ma", "huu-nghi"],
                      arrival_from="2026-11-24T08:00:00+07:00",
                      arrival_to="2026-11-24T20:00:00+07:00", **laptops())
    last_evening = declare(client, cast.exporter_lan, arrival_from="2026-11-26T23:30:00+07:00",
                           arrival_to="2026-11-27T10:00:00+07:00")
    # 27 Nov 00:30 in Hanoi is still 26 Nov in UTC: outside the period all the same
    next_day = declare(client, cast.exporter_lan, arrival_from="2026-11-27T00:30:00+07:00",
                       arrival_to="2026-11-27T10:00:00+07:00")
    draft = declare(client, cast.exporter_lan, submit=False)
    cancelled = declare(client, cast.exporter_lan)
    r = client.post(f"{API}/shipments/{cancelled}/cancel", headers=cast.exporter_lan.headers,
                    json={"reason": "buyer cancelled"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    return {"yard": yard, "booked": booked, "general": general, "last_evening": last_evening,
            "next_day": next_day, "draft": draft, "cancelled": cancelled}


def test_export_lists_submitted_shipments_planned_in_the_period(history, session):
    rows = export_arrivals(session, start=START, end=END)
    by_id = {str(r["shipment_id"]): r for r in rows}
    assert set(by_id) == {history[k] for k in ("yard", "booked", "general", "last_evening")}
    yard = by_id[history["yard"]]
    assert yard["arrival"] == NOW and yard["recorded"]  # the camera's read, not the plan
    booked = by_id[history["booked"]]
    assert booked["arrival"] == datetime.fromisoformat("2026-11-25T06:00:00+07:00")
    assert not booked["recorded"] and booked["crossings"] == ["chi-ma"]
    general = by_id[history["general"]]
    assert (general["crossings"], general["direction"], general["cargo"],
            general["shelf_life_hours"]) == (["chi-ma", "huu-nghi"], "export", "general", None)
    assert (yard["cargo"], yard["shelf_life_hours"]) == ("fresh_fruit", 216)
    assert [r["arrival"] for r in rows] == sorted(r["arrival"] for r in rows)
    assert all(r["arrival"].tzinfo is not None for r in rows)


def test_exported_replay_simulates_exactly_the_exported_vehicles(history, session, tmp_path):
    rows = export_arrivals(session, start=START, end=END)
    write_arrivals_csv(rows, tmp_path / "arrivals.csv")
    with (tmp_path / "arrivals.csv").open(encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert tuple(written[0]) == COLUMNS and len(written) == len(rows) == 4
    assert all(datetime.fromisoformat(w["arrival"]).utcoffset() == timedelta(hours=7)
               for w in written)
    scenario = load_scenario(str(scenario_file(tmp_path, "arrivals.csv")))
    assert scenario.arrivals_csv == str(tmp_path / "arrivals.csv") and not scenario.demand
    result = simulate(scenario, policies=["fifo"], replications=1, workers=1)
    assert result["overall"]["vehicles"] == len(rows)


def test_hand_written_replay_runs_its_three_vehicles(tmp_path):
    (tmp_path / "arrivals.csv").write_text(
        "arrival,crossings,direction,cargo,travel_hours,shelf_life_hours\n"
        "2026-11-23T08:15:00+07:00,huu-nghi|chi-ma,export,fresh_fruit,,216\n"
        "2026-11-23T01:30:00+00:00,chi-ma,export,general,2.5,\n"
        "2026-11-24T09:00:00+07:00,huu-nghi,import,general,,\n", encoding="utf-8")
    scenario = load_scenario(str(scenario_file(tmp_path, "arrivals.csv", days=3)))
    result = simulate(scenario, policies=["fifo"], replications=1, workers=1)
    assert result["overall"]["vehicles"] == 3
    assert result["overall"]["crossed"] == 3


@pytest.mark.parametrize(("line", "reason"), [
    ("2026-11-23T09:00:00,huu-nghi,export,general", "UTC offset"),
    ("2026-11-23T09:00:00+07:00,huu-nghi,sideways,general", "sideways"),
    ("2026-11-23T09:00:00+07:00,,export,general", "no crossing"),
])
def test_a_malformed_replay_line_is_named(tmp_path, line, reason):
    (tmp_path / "bad.csv").write_text(
        "arrival,crossings,direction,cargo\n"
        "2026-11-23T08:00:00+07:00,huu-nghi,export,general\n"
        f"{line}\n", encoding="utf-8")
    scenario = load_scenario(str(scenario_file(tmp_path, "bad.csv")))
    with pytest.raises(ScenarioFileError) as info:
        Model(scenario)
    message = str(info.value)
    assert str(tmp_path / "bad.csv") in message and "line 3" in message and reason in message
    with pytest.raises(ScenarioFileError, match="line 3"):
        simulate(scenario, policies=["fifo"], replications=1, workers=1)


def test_a_scenario_needs_demand_or_a_replay():
    with pytest.raises(ValueError, match="arrivals_csv"):
        Scenario.model_validate({"name": "empty", "start": START, "days": 1})


# --- the command --------------------------------------------------------------------------------




def test_period_is_whole_vietnamese_days():
    start, end = period("2026-11-23", "2026-11-26")
    assert (start, end) == (START, END)
    assert start.astimezone(UTC) == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def test_export_command_writes_the_csv_and_names_a_bad_option(cli_home, tmp_path):
    from borderflow.cli import app as cli

    out = tmp_path / "out" / "arrivals.csv"
    ok = CliRunner().invoke(cli, ["export-arrivals", "--from", "2026-11-23", "--to",
                                  "2026-11-26", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "0 arrivals" in ok.output
    assert out.read_text(encoding="utf-8").splitlines() == [",".join(COLUMNS)]
    for args, option in [(["--from", "23/11/2026", "--to", "2026-11-26"], "--from"),
                         (["--from", "2026-11-23", "--to", "2026-11-31"], "--to"),
                         (["--from", "2026-11-23", "--to", "2026-11-22"], "--to")]:
        bad = CliRunner().invoke(cli, ["export-arrivals", *args, "--out", str(out)])
        assert bad.exit_code == 2, bad.output
        text = " ".join(bad.output.split())
        assert f"error: {option}:" in text and text.count("--to:") <= 1, bad.output


@pytest.mark.parametrize(("row", "reason"), [
    ("2026-11-23T08:00:00+07:00", "a value is missing"),
    ("2026-11-23T08:00:00+07:00,nowhere,export,general", "unknown crossing 'nowhere'"),
])
def test_a_replay_line_with_missing_values_or_an_unknown_crossing_is_named(
        tmp_path: Path, row: str, reason: str):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("arrival,crossings,direction,cargo\n" + row + "\n", encoding="utf-8")
    scenario = parse_scenario(
        f'name = "bad-replay"\nstart = "2026-11-23T00:00:00+07:00"\ndays = 2\n'
        f'arrivals_csv = "{csv_path}"\n', str(tmp_path / "bad.toml"))
    with pytest.raises(ScenarioFileError) as info:
        Model(scenario)
    assert "line 2" in str(info.value) and reason in str(info.value)
