"""The queue's pure policies: shared by the live queue and the simulation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from borderflow.queue.policy import (
    PriorityClass,
    QueuePolicy,
    SlotState,
    Waiting,
    candidate_slots,
    echerha_order,
    estimate_crossing,
    free_places,
    nearest_windows,
    reserved_for_perishables,
)

NOW = datetime(2026, 11, 23, 3, tzinfo=UTC)
H = timedelta(hours=1)


def slot(start: datetime, capacity: int = 4, booked: int = 0, booked_p: int = 0,
         crossing: str = "chi-ma", restricted: bool = False) -> SlotState:
    return SlotState(crossing_id=crossing, start=start, capacity=capacity,
                     perishable_reserved=reserved_for_perishables(capacity, QueuePolicy()),
                     booked=booked, booked_perishable=booked_p, preregistered_only=restricted)


def test_regular_goods_see_the_reserve_only_after_its_release():
    policy = QueuePolicy()
    far = slot(NOW + 24 * H, capacity=10)  # 3 reserved for perishables
    near = slot(NOW + 5 * H, capacity=10)
    assert free_places(far, PriorityClass.regular, NOW, policy) == 7
    assert free_places(far, PriorityClass.perishable, NOW, policy) == 10
    assert free_places(near, PriorityClass.regular, NOW, policy) == 10


def test_restricted_days_take_only_bookings_made_before_the_cutoff():
    policy = QueuePolicy()
    soon = slot(NOW + 24 * H, restricted=True)
    later = slot(NOW + 72 * H, restricted=True)
    got = candidate_slots([soon, later], priority=PriorityClass.perishable, now=NOW,
                          ready=NOW, deadline=None, policy=policy)
    assert got == [later]


def test_candidates_respect_ready_deadline_and_preference():
    policy = QueuePolicy()
    slots = [slot(NOW + k * H, crossing=c) for k in range(1, 6) for c in ("chi-ma", "huu-nghi")]
    got = candidate_slots(slots, priority=PriorityClass.perishable, now=NOW, ready=NOW + 2 * H,
                          deadline=NOW + 3 * H, policy=policy, preference=["huu-nghi", "chi-ma"])
    assert [(s.start - NOW, s.crossing_id) for s in got] == [
        (2 * H, "huu-nghi"), (2 * H, "chi-ma"), (3 * H, "huu-nghi"), (3 * H, "chi-ma")]
    windows = nearest_windows(slots, priority=PriorityClass.regular, now=NOW, ready=NOW,
                              policy=policy)
    assert {k: len(v) for k, v in windows.items()} == {"chi-ma": 3, "huu-nghi": 3}


def test_echerha_pattern_one_plus_one_plus_one_priority_to_five_regular():
    waiting = [Waiting(f"p{i}", PriorityClass.perishable, NOW + i * H) for i in range(5)]
    waiting += [Waiting(f"r{i}", PriorityClass.regular, NOW + i * H) for i in range(8)]
    waiting.append(Waiting("e0", PriorityClass.emergency, NOW + 9 * H))
    assert echerha_order(waiting, (3, 5)) == [
        "e0", "p0", "p1", "p2", "r0", "r1", "r2", "r3", "r4", "p3", "p4", "r5", "r6", "r7"]


@given(st.lists(st.tuples(st.sampled_from(list(PriorityClass)), st.integers(0, 500)),
                max_size=60),
       st.integers(0, 4), st.integers(0, 6))
def test_echerha_order_calls_everyone_once_and_keeps_each_stream_first_come(entries, a, b):
    waiting = [Waiting(f"v{i}", p, NOW + timedelta(minutes=m)) for i, (p, m) in
               enumerate(entries)]
    order = echerha_order(waiting, (a, b))
    by_id = {w.id: w for w in waiting}
    assert sorted(order) == sorted(by_id)
    for cls in PriorityClass:
        stream = [i for i in order if by_id[i].priority is cls]
        assert stream == sorted(stream, key=lambda i: (by_id[i].arrived, i))


def test_estimate_spreads_a_slot_and_widens_by_observed_lateness():
    est = estimate_crossing(slot_start=NOW, slot_length=H, rank_in_slot=2, slot_capacity=4,
                            position=7, lateness_p90=timedelta(minutes=40))
    assert est.expected_at == NOW + timedelta(minutes=37, seconds=30)
    assert est.earliest_at == NOW and est.latest_at == NOW + H + timedelta(minutes=40)
    assert est.position == 7
