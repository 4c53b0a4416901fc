"""The slot ledger in memory: the simulation's driver for the live queue's policy functions.

The live service keeps slots in the database and asks `borderflow.queue.policy` which slot a
vehicle may take; this ledger keeps the same `SlotState` facts in lists and asks the same
functions (`free_places`, `may_book_restricted`, `reserved_for_perishables`), so a booking in
the simulation follows the rules a booking on the platform follows: earliest slot at or after
`ready` over the acceptable crossings, the declarant's preferred crossing first at equal times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from borderflow.queue.policy import (
    PriorityClass,
    QueuePolicy,
    SlotState,
    free_places,
    may_book_restricted,
    reserved_for_perishables,
)


@dataclass
class SlotBook:
    """One crossing-and-direction's slots."""

    key: str  # "crossing/direction"
    crossing_id: str
    capacity: list[int]
    prereg: list[bool]
    reserved: list[int]
    booked: list[int]
    booked_perishable: list[int]
    nxt: list[int] = field(default_factory=list)
    """Union-find over full slots: `_find(nxt, j)` is the first slot at or after `j` that is not
    full (booked < capacity), or the number of slots."""
    nxt_regular: list[int] = field(default_factory=list)
    """Union-find over slots with no place for a regular vehicle while the perishable reserve
    still holds (full, or every unreserved place taken): used beyond the release horizon."""


class SlotLedger:
    def __init__(self, *, t0: datetime, slot_hours: float, policy: QueuePolicy) -> None:
        self.t0 = t0
        self.L = slot_hours
        self.policy = policy
        self.books: dict[str, SlotBook] = {}
        self._starts: list[datetime] = []

    def add(self, key: str, crossing_id: str, capacity: Sequence[int],
            prereg: Sequence[bool], *, reserve: bool = True) -> None:
        """A crossing-and-direction's slots. `reserve=False`: no perishable vehicle can use
        these slots (none lists them), so nothing is held back for perishables."""
        cap = [int(c) for c in capacity]
        book = SlotBook(
            key, crossing_id, cap, [bool(p) for p in prereg],
            [reserved_for_perishables(c, self.policy) if reserve else 0 for c in cap],
            [0] * len(cap), [0] * len(cap))
        _rebuild(book)
        self.books[key] = book
        while len(self._starts) < len(cap):
            self._starts.append(self.t0 + timedelta(hours=len(self._starts) * self.L))

    def state(self, book: SlotBook, j: int) -> SlotState:
        return SlotState(book.crossing_id, self._starts[j], book.capacity[j], book.reserved[j],
                         book.booked[j], book.booked_perishable[j], book.prereg[j])

    def when(self, t: float) -> datetime:
        return self.t0 + timedelta(hours=t)

    def first_free(self, key: str, *, ready: float, deadline: float | None,
                   priority: PriorityClass, now: float) -> int | None:
        """Earliest slot index of one book this vehicle may take now, or None.

        Every candidate is decided by the live queue's `free_places` and
        `may_book_restricted`; the two union-finds only skip slots `free_places` would refuse
        (full ones; for regular vehicles beyond the release, ones whose free places are all
        reserved)."""
        book = self.books[key]
        n = len(book.capacity)
        j = min(max(_ceil_index(ready, self.L), 0), n)
        last = n - 1 if deadline is None else min(n - 1, int(deadline // self.L))
        now_dt = self.when(now)
        policy = self.policy
        # From this slot on the perishable reserve still holds against `priority`.
        reserve_from = n
        if priority is PriorityClass.regular and policy.perishable_share > 0:
            release = policy.perishable_release.total_seconds() / 3600
            reserve_from = int((now + release) // self.L) + 1
        nxt, nxt_regular = book.nxt, book.nxt_regular
        j = _find(nxt_regular if j >= reserve_from else nxt, j)
        while j <= last:
            s = self.state(book, j)
            if free_places(s, priority, now_dt, policy) > 0 and may_book_restricted(
                    s, now_dt, policy):
                return j
            j += 1
            if j <= n:
                j = _find(nxt_regular if j >= reserve_from else nxt, j)
        return None

    def book(self, keys: Sequence[str], *, ready: float, deadline: float | None,
             priority: PriorityClass, now: float) -> tuple[str, int, int] | None:
        """Take the earliest place over `keys` (preference order breaks ties): returns
        (key, slot index, rank in the slot) or None when nothing fits."""
        best: tuple[int, int, str] | None = None
        for rank, key in enumerate(keys):
            j = self.first_free(key, ready=ready, deadline=deadline, priority=priority, now=now)
            if j is not None and (best is None or j < best[0]):
                best = (j, rank, key)
        if best is None:
            return None
        j, _, key = best
        return key, j, self.take(key, j, priority)

    def take(self, key: str, j: int, priority: PriorityClass) -> int:
        book = self.books[key]
        rank = book.booked[j]
        book.booked[j] += 1
        if priority is not PriorityClass.regular:
            book.booked_perishable[j] += 1
        if book.booked[j] >= book.capacity[j]:
            book.nxt[j] = j + 1
        if _regular_closed(book, j):
            book.nxt_regular[j] = j + 1
        return rank

    def release_from(self, key: str, j0: int) -> None:
        """Forget every booking from slot `j0` on (before a re-plan)."""
        book = self.books[key]
        for j in range(j0, len(book.booked)):
            book.booked[j] = 0
            book.booked_perishable[j] = 0
        _rebuild(book)

    def set_capacity(self, key: str, capacity: Sequence[int], from_index: int) -> None:
        book = self.books[key]
        keeps_reserve = any(book.reserved)
        for j in range(from_index, len(book.capacity)):
            book.capacity[j] = int(capacity[j])
            book.reserved[j] = reserved_for_perishables(book.capacity[j], self.policy) \
                if keeps_reserve else 0
        _rebuild(book)


def _find(nxt: list[int], j: int) -> int:
    while nxt[j] != j:
        nxt[j] = nxt[nxt[j]]  # path halving
        j = nxt[j]
    return j


def _regular_closed(book: SlotBook, j: int) -> bool:
    """No place for a regular vehicle while the reserve holds: what `free_places` computes
    for a regular vehicle before the release (capacity − booked − unused reserve ≤ 0)."""
    unused_reserve = max(book.reserved[j] - book.booked_perishable[j], 0)
    return book.capacity[j] - book.booked[j] - unused_reserve <= 0


def _rebuild(book: SlotBook) -> None:
    n = len(book.capacity)
    book.nxt = [j if book.booked[j] < book.capacity[j] else j + 1 for j in range(n)] + [n]
    book.nxt_regular = [j + 1 if _regular_closed(book, j) else j for j in range(n)] + [n]


def _ceil_index(t: float, slot_hours: float) -> int:
    j = int(t // slot_hours)
    return j if j * slot_hours >= t - 1e-9 else j + 1
