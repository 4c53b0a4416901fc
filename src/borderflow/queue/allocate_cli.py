"""`borderflow allocate INSTANCE.json --out PLAN.json`: the optimal re-planning allocator as a
command for planners and auditors (issue 4). Formats and rules: `borderflow.queue.allocation`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def _fail(problems: list[str], heading: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(heading)}", highlight=False, soft_wrap=True)
    for problem in problems:
        err_console.print(f"  - {escape(problem)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def allocate(
    instance: Annotated[Path, typer.Argument(
        help="INSTANCE.json: horizon_end, unassigned_penalty_hours, slots, vehicles.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Where to write PLAN.json (assignments, unassigned).")],
) -> None:
    """Assign vehicles to crossing slots at least total weighted wait (exact optimum)."""
    # imported here: loading Numba and the compiled solver takes ~0.5 s, which the rest of the
    # CLI need not pay
    from borderflow.queue.allocation import InvalidInstance, parse_instance
    from borderflow.queue.allocation import allocate as allocate_plan

    try:
        text = instance.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail([str(exc)], f"cannot read {instance}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail([f"line {exc.lineno}, column {exc.colno}: {exc.msg}"],
                    f"{instance} is not valid JSON") from exc
    try:
        parsed = parse_instance(data)
    except InvalidInstance as exc:
        raise _fail(exc.problems, f"{instance} is not a valid allocation instance") from exc

    started = time.perf_counter()
    plan = allocate_plan(parsed)
    elapsed = time.perf_counter() - started
    try:
        out.write_text(plan.model_dump_json(indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise _fail([str(exc)], f"cannot write {out}") from exc

    table = Table(title=f"Allocation of {instance.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("vehicles", f"{len(parsed.vehicles):,}")
    gates = len({s.gate for s in parsed.slots})
    table.add_row("slots", f"{len(parsed.slots):,} at {gates} gate{'' if gates == 1 else 's'}")
    table.add_row("assigned", f"{len(plan.assignments):,}")
    table.add_row("unassigned", f"{len(plan.unassigned):,}")
    table.add_row("cost", f"{plan.cost:,.3f} weight·h")
    table.add_row("optimal", "exact" if plan.exact else "weights rounded to 6 decimals")
    table.add_row("solve time", f"{elapsed:.3f} s")
    console.print(table)
    console.print(f"plan written to {escape(str(out))}", highlight=False, soft_wrap=True)
