"""The engine against queueing theory.

A network-free scenario with a `lanes` gate is a plain c-server first-come queue: Poisson
arrivals, `lanes` servers, a vehicle's wait ends when its service starts. Its mean wait
(`overall.wait_hours.mean`) must be the textbook Wq: Erlang C for exponential service (M/M/c),
Pollaczek–Khinchine for deterministic service (M/D/1).

Precision and run time. The statistical error of a simulated mean wait falls slowly: with N
customers its relative standard deviation is about K/√N. Measured on this engine over 24–40
seeds, K ≈ 3 for M/D/1 at ρ = 0.3, 3.5 for M/D/1 at ρ = 0.5, 4.4 for M/M/1 at ρ = 0.5, 5 for
M/D/1 at ρ = 0.7 and 7.5 for M/M/3 at ρ = 0.7; it grows like 1/(1−ρ) in heavy traffic (≈ 10–20
at ρ = 0.85). A 3% tolerance with ~2.5 standard errors of margin needs N ≈ 70–150
thousand customers at the light loads and 1–4 million at the heavier ones (M/M/3 at 0.7 and
0.85, M/D/1 at 0.7 and 0.85). First-come runs take the engine's direct path: all four heavy
cases take about 40 s here, replications spread over the cores. `test_model.py` checks the
direct path against the event kernel vehicle by vehicle.
`test_lanes_gate_is_a_first_come_c_server_queue_on_every_sample_path` covers heavy loads and
several lanes in the default run without any statistical error: it replays the drawn arrivals
and service times through the Kiefer–Wolfowitz recursion and needs the engine's service starts
to match to the nanosecond.

Seeds are fixed (not chosen for their outcome): the tests are deterministic.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pytest

from borderflow.simulation.model import Model
from borderflow.simulation.run import Run
from borderflow.simulation.runner import simulate
from borderflow.simulation.scenario import PolicyName, Scenario, parse_scenario

TOLERANCE = 0.03


# ------------------------------------------------------------------------------- reference
def erlang_c(c: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = λ/μ (< c)."""
    rho = offered / c
    term = 1.0
    below = 0.0  # Σ_{k<c} a^k / k!
    for k in range(c):
        below += term
        term *= offered / (k + 1)
    waiting = term / (1 - rho)  # a^c / c! · 1/(1−ρ)
    return waiting / (below + waiting)


def mmc_wq(c: int, lam: float, mu: float) -> float:
    """Erlang C mean wait in queue."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def md1_wq(lam: float, mu: float) -> float:
    """Pollaczek–Khinchine mean wait in queue with deterministic service: ρ / (2μ(1−ρ))."""
    rho = lam / mu
    return rho / (2 * mu * (1 - rho))


def test_erlang_c_reference_matches_known_values():
    # M/M/1: P(wait) = ρ, Wq = ρ/(μ−λ); M/M/2 at a = 1: C = 1/3 (tabulated).
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert mmc_wq(1, 0.5, 1.0) == pytest.approx(1.0)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 2.4) == pytest.approx(0.6472, abs=1e-4)
    assert md1_wq(0.5, 1.0) == pytest.approx(0.5)


# -------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Queue:
    lanes: int
    rho: float
    service: str  # "exponential" | "deterministic"
    customers: int
    days: float = 100.0
    warmup_days: float = 1.0

    @property
    def lam(self) -> float:
        """Arrivals per hour."""
        return self.customers / (self.days * 24)

    @property
    def mu(self) -> float:
        """Services per hour and lane."""
        return self.lam / (self.lanes * self.rho)

    @property
    def wq(self) -> float:
        if self.service == "exponential":
            return mmc_wq(self.lanes, self.lam, self.mu)
        assert self.lanes == 1
        return md1_wq(self.lam, self.mu)

    def scenario(self) -> Scenario:
        return parse_scenario(f"""
name = "theory"
network = ""
start = "2026-01-01T00:00:00+07:00"
days = {self.days}
warmup_days = {self.warmup_days}
policy = "fifo"

[crossings.gate]
gate = {{ lanes = {self.lanes}, service = {{ kind = "{self.service}", \
mean_minutes = {60 / self.mu!r} }} }}

[[demand]]
crossings = ["gate"]
direction = "export"
per_day = {self.customers / self.days!r}
""", "theory.toml")


def relative_error(queue: Queue, *, seed: int, replications: int = 1) -> float:
    result = simulate(queue.scenario(), seed=seed, replications=replications,
                      workers=1 if replications == 1 else None)
    mean = result["policies"]["fifo"]["overall"]["wait_hours"]["mean"]
    if isinstance(mean, dict):  # replications > 1: {"mean", "ci95"}
        mean = mean["mean"]
    return mean / queue.wq - 1


# ----------------------------------------------------------------------------- the checks
@pytest.mark.parametrize("queue", [
    pytest.param(Queue(1, 0.5, "exponential", 150_000), id="M/M/1 rho=0.5"),
    pytest.param(Queue(1, 0.3, "deterministic", 70_000), id="M/D/1 rho=0.3"),
    pytest.param(Queue(1, 0.5, "deterministic", 100_000), id="M/D/1 rho=0.5"),
])
def test_mean_wait_matches_queueing_theory_within_3_percent(queue: Queue):
    err = relative_error(queue, seed=1)
    assert abs(err) <= TOLERANCE, f"mean wait {err:+.2%} off the theory's {queue.wq:.5f} h"


@pytest.mark.parametrize(("queue", "replications"), [
    pytest.param(Queue(3, 0.7, "exponential", 250_000), 4, id="M/M/3 rho=0.7"),
    pytest.param(Queue(3, 0.85, "exponential", 500_000), 8, id="M/M/3 rho=0.85"),
    pytest.param(Queue(1, 0.7, "deterministic", 250_000), 2, id="M/D/1 rho=0.7"),
    pytest.param(Queue(1, 0.85, "deterministic", 500_000), 6, id="M/D/1 rho=0.85"),
])
def test_mean_wait_matches_queueing_theory_under_heavy_load(queue: Queue, replications: int):
    err = relative_error(queue, seed=1, replications=replications)
    assert abs(err) <= TOLERANCE, f"mean wait {err:+.2%} off the theory's {queue.wq:.5f} h"


def kiefer_wolfowitz_starts(arrival: np.ndarray, service: np.ndarray, lanes: int) -> np.ndarray:
    """Service start of each customer in a first-come c-server queue (exact recursion)."""
    free = [0.0] * lanes  # when each lane is next free (a heap)
    start = np.empty(len(arrival))
    for i in np.argsort(arrival, kind="stable"):
        s = max(arrival[i], heapq.heappop(free))
        start[i] = s
        heapq.heappush(free, s + service[i])
    return start


@pytest.mark.parametrize("queue", [
    pytest.param(Queue(1, 0.85, "exponential", 6_000, days=20), id="M/M/1 rho=0.85"),
    pytest.param(Queue(3, 0.85, "exponential", 6_000, days=20), id="M/M/3 rho=0.85"),
    pytest.param(Queue(3, 0.98, "exponential", 6_000, days=20), id="M/M/3 rho=0.98"),
    pytest.param(Queue(1, 0.85, "deterministic", 6_000, days=20), id="M/D/1 rho=0.85"),
])
def test_lanes_gate_is_a_first_come_c_server_queue_on_every_sample_path(queue: Queue):
    model = Model(queue.scenario())
    rngs = model.rngs(7, 0)
    fleet = model.draw(rngs)
    run = Run(model, PolicyName.fifo, fleet, rngs)
    out = run.run()
    service = np.asarray(run.gates[0].service)
    arrived = np.asarray(out.arrived)
    crossed = np.asarray(out.crossed)

    # The inputs are what the scenario says: arrivals at the intended time, the right rates.
    np.testing.assert_array_equal(arrived, fleet.ready)
    assert len(fleet) == pytest.approx(queue.customers, rel=0.05)
    assert service.mean() * queue.mu == pytest.approx(1.0, rel=0.05)

    expected = kiefer_wolfowitz_starts(fleet.ready, service, queue.lanes)
    done = expected <= model.hours  # later starts are after the run's end: still waiting
    assert done.sum() > 0.95 * len(fleet)
    np.testing.assert_allclose(crossed[done], expected[done], rtol=0, atol=1e-9)
    assert np.isnan(crossed[~done]).all()
