"""The report's plots (matplotlib, inline SVG) and the small formatting helpers they share
with the HTML page (`report.py`): queue outside the yards and yard occupancy over time per
crossing, the wait distribution, and the policies side by side."""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence
from datetime import datetime
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

RC: dict[RcKeyType, Any] = {
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


def pick(figures: dict[str, Any], key: str) -> Any:
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


def cell(value: Any, *, wait: bool = False) -> str:
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


def run_start(result: dict[str, Any]) -> datetime:
    start = datetime.fromisoformat(result["scenario"]["start"])
    if start.tzinfo is None:  # scenarios are validated to carry an offset; be safe anyway
        start = start.replace(tzinfo=VIETNAM)
    return start.astimezone(VIETNAM)


def _mpl(text: str) -> str:
    """Text from the data as a matplotlib label: no mathtext."""
    return text.replace("$", r"\$")


def policy_colour(name: str, order: Sequence[str]) -> str:
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
    start = run_start(result)
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
    year = run_start(result).year
    fig.supxlabel(f"Vietnam time (UTC+7), from {year}", fontsize=8)
    return fig, block


def queue_svg(result: dict[str, Any]) -> tuple[str, int]:
    fig, block = _series_figure(result, [("outside", "vehicles outside the yards")])
    return _svg(fig, "borderflow-queue"), block


def yard_svg(result: dict[str, Any]) -> tuple[str, int, bool]:
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


def wait_svg(result: dict[str, Any]) -> tuple[str, bool]:
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
                   label=_mpl(name), color=policy_colour(name, names))
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
               label=_mpl(name), color=policy_colour(name, names))
    ax.set_xticks(x, [label for _, label in quantiles])
    ax.set_ylabel("wait, hours")
    ax.grid(axis="x", visible=False)
    ax.legend(title="policy", ncols=len(names))
    return _svg(fig, "borderflow-wait"), False


def comparison_svg(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    colours = [policy_colour(n, names) for n in names]
    fig = Figure(figsize=(max(9.0, 1.0 * len(names) * 3 + 3), 5.4), layout="constrained")
    axes = fig.subplots(2, 3, squeeze=False).ravel()
    for ax, (key, label, unit, wait) in zip(axes, _COMPARED, strict=True):
        values = [pick(result["policies"][n].get("overall", {}), key) for n in names]
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
