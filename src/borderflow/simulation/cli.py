"""`borderflow simulate SCENARIO`: what-if runs of border congestion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from borderflow.cli.context import console, fail
from borderflow.errors import BorderflowError
from borderflow.simulation.runner import Backend, simulate
from borderflow.simulation.scenario import PolicyName, load_scenario, shipped_scenarios


def simulate_command(
    scenario: str = typer.Argument(
        ..., help="A shipped scenario (" + ", ".join(shipped_scenarios()) + ") or a TOML file."),
    seed: int | None = typer.Option(None, help="Random seed (default: the scenario's)."),
    replications: int | None = typer.Option(
        None, min=1, help="Independent replications (default: the scenario's)."),
    policy: list[PolicyName] = typer.Option(
        [], help="Policies to run (repeatable; default: the scenario's and its comparisons)."),
    workers: int | None = typer.Option(None, min=1, help="Processes (default: one per core)."),
    backend: Backend = typer.Option(Backend.processes, help="processes, dask or ray."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the figures as JSON."),
    report: Path | None = typer.Option(None, help="Write a self-contained HTML report."),
) -> None:
    """Simulate border congestion on the platform's own calendars, capacity and queue rules."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    try:
        sc = load_scenario(scenario)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            total = replications or sc.replications
            task = bar.add_task(f"{sc.name}: replications", total=total)
            result = simulate(sc, seed=seed, replications=replications,
                              policies=policy or None, workers=workers, backend=backend,
                              progress=lambda done, _n: bar.update(task, completed=done))
    except BorderflowError as exc:
        raise fail(str(exc)) from exc
    _print(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"figures written to {json_out}")
    if report is not None:
        from borderflow.simulation.report import write_report

        write_report(result, report)
        console.print(f"report written to {report}")


def _fmt(value: object) -> str:
    if isinstance(value, dict) and "mean" in value and "ci95" in value:
        return f"{value['mean']:,.0f}±{value['ci95']:,.0f}"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _whole(value: object) -> str:
    """Hours to the hour (± the interval's half-width with replications)."""
    if isinstance(value, dict) and "mean" in value:
        return f"{value['mean']:,.0f}±{value['ci95']:,.0f}"
    return f"{float(value):,.0f}"  # type: ignore[arg-type]


def _print(result: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=f"{result['scenario']['name']} — seed {result['seed']}, "
                        f"{result['replications']} replication(s), "
                        f"{result['wall_seconds']:.1f} s, {result['events']:,} events",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("policy", no_wrap=True)
    table.caption = ("unsent: not dispatched; wait h: mean/p95/max; on road: most trucks "
                     "beyond the yards; "
                     "± 95% CI with replications")
    for col in ("trucks", "crossed", "unsent", "wait h", "spoiled", "on road", "/day"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, entry in result["policies"].items():
        o = entry["overall"]
        w = o["wait_hours"]
        table.add_row(name, _fmt(o["vehicles"]), _fmt(o["crossed"]), _fmt(o["not_dispatched"]),
                      "/".join(_whole(w[q]) for q in ("mean", "p95", "max")),
                      _fmt(o["spoiled"]), _fmt(o["max_queue_outside_yards"]),
                      _fmt(o["throughput_per_day"]))
    console.print(table)
