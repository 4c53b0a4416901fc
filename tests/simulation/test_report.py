"""The simulation's HTML report: self-contained (no address on the network), one inline SVG per
plot, every policy named, text from the scenario escaped; for one replication (with the wait
histogram) and for several (means with confidence intervals, no histogram)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from borderflow.simulation.plots import wait_bin_labels
from borderflow.simulation.report import render_report, write_report
from borderflow.simulation.results import WAIT_BINS
from borderflow.simulation.runner import simulate
from borderflow.simulation.scenario import load_scenario

PLOTS = ("plot-comparison", "plot-queue", "plot-yards", "plot-waits")
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@pytest.fixture(scope="module")
def dec_2021() -> dict[str, Any]:
    """December 2021 (three policies, one replication), shortened to five days."""
    scenario = load_scenario("dec-2021").model_copy(update={"days": 5})
    return simulate(scenario, workers=1)


@pytest.fixture(scope="module")
def mmc() -> dict[str, Any]:
    """The M/M/3 check with three replications: figures are {mean, ci95}, no histogram."""
    scenario = load_scenario("mmc").model_copy(update={"days": 30, "warmup_days": 2})
    return simulate(scenario, replications=3, workers=1)


def _check_self_contained(page: str) -> None:
    urls = set(re.findall(r"""[a-z][a-z0-9+.-]*://[^\s"'<>)]*""", page, re.I))
    assert urls <= SVG_NAMESPACES, urls - SVG_NAMESPACES
    # Every src/href points inside the page (SVG <use> of its own definitions).
    for attr, target in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", page, re.I):
        assert target.startswith("#"), (attr, target)
    assert "@import" not in page
    assert "url(" not in page.replace("url(#", "")
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "<!DOCTYPE svg" not in page and "<?xml" not in page


def _check_plots(page: str) -> None:
    assert page.count("<svg") == len(PLOTS)
    assert page.count("</svg>") == len(PLOTS)
    for plot in PLOTS:
        figure = re.search(rf'<figure id="{plot}">(.*?)</figure>', page, re.S)
        assert figure is not None, plot
        assert figure.group(1).count("<svg") == 1, plot


def test_single_replication(dec_2021: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "dec.html"
    write_report(dec_2021, out)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    _check_self_contained(page)
    _check_plots(page)
    assert list(dec_2021["policies"]) == ["fifo", "booked", "borderflow"]
    for name in dec_2021["policies"]:
        assert f">{name}" in page
    for meaning in ("first-come", "GoSwift", "perishable priority", "call-forward"):
        assert meaning in page
    sc = dec_2021["scenario"]
    for text in (sc["title"], sc["hash"], str(dec_2021["seed"]), "25 Nov 2021 00:00",
                 "30 Nov 2021 00:00", "Vietnam time", dec_2021["code_version"]):
        assert text in page, text
    for crossing in dec_2021["policies"]["fifo"]["by_crossing"]:
        assert crossing in page
    # the wait histogram, its buckets labelled in minutes, hours and days
    for label in wait_bin_labels():
        assert f">{label}<" in page.replace("&gt; ", "> ").replace("&lt; ", "< "), label
    assert "Vehicles per wait bucket" in page
    assert " ± " not in page.split('id="comparison"')[1].split("</table>")[0]


def test_replications(mmc: dict[str, Any]) -> None:
    assert mmc["replications"] == 3
    assert "wait_histogram" not in mmc["policies"]["fifo"]["overall"]
    page = render_report(mmc)
    _check_self_contained(page)
    _check_plots(page)
    assert "fifo" in page
    table = page.split('id="comparison"')[1].split("</table>")[0]
    assert " ± " in table  # means with their 95% half-widths
    assert "confidence" in page
    assert "Wait quantiles" in page


def test_scenario_text_is_escaped(dec_2021: dict[str, Any]) -> None:
    result = copy.deepcopy(dec_2021)
    result["scenario"]["title"] = "<script>alert('x')</script> & <b>bold</b>"
    result["scenario"]["name"] = 'dec"><img src=x onerror=alert(1)>'
    page = render_report(result)
    assert "<script" not in page
    assert "<b>bold" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    _check_self_contained(page)


def test_long_series_are_downsampled(dec_2021: dict[str, Any]) -> None:
    """A year of hourly samples stays small: maxima over blocks of hours."""
    result = copy.deepcopy(dec_2021)
    hours = 24 * 365
    for entry in result["policies"].values():
        s = entry["series"]
        s["hour"] = list(range(hours + 1))
        s["held"] = [h % 50 for h in range(hours + 1)]
        for c in s["yard"]:
            s["yard"][c] = [(h * 7) % 300 for h in range(hours + 1)]
            s["outside"][c] = [max(v - 250, 0) for v in s["yard"][c]]
    result["scenario"]["days"] = 365
    page = render_report(result)
    _check_plots(page)
    assert "maxima over 6-hour blocks" in page
    assert len(page.encode()) < 1_500_000


def test_wait_bin_labels() -> None:
    labels = wait_bin_labels()
    assert len(labels) == len(WAIT_BINS) - 1
    assert labels[0] == "< 30 min"
    assert labels[1] == "30 min–1 h"
    assert "12 h–1 d" in labels
    assert "1–2 d" in labels
    assert labels[-1] == "> 30 d"
