"""Queue policies: pure functions of a snapshot, shared by the live queue and the simulation.

The live service loads slots and bookings from the database, asks these functions, and applies
the answers with database guarantees; the simulation keeps the same snapshot in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from math import floor

from pydantic import BaseModel, ConfigDict, Field


class PriorityClass(StrEnum):
    emergency = "emergency"
    """First priority (e.g. an ambulance convoy, relief goods): set only by an audited override."""
    perishable = "perishable"
    """Goods whose cargo class has a shelf life (fresh fruit, chilled, live animals)."""
    regular = "regular"


class BookingStatus(StrEnum):
    active = "active"
    unplaced = "unplaced"
    """Re-planning found no slot within the horizon: the owner is told not to dispatch."""
    cancelled = "cancelled"
    lost = "lost"
    """Arrived after the grace window: the slot is lost (a new one is offered)."""
    no_show = "no_show"
    crossed = "crossed"


class QueuePolicy(BaseModel):
    """The queue's rules, in one place (operators tune them; the simulation varies them)."""

    model_config = ConfigDict(frozen=True)

    slot_minutes: int = Field(default=60, ge=5, le=24 * 60)
    perishable_share: float = Field(default=0.3, ge=0, le=1)
    """Share of each slot reserved for perishable goods…"""
    perishable_release: timedelta = timedelta(hours=6)
    """…until this long before the slot starts, when unused reserve is released to everyone."""
    grace: timedelta = timedelta(minutes=60)
    """Late within this after the slot's start keeps the slot (at lower priority)."""
    horizon: timedelta = timedelta(days=7)
    """How far ahead bookings and "earliest available" look."""
    prereg_cutoff: timedelta = timedelta(hours=48)
    """On pre-registered-only days a booking must be made this long before the slot."""
    max_open_bookings_per_org: int = Field(default=500, ge=1)
    max_rebookings: int = Field(default=2, ge=0)
    max_cancellations_per_day: int = Field(default=50, ge=0)
    windows_per_crossing: int = Field(default=3, ge=1, le=24)
    weights: dict[PriorityClass, float] = Field(default_factory=lambda: {
        PriorityClass.emergency: 10.0, PriorityClass.perishable: 3.0,
        PriorityClass.regular: 1.0})
    """Cost per hour of waiting in re-planning (perishables first)."""
    unassigned_penalty_hours: float = Field(default=48, ge=0)
    echerha_pattern: tuple[int, int] = (3, 5)
    """Call-forward pattern: this many priority vehicles, then this many regular (Ukraine's
    eCherha uses 1+1+1 priority to 5 regular)."""


def reserved_for_perishables(capacity: int, policy: QueuePolicy) -> int:
    return min(capacity, floor(capacity * policy.perishable_share + 1e-9))


@dataclass(frozen=True)
class SlotState:
    """What a policy needs to know about one slot."""

    crossing_id: str
    start: datetime
    capacity: int
    perishable_reserved: int
    booked: int
    booked_perishable: int
    preregistered_only: bool


def free_places(slot: SlotState, priority: PriorityClass, now: datetime,
                policy: QueuePolicy) -> int:
    """How many more vehicles of `priority` this slot takes now."""
    free = slot.capacity - slot.booked
    if priority is PriorityClass.regular and slot.start > now + policy.perishable_release:
        unused_reserve = max(slot.perishable_reserved - slot.booked_perishable, 0)
        free -= unused_reserve
    return max(free, 0)


def may_book_restricted(slot: SlotState, now: datetime, policy: QueuePolicy) -> bool:
    """On pre-registered-only days only bookings made before the cut-off are accepted."""
    return not slot.preregistered_only or now <= slot.start - policy.prereg_cutoff


def candidate_slots(
    slots: Iterable[SlotState], *, priority: PriorityClass, now: datetime, ready: datetime,
    deadline: datetime | None, policy: QueuePolicy, preference: Sequence[str] = (),
) -> list[SlotState]:
    """Slots this vehicle could take, earliest first; at the same time, the crossing the
    declarant listed first."""
    rank = {c: i for i, c in enumerate(preference)}
    out = [
        s for s in slots
        if s.start >= ready and (deadline is None or s.start <= deadline)
        and free_places(s, priority, now, policy) > 0 and may_book_restricted(s, now, policy)
    ]
    return sorted(out, key=lambda s: (s.start, rank.get(s.crossing_id, len(rank)),
                                      s.crossing_id))


def nearest_windows(
    slots: Iterable[SlotState], *, priority: PriorityClass, now: datetime, ready: datetime,
    policy: QueuePolicy, preference: Sequence[str] = (),
) -> dict[str, list[SlotState]]:
    """Hamburg-style: the next free windows on each crossing."""
    out: dict[str, list[SlotState]] = {}
    for s in candidate_slots(slots, priority=priority, now=now, ready=ready, deadline=None,
                             policy=policy, preference=preference):
        windows = out.setdefault(s.crossing_id, [])
        if len(windows) < policy.windows_per_crossing:
            windows.append(s)
    return out


@dataclass(frozen=True)
class Waiting:
    """A vehicle waiting to be called forward from a yard."""

    id: str
    priority: PriorityClass
    arrived: datetime


def echerha_order(waiting: Sequence[Waiting], pattern: tuple[int, int] = (3, 5)) -> list[str]:
    """Call-forward order: `pattern[0]` priority vehicles, then `pattern[1]` regular ones, and
    so on; each stream first-come first-served; emergencies always first. Nobody can reorder
    within a stream."""
    emergency = sorted((w for w in waiting if w.priority is PriorityClass.emergency),
                       key=lambda w: (w.arrived, w.id))
    prio = sorted((w for w in waiting if w.priority is PriorityClass.perishable),
                  key=lambda w: (w.arrived, w.id))
    regular = sorted((w for w in waiting if w.priority is PriorityClass.regular),
                     key=lambda w: (w.arrived, w.id))
    order = [w.id for w in emergency]
    i = j = 0
    n_prio, n_reg = pattern
    if n_prio <= 0 or n_reg <= 0:  # a stream without a quota goes after the other one
        first, second = (prio, regular) if n_prio > 0 else (regular, prio)
        return order + [w.id for w in first] + [w.id for w in second]
    while i < len(prio) or j < len(regular):
        take = prio[i:i + n_prio]
        order += [w.id for w in take]
        i += len(take)
        take = regular[j:j + n_reg]
        order += [w.id for w in take]
        j += len(take)
    return order


@dataclass(frozen=True)
class Estimate:
    position: int
    expected_at: datetime
    earliest_at: datetime
    latest_at: datetime
    confidence: float
    basis: str


def estimate_crossing(
    *, slot_start: datetime, slot_length: timedelta, rank_in_slot: int, slot_capacity: int,
    position: int, lateness_p90: timedelta,
) -> Estimate:
    """When a booked vehicle should cross: its place in its slot spread evenly over the slot,
    widened by the late tail observed at this crossing (90th percentile of past lateness)."""
    capacity = max(slot_capacity, 1)
    share = slot_length / capacity
    expected = slot_start + share * (rank_in_slot + 0.5)
    earliest = slot_start
    latest = slot_start + slot_length + lateness_p90
    return Estimate(position=position, expected_at=expected, earliest_at=earliest,
                    latest_at=latest, confidence=0.9,
                    basis="booked slot, even spread in the slot, p90 of observed lateness")
