"""The simulation books slots by the live queue's rule: `SlotLedger.book` is an in-memory
driver for `borderflow.queue.policy`, with two cursors that skip slots the policy would refuse.
On random ledgers and random sequences of requests (time moving forward, as it does in a run),
every booking must be exactly `candidate_slots(...)[0]` of the live queue, and no slot is ever
booked over its capacity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderflow.queue.policy import (
    PriorityClass,
    QueuePolicy,
    SlotState,
    candidate_slots,
    reserved_for_perishables,
)
from borderflow.simulation.ledger import SlotLedger

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
CROSSINGS = ("huu-nghi", "tan-thanh", "chi-ma")


@dataclass
class Request:
    keys: list[str]
    ready_min: int
    deadline_min: int | None
    priority: PriorityClass
    advance_min: int  # how far the clock moves before this request


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[QueuePolicy, int, dict[str, dict[str, list]],
                                      list[Request]]:
    slot_minutes = draw(st.sampled_from([15, 30, 60, 120]))
    policy = QueuePolicy(
        slot_minutes=slot_minutes,
        perishable_share=draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0])),
        perishable_release=timedelta(minutes=draw(st.integers(0, 12 * 60))),
        prereg_cutoff=timedelta(minutes=draw(st.integers(0, 72 * 60))),
    )
    n = draw(st.integers(1, 40))
    books: dict[str, dict[str, list]] = {}
    for crossing in draw(st.lists(st.sampled_from(CROSSINGS), min_size=1, max_size=3,
                                  unique=True)):
        # One draw per book (four bytes a slot) keeps generation fast; shrinks towards
        # empty, unrestricted slots of capacity 0.
        raw = draw(st.binary(min_size=4 * n, max_size=4 * n))
        capacity, booked, booked_p, prereg = [], [], [], []
        for j in range(n):
            c = raw[4 * j] % 7
            b = raw[4 * j + 1] % (c + 1)
            capacity.append(c)
            booked.append(b)
            booked_p.append(raw[4 * j + 2] % (b + 1))
            prereg.append(raw[4 * j + 3] % 4 == 3)
        books[f"{crossing}/export"] = {"capacity": capacity, "booked": booked,
                                       "booked_p": booked_p, "prereg": prereg}
    keys = list(books)
    span = n * slot_minutes
    requests = []
    for _ in range(draw(st.integers(1, 15))):
        ready = draw(st.integers(0, span + slot_minutes))
        requests.append(Request(
            keys=draw(st.permutations(keys)).copy()[:draw(st.integers(1, len(keys)))],
            ready_min=ready,
            deadline_min=draw(st.none() | st.integers(ready, span + 2 * slot_minutes)),
            priority=draw(st.sampled_from(list(PriorityClass))),
            advance_min=draw(st.integers(0, 6 * 60)),
        ))
    start_min = draw(st.integers(-72 * 60, span))
    return policy, start_min, books, requests


def _hours(minutes: int) -> float:
    return minutes / 60


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers())
def test_ledger_books_the_live_queues_first_candidate_and_never_over_capacity(case):
    policy, now_min, books, requests = case
    slot_minutes = policy.slot_minutes
    ledger = SlotLedger(t0=T0, slot_hours=slot_minutes / 60, policy=policy)
    for key, b in books.items():
        ledger.add(key, key.split("/")[0], b["capacity"], b["prereg"])
        # Earlier bookings go in through the ledger's own door (as a forecast's known vehicles
        # do), so whatever it keeps besides the counts stays consistent.
        for j, (booked, booked_p) in enumerate(zip(b["booked"], b["booked_p"], strict=True)):
            for i in range(booked):
                ledger.take(key, j, PriorityClass.perishable if i < booked_p
                            else PriorityClass.regular)
        assert ledger.books[key].booked == b["booked"]
        assert ledger.books[key].booked_perishable == b["booked_p"]

    for req in requests:
        now_min += req.advance_min  # the simulation's clock never runs backwards
        now = _at(now_min)
        slots = [
            SlotState(key.split("/")[0], _at(j * slot_minutes), cap,
                      reserved_for_perishables(cap, policy), books[key]["booked"][j],
                      books[key]["booked_p"][j], books[key]["prereg"][j])
            for key in req.keys for j, cap in enumerate(books[key]["capacity"])
        ]
        deadline = None if req.deadline_min is None else _at(req.deadline_min)
        live = candidate_slots(slots, priority=req.priority, now=now,
                               ready=_at(req.ready_min), deadline=deadline, policy=policy,
                               preference=[k.split("/")[0] for k in req.keys])

        got = ledger.book(req.keys, ready=_hours(req.ready_min),
                          deadline=None if req.deadline_min is None
                          else _hours(req.deadline_min),
                          priority=req.priority, now=_hours(now_min))

        if not live:
            assert got is None, f"the live queue has no slot, the ledger booked {got}"
            continue
        assert got is not None, f"the live queue offers {live[0]}, the ledger found nothing"
        key, j, rank = got
        first = live[0]
        assert (key.split("/")[0], _at(j * slot_minutes)) == (first.crossing_id, first.start), \
            f"the ledger booked {key} slot {j}, the live queue's first candidate is {first}"
        b = books[key]
        assert rank == b["booked"][j]
        b["booked"][j] += 1
        if req.priority is not PriorityClass.regular:
            b["booked_p"][j] += 1
        assert b["booked"][j] <= b["capacity"][j]
        assert ledger.books[key].booked == b["booked"]
        assert ledger.books[key].booked_perishable == b["booked_p"]
