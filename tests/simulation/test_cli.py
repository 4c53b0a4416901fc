"""`borderflow simulate` end to end: figures as JSON with the documented keys, and a broken
scenario file refused with the key path and the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from borderflow.cli import app
from borderflow.cli import context as cli_context
from borderflow.config import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A wide terminal and no way to touch the user's own data (as tests/test_cli.py)."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BORDERFLOW_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    cli_context._factory.cache_clear()
    yield
    get_settings.cache_clear()
    cli_context._factory.cache_clear()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    return " ".join(text.split())


def is_ci(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"mean", "ci95"}
            and all(isinstance(v, float) for v in value.values()) and value["ci95"] >= 0)


def test_simulate_writes_the_documented_figures_as_json(tmp_path: Path):
    out = tmp_path / "mmc.json"
    result = run("simulate", "mmc", "--replications", "2", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "mmc" in result.output
    assert "figures written to" in flat(result.output)

    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["scenario"]["name"] == "mmc"
    assert figures["replications"] == 2
    assert figures["seed"] == 1  # the scenario's
    assert figures["code_version"]
    assert len(figures["scenario"]["hash"]) == 16
    assert isinstance(figures["events"], int) and figures["events"] > 0
    assert isinstance(figures["wall_seconds"], float) and figures["wall_seconds"] > 0
    assert figures["policy"] == "fifo"
    assert list(figures["policies"]) == ["fifo"]

    def check(block: dict[str, Any]) -> None:
        for name in ("vehicles", "max_queue_outside_yards", "spoiled", "throughput_per_day"):
            assert is_ci(block[name]), name
        assert set(block["wait_hours"]) >= {"mean", "p50", "p95", "max"}
        for q in ("mean", "p50", "p95", "max"):
            assert is_ci(block["wait_hours"][q]), q
        w = {q: block["wait_hours"][q]["mean"] for q in ("mean", "p50", "p95", "max")}
        assert 0 <= w["p50"] <= w["p95"] <= w["max"]

    overall = figures["overall"]
    check(overall)
    assert overall == figures["policies"]["fifo"]["overall"]
    # M/M/3 at λ = 2.4/h, μ = 1/h: ~57.6 vehicles a day over 355 counted days.
    assert overall["vehicles"]["mean"] == pytest.approx(57.6 * 355, rel=0.02)
    assert overall["throughput_per_day"]["mean"] == pytest.approx(57.6, rel=0.02)
    assert list(figures["by_crossing"]) == ["gate/export"]
    check(figures["by_crossing"]["gate/export"])
    assert figures["by_crossing"]["gate/export"]["vehicles"] == overall["vehicles"]


def test_simulate_refuses_a_broken_scenario_naming_the_key_and_the_reason(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text("""name = "broken"
network = ""
start = "2026-01-01T00:00:00+07:00"
days = 2

[crossings.gate]
gate = { lanes = 1, service = { kind = "exponential", mean_minutes = 5 } }

[[demand]]
crossings = ["gate"]
direction = "export"
per_day = -3
""", encoding="utf-8")
    out = tmp_path / "out.json"
    result = run("simulate", str(broken), "--json", str(out))
    assert result.exit_code != 0
    text = flat(result.output)
    assert "broken.toml" in text
    assert "demand[0].per_day" in text
    assert "greater than or equal to 0" in text
    assert "Traceback" not in result.output
    assert not out.exists()


def test_simulate_refuses_a_scenario_that_does_not_exist(tmp_path: Path):
    result = run("simulate", str(tmp_path / "nowhere.toml"))
    assert result.exit_code != 0
    assert "file not found" in flat(result.output)


@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_cluster_backend_without_its_package_says_what_to_install(backend: str):
    try:
        __import__(backend)
    except ImportError:
        pass
    else:
        pytest.skip(f"{backend} is installed here")
    result = run("simulate", "mmc", "--replications", "2", "--backend", backend)
    assert result.exit_code != 0
    text = flat(result.output)
    assert f"the {backend} backend needs" in text and "pip install" in text
    assert "Traceback" not in text
