"""The HTML report of a `borderflow simulate` run: one self-contained file (inline SVG plots made
with matplotlib, inline CSS, no scripts, no fonts and no addresses on the network) that opens
offline in any browser.

It shows the run's header (scenario, period in Vietnam time, seed, replications, scenario hash,
code version, run time), what each policy means, the policy comparison (a table and bars, with
95% confidence intervals when there are replications), vehicles waiting outside the yards and
yard occupancy over time per crossing (one panel per policy, side by side, same scale), the
wait distribution, and the figures per crossing and direction.
"""

from __future__ import annotations

import html
import io
import itertools
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from borderflow.simulation.results import WAIT_BINS

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

MAX_POINTS = 1500
"""A time series longer than this is shown as maxima over equal blocks of hours."""

POLICY_MEANING = {
    "fifo": "Today: trucks leave when loaded and queue first-come at the physical gate.",
    "booked": "GoSwift-style slots: every truck books a crossing slot at its declared crossing "
              "when dispatched and crosses in that slot; it still leaves when loaded and waits "
              "in a waiting area until its slot.",
    "borderflow": "Slots plus perishable priority, re-routing over the declarant's acceptable "
                  "crossings, dispatch advice (leave so as to arrive just before the slot; do "
                  "not dispatch when no slot exists within the shelf life) and hold/call-forward "
                  "from a staging point.",
}

POLICY_COLOURS = {"fifo": "#D55E00", "booked": "#0072B2", "borderflow": "#009E73"}
"""Okabe–Ito colours, readable by colour-blind readers."""
_OTHER_COLOURS = ["#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
_CROSSING_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                     "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # real <text>: smaller, selectable, the browser's sans-serif font
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
}

# (key in the figures, label, unit, is a wait in hours)
_COMPARED: list[tuple[str, str, str, bool]] = [
    ("wait_mean", "mean wait", "hours", True),
    ("wait_p95", "95th percentile wait", "hours", True),
    ("spoiled", "spoiled (wait > shelf life)", "vehicles", False),
    ("not_dispatched", "not dispatched", "vehicles", False),
    ("max_queue_outside_yards", "max queue outside the yards", "vehicles", False),
    ("throughput_per_day", "throughput", "vehicles / day", False),
]


# --------------------------------------------------------------------------------- values
def _mean(value: Any) -> float:
    """A figure's value: a plain number (one replication) or the mean over replications."""
    if isinstance(value, dict):
        return float(value.get("mean", 0.0))
    return float(value) if value is not None else math.nan


def _ci(value: Any) -> float:
    return float(value.get("ci95", 0.0)) if isinstance(value, dict) else 0.0


def _pick(figures: dict[str, Any], key: str) -> Any:
    if key.startswith("wait_"):
        return figures.get("wait_hours", {}).get(key.removeprefix("wait_"))
    return figures.get(key)


def _hours(h: float) -> str:
    """A duration in hours, and in days too when it is long."""
    if math.isnan(h):
        return "–"
    if abs(h) < 48:
        return f"{h:,.1f} h"
    return f"{h:,.0f} h ({h / 24:,.1f} d)"


def _number(x: float) -> str:
    """A count or rate: whole above 100, one decimal below."""
    if math.isnan(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def _cell(value: Any, *, wait: bool = False) -> str:
    """A table cell's text (not yet escaped): value, ± its 95% half-width when replicated."""
    if value is None:
        return "–"
    m = _mean(value)
    text = _hours(m) if wait else f"{value:,}" if isinstance(value, int) else _number(m)
    if isinstance(value, dict):
        half = _ci(value)
        text += f" ± {half:,.1f}" + (" h" if wait else "")
    return text


def _edge(h: float) -> str:
    if h < 1:
        return f"{h * 60:g} min"
    if h < 24:
        return f"{h:g} h"
    return f"{h / 24:g} d"


def wait_bin_labels(edges: Sequence[float] = WAIT_BINS) -> list[str]:
    """Labels of the wait histogram's buckets, in minutes, hours or days: `1–2 h`, `> 30 d`."""
    out = []
    for lo, hi in itertools.pairwise(edges):
        if math.isinf(hi):
            out.append(f"> {_edge(lo)}")
            continue
        a, b = _edge(lo), _edge(hi)
        if lo == 0:
            out.append(f"< {b}")
        elif a.split()[1] == b.split()[1]:
            out.append(f"{a.split()[0]}–{b}")
        else:
            out.append(f"{a}–{b}")
    return out


def _start(result: dict[str, Any]) -> datetime:
    start = datetime.fromisoformat(result["scenario"]["start"])
    if start.tzinfo is None:  # scenarios are validated to carry an offset; be safe anyway
        start = start.replace(tzinfo=VIETNAM)
    return start.astimezone(VIETNAM)


def _mpl(text: str) -> str:
    """Text from the data as a matplotlib label: no mathtext."""
    return text.replace("$", r"\$")


def _policy_colour(name: str, order: Sequence[str]) -> str:
    if name in POLICY_COLOURS:
        return POLICY_COLOURS[name]
    others = [p for p in order if p not in POLICY_COLOURS]
    return _OTHER_COLOURS[others.index(name) % len(_OTHER_COLOURS)]


# ----------------------------------------------------------------------------------- SVGs
_SVG_START = re.compile(r"^.*?(?=<svg\b)", re.S)


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an inline <svg> element (no XML prolog, no DOCTYPE, no metadata)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg",
                    metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    return _SVG_START.sub("", buf.getvalue(), count=1).strip()


def _downsample(hours: Sequence[float], values: Sequence[float]) -> tuple[
        np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    """Maxima over blocks of hours so that at most MAX_POINTS remain; and the block length."""
    h = np.asarray(hours, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n = min(len(h), len(v))
    h, v = h[:n], v[:n]
    if n <= MAX_POINTS:
        return h, v, 1
    k = math.ceil(n / MAX_POINTS)
    pad = (-n) % k
    vv = np.concatenate([v, np.full(pad, -np.inf)]).reshape(-1, k).max(axis=1)
    return h[::k], vv, k


def _time_axis(ax: Axes, days: float) -> None:
    """Dates in Vietnam time: day and hour for short runs, day and month, or month and year."""
    locator = mdates.AutoDateLocator(tz=VIETNAM, minticks=4, maxticks=8)
    fmt = "%d %b\n%H:%M" if days <= 3 else "%d %b" if days <= 120 else "%b %Y"
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=VIETNAM))


def _counts_axis(ax: Axes) -> None:
    """Whole vehicles, with thousands separators."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}"))


def _dates(start: datetime, hours: np.ndarray[Any, Any]) -> Any:
    return mdates.date2num(start) + hours / 24.0


def _crossings(result: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for entry in result["policies"].values():
        for c in entry.get("series", {}).get("yard", {}):
            if c not in seen:
                seen.append(c)
    return seen


def _series_figure(result: dict[str, Any], rows: list[tuple[str, str]]) -> tuple[Figure, int]:
    """Panels per policy side by side (same y scale per row); each row one kind of series:
    `outside`, `in_yard` (occupancy minus those outside) or `held`."""
    start = _start(result)
    names = list(result["policies"])
    crossings = _crossings(result)
    colour = {c: _CROSSING_COLOURS[i % len(_CROSSING_COLOURS)] for i, c in enumerate(crossings)}
    ncols = len(names)
    fig = Figure(figsize=(max(4.2 * ncols, 6.5), 3.1 * len(rows) + 0.5), layout="constrained")
    axes = fig.subplots(len(rows), ncols, sharex=True, sharey="row", squeeze=False)
    block = 1
    days = float(result["scenario"].get("days") or 0) or max(
        (len(p.get("series", {}).get("hour", [])) for p in result["policies"].values()),
        default=0) / 24
    for r, (kind, ylabel) in enumerate(rows):
        top = 0.0
        for j, name in enumerate(names):
            ax = axes[r][j]
            series = result["policies"][name].get("series") or {}
            hours = series.get("hour", [])
            if kind == "held":
                lines = {"held upstream": series.get("held", [])}
            else:
                lines = {}
                for c in crossings:
                    yard = series.get("yard", {}).get(c)
                    outside = series.get("outside", {}).get(c)
                    if yard is None or outside is None:
                        continue
                    if kind == "outside":
                        lines[c] = outside
                    else:
                        lines[c] = [y - o for y, o in zip(yard, outside, strict=False)]
            for label, values in lines.items():
                h, v, k = _downsample(hours, values)
                block = max(block, k)
                if len(v):
                    top = max(top, float(np.max(v)))
                ax.plot(_dates(start, h), v, lw=1.1, label=_mpl(label),
                        color=colour.get(label, "#444444"),
                        drawstyle="steps-post" if k == 1 else "default")
            if r == 0:
                ax.set_title(_mpl(name), fontweight="bold")
            if j == 0:
                ax.set_ylabel(ylabel)
            _time_axis(ax, days)
        axes[r][0].set_ylim(0, top * 1.05 if top > 0 else 1.0)  # shared by the row
        _counts_axis(axes[r][0])
    legend: dict[str, Any] = {}  # crossing -> its line, over every panel of the first row
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    handles, labels = list(legend.values()), list(legend)
    if handles and rows[0][0] != "held":
        fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 8),
                   title="crossing")
    year = _start(result).year
    fig.supxlabel(f"Vietnam time (UTC+7), from {year}", fontsize=8)
    return fig, block


def _queue_svg(result: dict[str, Any]) -> tuple[str, int]:
    fig, block = _series_figure(result, [("outside", "vehicles outside the yards")])
    return _svg(fig, "borderflow-queue"), block


def _yard_svg(result: dict[str, Any]) -> tuple[str, int, bool]:
    held = any(any(p.get("series", {}).get("held", [])) for p in result["policies"].values())
    rows = [("in_yard", "vehicles in the yard")]
    if held:
        rows.append(("held", "held upstream until called"))
    fig, block = _series_figure(result, rows)
    return _svg(fig, "borderflow-yard"), block, held


def _histograms(result: dict[str, Any]) -> dict[str, list[int]] | None:
    out = {}
    for name, entry in result["policies"].items():
        hist = entry.get("overall", {}).get("wait_histogram")
        if not hist:
            return None
        out[name] = [int(x) for x in hist]
    return out


def _wait_svg(result: dict[str, Any]) -> tuple[str, bool]:
    """Grouped bars per WAIT_BINS bucket (one replication); otherwise, with replications, the
    wait quantiles with their confidence intervals. Returns the SVG and whether it is the
    histogram."""
    names = list(result["policies"])
    hists = _histograms(result)
    width = 0.8 / max(len(names), 1)
    if hists is not None:
        labels = wait_bin_labels()
        fig = Figure(figsize=(11, 3.8), layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(labels))
        for i, name in enumerate(names):
            counts = hists[name][:len(labels)]
            ax.bar(x[:len(counts)] + (i - (len(names) - 1) / 2) * width, counts, width,
                   label=_mpl(name), color=_policy_colour(name, names))
        ax.set_xticks(x, labels, rotation=35, ha="right")
        ax.set_xlabel("wait in the border area (min / h / d)")
        ax.set_ylabel("vehicles")
        _counts_axis(ax)
        ax.grid(axis="x", visible=False)
        ax.legend(title="policy", ncols=len(names))
        return _svg(fig, "borderflow-wait"), True
    quantiles = [("mean", "mean"), ("p50", "median"), ("p95", "95th percentile"),
                 ("max", "max")]
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(quantiles))
    for i, name in enumerate(names):
        w = result["policies"][name].get("overall", {}).get("wait_hours", {})
        means = [_mean(w.get(q)) for q, _ in quantiles]
        cis = [_ci(w.get(q)) for q, _ in quantiles]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, means, width, yerr=cis, capsize=3,
               label=_mpl(name), color=_policy_colour(name, names))
    ax.set_xticks(x, [label for _, label in quantiles])
    ax.set_ylabel("wait, hours")
    ax.grid(axis="x", visible=False)
    ax.legend(title="policy", ncols=len(names))
    return _svg(fig, "borderflow-wait"), False


def _comparison_svg(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    colours = [_policy_colour(n, names) for n in names]
    fig = Figure(figsize=(max(9.0, 1.0 * len(names) * 3 + 3), 5.4), layout="constrained")
    axes = fig.subplots(2, 3, squeeze=False).ravel()
    for ax, (key, label, unit, wait) in zip(axes, _COMPARED, strict=True):
        values = [_pick(result["policies"][n].get("overall", {}), key) for n in names]
        means = [_mean(v) for v in values]
        cis = [_ci(v) for v in values]
        x = np.arange(len(names))
        ax.bar(x, means, 0.65, color=colours, yerr=cis if any(cis) else None, capsize=4)
        for xi, raw, m, c in zip(x, values, means, cis, strict=True):
            if math.isnan(m):
                continue
            text = ((f"{m:,.0f} h\n{m / 24:,.1f} d" if m >= 48 else f"{m:,.1f} h") if wait
                    else f"{raw:,}" if isinstance(raw, int) else _number(m))
            if c:
                text += f"\n± {c:,.1f}"
            ax.annotate(text, (xi, m + c), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7.5)
        ax.set_xticks(x, [_mpl(n) for n in names])
        slack = max(3 - len(names), 0) / 2  # a lone bar is not a wall
        ax.set_xlim(-0.5 - slack, len(names) - 0.5 + slack)
        if not wait and unit == "vehicles":
            _counts_axis(ax)
        ax.set_title(label)
        ax.set_ylabel(unit)
        ax.grid(axis="x", visible=False)
        top = max([m + c for m, c in zip(means, cis, strict=True) if not math.isnan(m)] + [0.0])
        ax.set_ylim(0, top * 1.3 if top > 0 else 1)
    return _svg(fig, "borderflow-compare")


# ----------------------------------------------------------------------------------- HTML
_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$page_title</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial,
       sans-serif; margin: 1.5rem auto; max-width: 1400px; padding: 0 1rem; color: #222;
       line-height: 1.4; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin-top: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
          margin: 1rem 0; }
dl.meta dt { color: #555; }
dl.meta dd { margin: 0; }
dl.policies dt { font-weight: bold; }
dl.policies dd { margin: 0 0 .5rem 1.5rem; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .35em;
          vertical-align: baseline; border-radius: 2px; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e4e4e4; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #bbb; vertical-align: bottom; }
tr.group td { font-weight: bold; text-align: left; background: #f6f6f6; }
.scroll { overflow-x: auto; }
figure { margin: 1rem 0; }
figure svg { width: 100%; height: auto; max-width: 100%; }
figcaption { color: #555; font-size: .9rem; }
code { font-size: .9em; }
footer { margin-top: 2rem; color: #777; font-size: .85rem; }
</style>
</head>
<body>
<header>
<h1>$title</h1>
<p class="sub">What-if simulation <code>$name</code>: the same vehicles under each policy.</p>
<dl class="meta">
$meta
</dl>
</header>

<section id="policies">
<h2>Policies</h2>
<dl class="policies">
$policies
</dl>
</section>

<section id="comparison">
<h2>Policy comparison</h2>
<div class="scroll">
$comparison_table
</div>
<figure id="plot-comparison">
$comparison_svg
<figcaption>$comparison_caption</figcaption>
</figure>
</section>

<section id="queue">
<h2>Vehicles waiting outside the yards</h2>
<figure id="plot-queue">
$queue_svg
<figcaption>$queue_caption</figcaption>
</figure>
</section>

<section id="yards">
<h2>Yard occupancy</h2>
<figure id="plot-yards">
$yard_svg
<figcaption>$yard_caption</figcaption>
</figure>
</section>

<section id="waits">
<h2>Wait distribution</h2>
<figure id="plot-waits">
$wait_svg
<figcaption>$wait_caption</figcaption>
</figure>
</section>

<section id="by-crossing">
<h2>By crossing and direction</h2>
<div class="scroll">
$crossing_table
</div>
</section>

<footer>$footer</footer>
</body>
</html>
""")

_TABLE_COLUMNS: list[tuple[str, str, bool]] = [
    ("vehicles", "vehicles", False),
    ("crossed", "crossed", False),
    ("inside", "still inside at the end", False),
    ("not_dispatched", "not dispatched", False),
    ("wait_mean", "wait mean", True),
    ("wait_p50", "wait median", True),
    ("wait_p95", "wait p95", True),
    ("wait_max", "wait max", True),
    ("spoiled", "spoiled", False),
    ("max_queue_outside_yards", "max outside yards", False),
    ("max_held_upstream", "max held upstream", False),
    ("throughput_per_day", "crossed per day", False),
]

e = html.escape


def _row(first: str, figures: dict[str, Any], swatch: str | None = None) -> str:
    head = (f'<span class="swatch" style="background:{swatch}"></span>' if swatch else "")
    cells = "".join(f"<td>{e(_cell(_pick(figures, key), wait=wait))}</td>"
                    for key, _, wait in _TABLE_COLUMNS)
    return f"<tr><td>{head}{e(first)}</td>{cells}</tr>"


def _head(first: str) -> str:
    return ("<thead><tr><th>" + e(first) + "</th>"
            + "".join(f"<th>{e(label)}</th>" for _, label, _ in _TABLE_COLUMNS)
            + "</tr></thead>")


def _comparison_table(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    rows = [_row(n, result["policies"][n].get("overall", {}), _policy_colour(n, names))
            for n in names]
    return f"<table>{_head('policy')}<tbody>{''.join(rows)}</tbody></table>"


def _crossing_table(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    body = []
    for n in names:
        body.append(f'<tr class="group"><td colspan="{len(_TABLE_COLUMNS) + 1}">'
                    f'<span class="swatch" style="background:{_policy_colour(n, names)}">'
                    f"</span>{e(n)}</td></tr>")
        for key, figures in result["policies"][n].get("by_crossing", {}).items():
            label = "unassigned (never given a crossing)" if key == "unassigned" else key
            body.append(_row(label, figures))
    return f"<table>{_head('crossing / direction')}<tbody>{''.join(body)}</tbody></table>"


def _meta(result: dict[str, Any]) -> str:
    sc = result["scenario"]
    start = _start(result)
    days = float(sc.get("days", 0))
    end = start + timedelta(days=days)
    reps = int(result.get("replications", 1))
    items = [
        ("scenario", f"{sc.get('name', '')}" + (f" (network {sc['network']})"
                                                if sc.get("network") else "")),
        ("period", f"{start:%d %b %Y %H:%M} – {end:%d %b %Y %H:%M} Vietnam time (UTC+7), "
                   f"{days:g} days ({days * 24:,.0f} h)"),
        ("seed", str(result.get("seed", ""))),
        ("replications", f"{reps}" + (" (figures are means ± 95% confidence half-widths, "
                                       "Student t; plots over time show replication 0)"
                                       if reps > 1 else "")),
        ("scenario hash", str(sc.get("hash", ""))),
        ("code version", f"borderflow {result.get('code_version', '')}"),
        ("run time", f"{float(result.get('wall_seconds', 0)):,.1f} s, "
                     f"{int(result.get('events', 0)):,} events"),
        ("scenario's policy", str(result.get("policy", next(iter(result["policies"]), "")))),
    ]
    return "\n".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items)


def _policies(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    own = result.get("policy")
    out = []
    for n in names:
        tag = " (the scenario's policy)" if n == own else ""
        out.append(f'<dt><span class="swatch" style="background:{_policy_colour(n, names)}">'
                   f"</span>{e(n)}{e(tag)}</dt><dd>{e(POLICY_MEANING.get(n, ''))}</dd>")
    return "\n".join(out)


def render_report(result: dict[str, Any]) -> str:
    """The report of a `simulate(...)` result as one self-contained HTML page."""
    sc = result["scenario"]
    reps = int(result.get("replications", 1))
    with matplotlib.rc_context(_RC):
        comparison = _comparison_svg(result)
        queue, q_block = _queue_svg(result)
        yard, y_block, held = _yard_svg(result)
        waits, is_hist = _wait_svg(result)

    def sampled(block: int) -> str:
        return (f" Shown as maxima over {block}-hour blocks." if block > 1
                else " Sampled every hour.")

    rep0 = " Replication 0." if reps > 1 else ""
    ci = (" Error bars: 95% confidence intervals over the replications." if reps > 1 else "")
    wait_def = ("Wait runs from arrival in the border area (yard, road, waiting area or staging "
                "point) to the moment the vehicle is let through the gate; a vehicle still "
                "waiting at the end counts with its wait so far.")
    captions = {
        "comparison_caption": "Each policy on the same vehicles. Spoiled: the wait exceeded "
                              "the cargo's shelf life. Not dispatched: dispatch advice held "
                              "the truck back because no slot existed within its shelf life. "
                              "Max queue outside the yards: the most vehicles at once beyond "
                              "all yards and overflow lots, plus those held upstream beyond "
                              "the staging points' room. Throughput: vehicles crossed per day."
                              + ci,
        "queue_caption": "Vehicles at each crossing beyond its own yard's capacity, i.e. "
                         "queuing on the road or in the shared overflow lots; one panel per "
                         "policy on the same scale. The table's \u201cmax outside yards\u201d "
                         "counts the whole border area instead: vehicles beyond all yards and "
                         "overflow lots, plus those held upstream beyond the staging points' "
                         "room (see \u201cheld upstream\u201d under yard occupancy)."
                         + sampled(q_block) + rep0,
        "yard_caption": "Vehicles inside each crossing's yard (at most its capacity)"
                        + (", and below, vehicles held upstream in waiting areas or at staging "
                           "points until called forward to their slot" if held else "")
                        + "; one panel per policy on the same scale."
                        + sampled(y_block) + rep0,
        "wait_caption": (("Vehicles per wait bucket, all crossings. " + wait_def
                          + " Vehicles never dispatched are not included (see the table).")
                         if is_hist else
                         ("Wait quantiles over all crossings (the histogram is kept for single "
                          "replications only). " + wait_def + ci)),
    }
    title = str(sc.get("title") or sc.get("name") or "simulation")
    page = _PAGE.substitute(
        page_title=e(f"{title} — borderflow simulation"),
        title=e(title),
        name=e(str(sc.get("name", ""))),
        meta=_meta(result),
        policies=_policies(result),
        comparison_table=_comparison_table(result),
        comparison_svg=comparison,
        queue_svg=queue,
        yard_svg=yard,
        wait_svg=waits,
        crossing_table=_crossing_table(result),
        footer=e(f"borderflow {result.get('code_version', '')} — scenario "
                 f"{sc.get('name', '')} ({sc.get('hash', '')}), seed {result.get('seed', '')}."),
        **{k: e(v) for k, v in captions.items()},
    )
    return page


def write_report(result: dict[str, Any], path: Path | str) -> None:
    """Write the report of a `simulate(...)` result to `path` (UTF-8)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(render_report(result), encoding="utf-8")


def write_plots(result: dict[str, Any], folder: Path | str,
                prefix: str | None = None) -> list[Path]:
    """Write the report's plots as separate SVG files in `folder`, for pages that embed them
    (e.g. `docs/scenarios.md`): `PREFIX-comparison.svg` (the policies side by side),
    `PREFIX-outside.svg` (vehicles outside the yards over time), `PREFIX-yard.svg` (yard
    occupancy, and vehicles held upstream) and `PREFIX-waits.svg` (the wait distribution).
    `prefix` defaults to the scenario's name. Returns the paths written, in that order."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stem = prefix or str(result.get("scenario", {}).get("name") or "simulation")
    with matplotlib.rc_context(_RC):
        svgs = {"comparison": _comparison_svg(result), "outside": _queue_svg(result)[0],
                "yard": _yard_svg(result)[0], "waits": _wait_svg(result)[0]}
    paths = []
    for kind, svg in svgs.items():
        path = out / f"{stem}-{kind}.svg"
        path.write_text(svg + "\n", encoding="utf-8")
        paths.append(path)
    return paths
