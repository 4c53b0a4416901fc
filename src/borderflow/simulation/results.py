"""Figures from a run: waits, queues outside the yards, spoilage, throughput; and their means
with 95% confidence intervals over replications."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from borderflow.simulation.model import Model
from borderflow.simulation.run import (
    CROSSED,
    EN_ROUTE,
    HELD,
    IN_YARD,
    NO_SHOW,
    NOT_DISPATCHED,
    PLANNED,
    RunOutcome,
)

WAIT_BINS = [0, 0.5, 1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 240, 336, 504, 720, math.inf]
"""Hours; the wait histogram's bin edges (the report's wait distribution)."""


def _wait_stats(w: npt.NDArray[np.float64]) -> dict[str, float]:
    if len(w) == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    p50, p95 = np.percentile(w, [50, 95])
    return {"mean": float(w.mean()), "p50": float(p50), "p95": float(p95),
            "max": float(w.max())}


def summarize(model: Model, out: RunOutcome) -> dict[str, Any]:
    """One run's figures, overall and per crossing and direction.

    `wait_hours` runs from arrival in the border area (a yard, the road, or for booked
    policies a waiting area or staging point) to the moment the vehicle is let through the gate;
    a vehicle still waiting at the end counts with its wait so far (a lower bound).
    `delay_hours` runs from when the truck would have reached the border had it left as soon
    as it was loaded, to crossing: for borderflow it includes the time held at origin.
    `spoiled`: vehicles whose wait exceeded their cargo's shelf life. Only vehicles whose
    intended arrival is after the warm-up are counted.
    """
    end = model.hours
    warm = model.scenario.warmup_days * 24.0
    fleet = out.fleet
    n = len(fleet)
    state = np.asarray(out.state, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    arrived = np.asarray(out.arrived, dtype=np.float64)
    crossed = np.asarray(out.crossed, dtype=np.float64)
    key = np.asarray(out.key_of, dtype=np.int64)
    counted = fleet.ready >= warm
    if out.n_drawn is not None:  # vehicles a live forecast starts with always count
        counted[out.n_drawn:] = True
    # Inside: in a yard, held at a staging point, or driving between crossings (re-routed).
    inside = np.isin(state, (IN_YARD, HELD)) | ((state == EN_ROUTE) & ~np.isnan(arrived))
    waited = np.where(state == CROSSED, crossed - arrived, end - arrived)
    has_wait = counted & (inside | (state == CROSSED))
    shelf = np.array([s.shelf_life if s.shelf_life is not None else math.inf
                      for s in model.streams])[fleet.stream] if n else np.zeros(0)
    spoiled = has_wait & (waited > shelf)
    # Delay: from when the truck would have reached the border had it left when loaded, to
    # crossing (or the end) — includes time held at origin by dispatch advice.
    dispatched = ~np.isin(state, (NOT_DISPATCHED, NO_SHOW))
    delay = np.where(state == CROSSED, crossed - fleet.ready, end - fleet.ready).clip(min=0)
    days = max((end - warm) / 24.0, 1e-9)
    crossed_in_window = (state == CROSSED) & (crossed >= warm)

    def figures(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        m = mask & counted
        return {
            "vehicles": int(m.sum()),
            "arrived": int((m & ~np.isnan(arrived)).sum()),
            "crossed": int((m & (state == CROSSED)).sum()),
            "inside": int((m & inside).sum()),
            "en_route": int((m & np.isin(state, (EN_ROUTE, PLANNED)) & np.isnan(arrived)).sum()),
            "not_dispatched": int((m & (state == NOT_DISPATCHED)).sum()),
            "no_show": int((m & (state == NO_SHOW)).sum()),
            "wait_hours": _wait_stats(waited[m & has_wait]),
            "delay_hours": _wait_stats(delay[m & dispatched]),
            "spoiled": int((m & spoiled).sum()),
            "throughput_per_day": float((mask & crossed_in_window).sum() / days),
            "wait_histogram": np.histogram(waited[m & has_wait], bins=WAIT_BINS)[0].tolist(),
        }

    everything = np.ones(n, dtype=bool)
    overall = figures(everything)
    overall["max_queue_outside_yards"] = out.max_outside_total
    overall["max_held_upstream"] = out.max_held
    by_key: dict[str, Any] = {}
    for i, k in enumerate(model.keys):
        f = figures(key == i)
        f["max_queue_outside_yards"] = out.max_outside[k.split("/")[0]]
        by_key[k] = f
    unassigned = figures(key < 0)
    if unassigned["vehicles"]:
        by_key["unassigned"] = unassigned
    return {"policy": out.policy, "overall": overall, "by_crossing": by_key,
            "events": out.events, "series": out.series}


SCALARS = ("vehicles", "arrived", "crossed", "inside", "en_route", "not_dispatched", "no_show",
           "spoiled",
           "throughput_per_day", "max_queue_outside_yards", "max_held_upstream")


def _ci(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    mean = float(a.mean())
    if len(a) < 2:
        return {"mean": mean, "ci95": 0.0}
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return {"mean": mean, "ci95": half}


def _zeroed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _zeroed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [0 for _ in value]
    return 0 if isinstance(value, int | float) else value


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means with 95% confidence half-widths (Student t) over replications of one policy."""

    def block(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in SCALARS:
            if name in parts[0]:
                out[name] = _ci([p[name] for p in parts])
        for figure in ("wait_hours", "delay_hours"):
            out[figure] = {q: _ci([p[figure][q] for p in parts])
                           for q in ("mean", "p50", "p95", "max")}
        return out

    keys = sorted({k for r in runs for k in r["by_crossing"]})
    # A crossing (or "unassigned") a replication did not report had none of it: count zeros,
    # so every mean and interval is over all replications.
    template = {k: next(r["by_crossing"][k] for r in runs if k in r["by_crossing"])
                for k in keys}
    return {
        "policy": runs[0]["policy"],
        "replications": len(runs),
        "overall": block([r["overall"] for r in runs]),
        "by_crossing": {k: block([r["by_crossing"].get(k) or _zeroed(template[k]) for r in runs])
                        for k in keys},
        "events": int(sum(r["events"] for r in runs)),
    }
