"""Run a scenario: replications (in parallel over the machine's cores, or over a Dask or Ray
cluster), every policy on the same vehicles, figures combined with confidence intervals."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from enum import StrEnum
from typing import Any

from borderflow import __version__
from borderflow.errors import InvalidInput
from borderflow.simulation.model import Initial, Model
from borderflow.simulation.results import combine, summarize
from borderflow.simulation.run import Run
from borderflow.simulation.scenario import Scenario


class Backend(StrEnum):
    processes = "processes"
    """concurrent.futures over this machine's cores (the default)."""
    dask = "dask"
    """A Dask cluster: $DASK_SCHEDULER_ADDRESS, or a local cluster when unset."""
    ray = "ray"
    """A Ray cluster: $RAY_ADDRESS, or a local one when unset."""


_MODELS: dict[str, Model] = {}


def _model(scenario: Scenario) -> Model:
    """One model per scenario and process (capacity tables are computed once)."""
    key = scenario.digest()
    if key not in _MODELS:
        _MODELS[key] = Model(scenario)
    return _MODELS[key]


def replicate(scenario: Scenario, seed: int, replication: int,
              policies: Sequence[str],
              initial: list[Initial] | None = None) -> list[dict[str, Any]]:
    """One replication: the same vehicles and service times under each policy."""
    model = _model(scenario)
    out = []
    for policy in policies:
        rngs = model.rngs(seed, replication)
        fleet = model.draw(rngs)
        run = Run(model, policy, fleet, rngs, initial=initial)
        out.append(summarize(model, run.run()))
    return out


def _replicate_json(scenario_json: str, seed: int, replication: int,
                    policies: list[str]) -> list[dict[str, Any]]:
    scenario = Scenario.model_validate_json(scenario_json)
    return replicate(scenario, seed, replication, policies)


def simulate(scenario: Scenario, *, seed: int | None = None, replications: int | None = None,
             policies: Sequence[str] | None = None, workers: int | None = None,
             backend: Backend = Backend.processes,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Figures for a scenario: the first policy is the scenario's, the others are compared."""
    started = time.perf_counter()
    seed = scenario.seed if seed is None else seed
    reps = scenario.replications if replications is None else replications
    if reps < 1:
        raise InvalidInput("replications must be at least 1", field="replications")
    chosen = [str(p) for p in policies] if policies else [scenario.policy, *(
        p for p in scenario.compare if p != scenario.policy)]
    for p in chosen:
        scenario.policy_named(p)  # an unknown name fails here, naming the known ones
    _model(scenario)  # fail early (unknown crossing, bad network) in this process
    per_rep: list[list[dict[str, Any]] | None] = [None] * reps
    done = 0
    if workers is None:
        workers = min(reps, os.cpu_count() or 1)
    if backend is Backend.processes and (workers <= 1 or reps == 1):
        for r in range(reps):
            per_rep[r] = replicate(scenario, seed, r, chosen)
            done += 1
            if progress:
                progress(done, reps)
    elif backend is Backend.processes:
        text = scenario.model_dump_json(by_alias=True)
        names = [str(p) for p in chosen]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_replicate_json, text, seed, r, names): r
                       for r in range(reps)}
            for fut in as_completed(futures):
                per_rep[futures[fut]] = fut.result()
                done += 1
                if progress:
                    progress(done, reps)
    else:
        per_rep = _on_cluster(backend, scenario, seed, reps, chosen, progress)
    runs = [r for r in per_rep if r is not None]
    result: dict[str, Any] = {
        "scenario": {"name": scenario.name, "title": scenario.title,
                     "hash": scenario.digest(), "network": scenario.network,
                     "start": scenario.start.isoformat(), "days": scenario.days},
        "seed": seed,
        "replications": reps,
        "code_version": __version__,
        "policies": {},
    }
    for i, policy in enumerate(chosen):
        mine = [r[i] for r in runs]
        entry = combine(mine) if reps > 1 else {
            k: v for k, v in mine[0].items() if k != "series"}
        entry["series"] = mine[0]["series"]  # replication 0, for the report's plots
        result["policies"][str(policy)] = entry
    main = result["policies"][str(chosen[0])]
    result["policy"] = str(chosen[0])
    result["overall"] = main["overall"]
    result["by_crossing"] = main["by_crossing"]
    result["events"] = int(sum(p["events"] for p in result["policies"].values()))
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    return result


def _on_cluster(backend: Backend, scenario: Scenario, seed: int, reps: int,
                chosen: list[str],
                progress: Callable[[int, int], None] | None) -> list[list[dict[str, Any]] | None]:
    text = scenario.model_dump_json(by_alias=True)
    names = [str(p) for p in chosen]
    out: list[list[dict[str, Any]] | None] = [None] * reps
    if backend is Backend.dask:
        try:
            from dask.distributed import Client
            from dask.distributed import as_completed as dask_completed
        except ImportError as exc:
            raise InvalidInput("the dask backend needs `pip install 'dask[distributed]'`",
                               field="backend") from exc
        address = os.environ.get("DASK_SCHEDULER_ADDRESS")
        with Client(address) if address else Client(processes=True) as client:
            futures = client.map(_replicate_json, [text] * reps, [seed] * reps, range(reps),
                                 [names] * reps)
            index = {f.key: i for i, f in enumerate(futures)}
            for n, fut in enumerate(dask_completed(futures), start=1):
                out[index[fut.key]] = fut.result()
                if progress:
                    progress(n, reps)
        return out
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput("the ray backend needs `pip install ray`", field="backend") from exc
    ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True)
    remote = ray.remote(_replicate_json)
    refs = [remote.remote(text, seed, r, names) for r in range(reps)]
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            out[refs.index(ref)] = ray.get(ref)
        if progress:
            progress(reps - len(pending), reps)
    return out
