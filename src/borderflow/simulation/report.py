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
from datetime import timedelta
from pathlib import Path
from string import Template
from typing import Any

import matplotlib

from borderflow.simulation.plots import (
    POLICY_MEANING,
    RC,
    cell,
    comparison_svg,
    pick,
    policy_colour,
    queue_svg,
    run_start,
    wait_svg,
    yard_svg,
)

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
    cells = "".join(f"<td>{e(cell(pick(figures, key), wait=wait))}</td>"
                    for key, _, wait in _TABLE_COLUMNS)
    return f"<tr><td>{head}{e(first)}</td>{cells}</tr>"


def _head(first: str) -> str:
    return ("<thead><tr><th>" + e(first) + "</th>"
            + "".join(f"<th>{e(label)}</th>" for _, label, _ in _TABLE_COLUMNS)
            + "</tr></thead>")


def _comparison_table(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    rows = [_row(n, result["policies"][n].get("overall", {}), policy_colour(n, names))
            for n in names]
    return f"<table>{_head('policy')}<tbody>{''.join(rows)}</tbody></table>"


def _crossing_table(result: dict[str, Any]) -> str:
    names = list(result["policies"])
    body = []
    for n in names:
        body.append(f'<tr class="group"><td colspan="{len(_TABLE_COLUMNS) + 1}">'
                    f'<span class="swatch" style="background:{policy_colour(n, names)}">'
                    f"</span>{e(n)}</td></tr>")
        for key, figures in result["policies"][n].get("by_crossing", {}).items():
            label = "unassigned (never given a crossing)" if key == "unassigned" else key
            body.append(_row(label, figures))
    return f"<table>{_head('crossing / direction')}<tbody>{''.join(body)}</tbody></table>"


def _meta(result: dict[str, Any]) -> str:
    sc = result["scenario"]
    start = run_start(result)
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
        out.append(f'<dt><span class="swatch" style="background:{policy_colour(n, names)}">'
                   f"</span>{e(n)}{e(tag)}</dt><dd>{e(POLICY_MEANING.get(n, ''))}</dd>")
    return "\n".join(out)


def render_report(result: dict[str, Any]) -> str:
    """The report of a `simulate(...)` result as one self-contained HTML page."""
    sc = result["scenario"]
    reps = int(result.get("replications", 1))
    with matplotlib.rc_context(RC):
        comparison = comparison_svg(result)
        queue, q_block = queue_svg(result)
        yard, y_block, held = yard_svg(result)
        waits, is_hist = wait_svg(result)

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
    with matplotlib.rc_context(RC):
        svgs = {"comparison": comparison_svg(result), "outside": queue_svg(result)[0],
                "yard": yard_svg(result)[0], "waits": wait_svg(result)[0]}
    paths = []
    for kind, svg in svgs.items():
        path = out / f"{stem}-{kind}.svg"
        path.write_text(svg + "\n", encoding="utf-8")
        paths.append(path)
    return paths
