"""A small, fast discrete-event kernel and the stations of the border model.

The kernel is a binary heap of `(time, sequence, callback, argument)`: the sequence number keeps
events at the same time in the order they were scheduled, so a seed gives the same run. Time is
in hours since the scenario's start. Stations keep their per-vehicle state in flat lists indexed
by vehicle number (no object per vehicle, no generator per process: that is where the speed
over a process-based engine such as SimPy comes from).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from typing import Any

Callback = Callable[[int], None]


class Engine:
    __slots__ = ("_feed", "_feed_at", "_feed_seq", "_heap", "_seq", "events", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback, int]] = []
        self._seq = 0
        self.now = 0.0
        self.events = 0
        self._feed: tuple[list[float], list[int], Callback] | None = None
        self._feed_at = 0
        self._feed_seq = 0

    def feed(self, times: Sequence[float], callback: Callback, args: Sequence[int]) -> None:
        """Schedule `callback(args[i])` at `times[i]` for many events known in advance, sorted
        by time (equal times in the order given): they are kept out of the heap, which stays
        small, and run exactly as if `at` had been called for each in that order now."""
        assert self._feed is None, "one feed per engine"
        self._feed = (list(times), list(args), callback)
        self._feed_seq = self._seq + 1
        self._seq += len(times)

    def at(self, time: float, callback: Callback, arg: int) -> None:
        """Run `callback(arg)` at `time` (not before now)."""
        self._seq += 1
        heappush(self._heap, (time, self._seq, callback, arg))

    def run(self, until: float = math.inf) -> None:
        """Process events up to and including `until`; later ones stay queued."""
        heap = self._heap
        n = 0
        if self._feed is not None:
            times, args, fed = self._feed
            i, m, seq0 = self._feed_at, len(times), self._feed_seq
            while i < m:
                t = times[i]
                if heap:
                    top = heap[0]
                    if top[0] < t or (top[0] == t and top[1] < seq0 + i):
                        if top[0] > until:
                            break
                        heappop(heap)
                        self.now = top[0]
                        top[2](top[3])
                        n += 1
                        continue
                if t > until:
                    break
                self.now = t
                i += 1
                self._feed_at = i
                fed(args[i - 1])
                n += 1
        while heap and heap[0][0] <= until:
            t, _, callback, arg = heappop(heap)
            self.now = t
            callback(arg)
            n += 1
        self.events += n
        if until != math.inf:
            self.now = max(self.now, until)

    @property
    def pending(self) -> int:
        return len(self._heap)


class Lanes:
    """`lanes` parallel servers, one first-come queue; service time per vehicle given."""

    def __init__(self, engine: Engine, lanes: int, service_hours: Sequence[float],
                 on_start: Callback | None, on_done: Callback) -> None:
        self.engine = engine
        self.free = lanes
        self.lanes = lanes
        self.service = service_hours
        self.queue: deque[int] = deque()
        self.on_start = on_start
        self.on_done = on_done
        self.served = 0

    def arrive(self, v: int) -> None:
        if self.free:
            self.free -= 1
            self._begin(v)
        else:
            self.queue.append(v)

    def _begin(self, v: int) -> None:
        engine = self.engine
        if self.on_start is not None:
            self.on_start(v)
        engine.at(engine.now + self.service[v], self._finish, v)

    def _finish(self, v: int) -> None:
        self.served += 1
        if self.queue:
            self._begin(self.queue.popleft())
        else:
            self.free += 1
        self.on_done(v)


class CalendarGate:
    """A crossing whose capacity per slot comes from the calendar (the capacity function).

    Slot `j` lets through at most `capacity[j]` vehicles, spread evenly over the slot: token `k`
    of the slot is at `j·L + (k + ½)·L / capacity[j]`. A token nobody is waiting for is lost (the
    gate does not bank unused capacity). Vehicles go through first-come, first-served.
    """

    def __init__(self, engine: Engine, slot_hours: float, capacity: Sequence[int],
                 on_cross: Callback) -> None:
        self.engine = engine
        self.L = slot_hours
        self.capacity = list(capacity)
        self.used = [0] * len(self.capacity)
        n = len(self.capacity)
        nxt = [n] * (n + 1)  # next slot index >= j with capacity
        for j in range(n - 1, -1, -1):
            nxt[j] = j if self.capacity[j] > 0 else nxt[j + 1]
        self.next_open = nxt
        self.queue: deque[int] = deque()
        self.on_cross = on_cross
        self.ticking = False

    def arrive(self, v: int) -> None:
        self.queue.append(v)
        if not self.ticking:
            self._schedule(self.engine.now)

    def _schedule(self, t: float) -> None:
        L, cap, used, n = self.L, self.capacity, self.used, len(self.capacity)
        j = self.next_open[min(max(int(t // L), 0), n)]
        while j < n:
            c = cap[j]
            step = L / c
            k = max(used[j], math.ceil((t - j * L) / step - 0.5 - 1e-12))
            if k < c:
                used[j] = k
                self.ticking = True
                self.engine.at(j * L + (k + 0.5) * step, self._tick, j)
                return
            j = self.next_open[j + 1]
        self.ticking = False  # closed until the end of the table: the queue stays

    def _tick(self, j: int) -> None:
        self.ticking = False
        v = self._pop(j)
        if v >= 0:
            self.used[j] += 1
            self.on_cross(v)
        if self._waiting():
            self._schedule(max(self.engine.now, self._not_before()))

    def _pop(self, j: int) -> int:
        return self.queue.popleft()

    def _waiting(self) -> bool:
        return bool(self.queue)

    def _not_before(self) -> float:
        """The earliest time the first vehicle in line may go."""
        return 0.0


NO_SLOT = 10**9
"""The place of a vehicle without a slot: last in line, may go whenever a place is free."""


class QueueGate(CalendarGate):
    """A calendar gate that lets vehicles through in the order of their place in the electronic
    queue (booked slot, then rank in it), not in the order they reached the yard. A place that
    nobody present holds goes to the next vehicle in line who is present (called forward early,
    a late one within its grace, or one without a slot): no capacity is wasted on a late truck,
    and a lost place never turns into a lag that the fully booked ledger cannot absorb.

    `place(v)` gives the vehicle's current place; an entry whose place changed since it queued
    (re-planned) is dropped when it surfaces (the vehicle queued again under its new place).
    """

    def __init__(self, engine: Engine, slot_hours: float, capacity: Sequence[int],
                 on_cross: Callback, place: Callable[[int], tuple[int, int]],
                 present: Callable[[int], bool]) -> None:
        super().__init__(engine, slot_hours, capacity, on_cross)
        self.heap: list[tuple[tuple[int, int], int]] = []
        self.place = place
        self.present = present

    def arrive(self, v: int) -> None:
        heappush(self.heap, (self.place(v), v))
        if not self.ticking:
            self._schedule(self.engine.now)

    def _pop(self, j: int) -> int:
        heap = self.heap
        while heap:
            where, v = heap[0]
            if not (self.present(v) and where == self.place(v)):
                heappop(heap)  # crossed, left or re-planned since it queued
                continue
            heappop(heap)
            return v
        return -1

    def _waiting(self) -> bool:
        heap = self.heap
        while heap and not (self.present(heap[0][1]) and heap[0][0] == self.place(heap[0][1])):
            heappop(heap)
        return bool(heap)


def noop(_: int) -> None:
    """A callback that does nothing (a lanes gate's `on_done`)."""
    return None


def skip_unless(classes: set[Any], cargo_of_stream: list[Any],
                stream: list[int], station: Callback, nxt: Callback) -> Callback:
    """Route vehicle `v` to `station` when its stream's cargo class is in `classes` (e.g.
    quarantine for plant goods), else straight to `nxt`."""

    def route(v: int) -> None:
        if cargo_of_stream[stream[v]] in classes:
            station(v)
        else:
            nxt(v)
    return route
