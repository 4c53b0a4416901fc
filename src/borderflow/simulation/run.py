"""One policy over one fleet: the event-driven flow of vehicles through the border model.

Today's first-come queue (or, without bookings, its direct pass in `direct.py`), GoSwift-style
booked slots and borderflow's policy (`policies.py`) drive the event kernel (`engine.py`); the
slot ledger (`ledger.py`) books through the live queue's rules.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from borderflow.declarations.cargo import CargoClass
from borderflow.queue.policy import PriorityClass
from borderflow.simulation.engine import (
    NO_SLOT,
    CalendarGate,
    Engine,
    Lanes,
    QueueGate,
    noop,
    skip_unless,
)
from borderflow.simulation.ledger import SlotLedger
from borderflow.simulation.model import REROUTE_HOURS, Fleet, Initial, Model, with_initial
from borderflow.simulation.scenario import Stage

PLANNED, EN_ROUTE, HELD, IN_YARD, CROSSED, NOT_DISPATCHED, NO_SHOW = range(7)


@dataclass
class RunOutcome:
    """Everything one policy run produced (turned into figures by `results`)."""

    policy: str
    fleet: Fleet
    key_of: list[int]  # index into model.keys, -1 if never assigned
    arrived: list[float]
    crossed: list[float]
    state: list[int]
    events: int
    series: dict[str, Any]
    max_outside: dict[str, int]
    max_outside_total: int
    max_held: int
    n_drawn: int | None = None
    """Vehicles drawn from demand; those after them were already known (a live forecast's)."""


class Run:
    """One policy over one fleet."""

    def __init__(self, model: Model, policy: str, fleet: Fleet,
                 rngs: dict[str, np.random.Generator],
                 initial: list[Initial] | None = None) -> None:
        self.m = model
        self.rules = model.scenario.policy_named(policy)
        self.policy = self.rules.name
        self.n_drawn = len(fleet)
        self.initial: list[Initial] = initial or []
        if self.initial:
            fleet = with_initial(fleet, self.initial)
        self.fleet = fleet
        self.engine = Engine()
        n = len(fleet)
        self.n = n
        self.key_index = {k: i for i, k in enumerate(model.keys)}
        self.key_of = [-1] * n
        self.arrived = [math.nan] * n
        self.crossed = [math.nan] * n
        self.state = [PLANNED] * n
        self.due = [math.nan] * n  # when this vehicle's crossing is due (booked policies)
        self.slot = [-1] * n
        self.rank = [0] * n
        self.depart_at = [math.nan] * n
        self.at_gate = [False] * n
        self.ready = fleet.ready.tolist()
        self.stream = fleet.stream.tolist()
        self.travel = fleet.travel.tolist()
        self.lateness = fleet.lateness.tolist()
        self.no_show = fleet.no_show.tolist()
        self.specs = model.streams
        self.crossing_of_key = [model.crossing_ids.index(k.split("/")[0]) for k in model.keys]
        self.occupancy = [0] * len(model.crossing_ids)
        self.yard_cap = [model.yard_capacity[c] for c in model.crossing_ids]
        self.max_outside = [0] * len(model.crossing_ids)
        self.total_yard_cap = sum(self.yard_cap) + model.overflow_capacity
        self.total_occupancy = 0
        self.max_outside_total = 0
        self.held = 0
        self.max_held = 0
        self.series: dict[str, Any] = {"hour": [], "yard": defaultdict(list),
                                       "outside": defaultdict(list), "held": [],
                                       "on_road": []}
        self._build_stations(rngs)
        self.ledger: SlotLedger | None = None
        if self.rules.books:
            rules = self.rules.queue_rules(model.policy)
            self.ledger = SlotLedger(t0=model.t0, slot_hours=model.L, policy=rules)
            perishable_keys = {k for sp in model.streams if sp.shelf_life is not None
                               for k in sp.keys}
            for k, t in model.tables.items():
                self.ledger.add(k, k.split("/")[0], t.capacity.tolist(), t.prereg.tolist(),
                                reserve=k in perishable_keys)

    # ----------------------------------------------------------------------------- stations
    def _build_stations(self, rngs: dict[str, np.random.Generator]) -> None:
        m, engine = self.m, self.engine
        self.entry: list[Any] = []  # per key: first station's arrive
        self.gates: list[Any] = []
        # per key: the stages in order as (lanes, service times, cargo classes or None), and
        # the gate as (lanes, service times) for a queueing gate or None for the calendar
        self.plans: list[tuple[list[tuple[int, list[float], set[CargoClass] | None]],
                               tuple[int, list[float]] | None]] = []
        for ki, key in enumerate(m.keys):
            crossing_id = key.split("/")[0]
            setup = m.scenario.crossings.get(crossing_id)
            cargo_of_stream = [s.cargo for s in m.streams]
            if setup is not None and setup.gate.lanes is not None:
                assert setup.gate.service is not None
                gate_stage = Stage(name="gate", lanes=setup.gate.lanes,
                                   service=setup.gate.service)
                times = m.service_times(gate_stage, self.fleet, rngs["service"],
                                        rngs["channels"])
                gate: Any = Lanes(engine, setup.gate.lanes, times, self._cross, noop)
                gate_arrive = gate.arrive
                gate_plan: tuple[int, list[float]] | None = (setup.gate.lanes, times)
            elif not self.rules.books:
                gate_plan = None
                gate = CalendarGate(engine, m.L, m.tables[key].actual.tolist(), self._cross)
                gate_arrive = gate.arrive
            else:
                gate_plan = None
                gate = QueueGate(engine, m.L, m.tables[key].actual.tolist(), self._cross,
                                 self._place, self._present)
                gate_arrive = self._at_booked_gate
            self.gates.append(gate)
            nxt = gate_arrive
            plan: list[tuple[int, list[float], set[CargoClass] | None]] = []
            for stage in reversed(setup.stages if setup else []):
                times = m.service_times(stage, self.fleet, rngs["service"], rngs["channels"])
                plan.insert(0, (stage.lanes, times,
                                set(stage.applies_to) if stage.applies_to is not None else None))
                station = Lanes(engine, stage.lanes, times, None, nxt)
                if stage.applies_to is not None:
                    nxt = skip_unless(set(stage.applies_to), cargo_of_stream, self.stream,
                                       station.arrive, nxt)
                else:
                    nxt = station.arrive
            self.entry.append(nxt)
            self.plans.append((plan, gate_plan))
            del ki

    # ------------------------------------------------------------------------------ flow
    def start(self) -> None:
        engine = self.engine
        for h in range(math.ceil(self.m.hours) + 1):
            engine.at(float(h), self._sample, h)
        fifo = not self.rules.books
        for i, ini in enumerate(self.initial):
            self._start_initial(self.n_drawn + i, ini)
        times: list[float] = []
        who: list[int] = []
        if fifo:
            for v in range(self.n_drawn):
                self.key_of[v] = self.key_index[self.specs[self.stream[v]].keys[0]]
                depart = self.ready[v] - self.travel[v]
                self.depart_at[v] = depart
                if self.no_show[v]:
                    self.state[v] = NO_SHOW
                    continue
                self.state[v] = EN_ROUTE
                times.append(max(depart + self.travel[v] + self.lateness[v], depart))
                who.append(v)
            callback = self._arrive
        else:
            ahead = self.m.scenario.declare_ahead_hours \
                if self.rules.book_when_declaring else 0.0
            for v in range(self.n_drawn):
                decide = self.ready[v] - self.travel[v]
                times.append(decide - ahead if ahead else decide)
                who.append(v)
            callback = self._book
        order = sorted(range(len(times)), key=times.__getitem__)  # stable: ties keep v order
        engine.feed([times[i] for i in order], callback, [who[i] for i in order])
        if self.ledger is not None:  # the physical first-come queue has nothing to re-plan
            for t_a, _ in self.announcements():
                engine.at(t_a, self._replan, 0)

    def _start_initial(self, v: int, ini: Initial) -> None:
        """A vehicle the live platform already knows: in a yard, on the road, or booked and
        not yet left; its booking (if any) is already in the ledger."""
        spec = self.specs[ini.stream]
        key = ini.slot_key or spec.keys[0]
        self.key_of[v] = self.key_index[key]
        if ini.slot_index is not None and self.ledger is not None and key in self.ledger.books:
            self._assign(v, (key, ini.slot_index,
                             self.ledger.take(key, ini.slot_index, spec.priority)))
        if ini.state == "in_yard":
            self.state[v] = EN_ROUTE
            self.engine.at(0.0, self._arrive, v)
        elif ini.state == "en_route":
            self.state[v] = EN_ROUTE
            self.depart_at[v] = math.nan
            self.engine.at(max(ini.eta or 0.0, 0.0), self._arrive, v)
        elif self.slot[v] >= 0 and self.rules.dispatch_advice:
            self._plan_departure(v, max(self._advised_departure(v), 0.0))
        else:
            self._plan_departure(v, max(self.ready[v] - self.travel[v], 0.0))

    def announcements(self) -> list[tuple[float, dict[str, npt.NDArray[np.int64]]]]:
        by_time: dict[float, dict[str, npt.NDArray[np.int64]]] = defaultdict(dict)
        for k, t in self.m.tables.items():
            for at, cap in t.after:
                by_time[at][k] = cap
        return sorted(by_time.items())

    def _go(self, v: int, depart: float) -> None:
        """The truck leaves its origin at `depart`; it reaches the border area (or doesn't)."""
        self.depart_at[v] = depart
        if self.no_show[v]:
            self.state[v] = NO_SHOW
            return
        self.state[v] = EN_ROUTE
        arrival = depart + self.travel[v] + self.lateness[v]
        self.engine.at(max(arrival, depart), self._arrive, v)

    def _arrive(self, v: int) -> None:
        now = self.engine.now
        self.arrived[v] = now
        if v >= self.n_drawn:  # known to the platform: it arrived when the platform saw it
            known = self.initial[v - self.n_drawn].arrived
            if known is not None:
                self.arrived[v] = min(known, now)
        in_yard_already = v >= self.n_drawn and self.initial[v - self.n_drawn].state == "in_yard"
        if self.rules.books and 0 <= self.slot[v] < NO_SLOT and not in_yard_already:
            call_at = self.due[v] - self.m.scenario.call_forward_lead_hours
            if call_at > now:  # wait at the staging point / waiting area until called
                self.state[v] = HELD
                self.held += 1
                if self.held > self.max_held:
                    self.max_held = self.held
                self._note_outside()
                self.engine.at(call_at, self._call_forward, v)
                return
        self._enter_yard(v)

    def _call_forward(self, v: int) -> None:
        if self.state[v] != HELD:
            return
        call_at = self.due[v] - self.m.scenario.call_forward_lead_hours
        if call_at > self.engine.now + 1e-9:  # re-planned to a later slot meanwhile
            self.engine.at(call_at, self._call_forward, v)
            return
        self.held -= 1
        self._enter_yard(v)

    def _enter_yard(self, v: int) -> None:
        self.state[v] = IN_YARD
        c = self.crossing_of_key[self.key_of[v]]
        occ = self.occupancy[c] + 1
        self.occupancy[c] = occ
        if occ - self.yard_cap[c] > self.max_outside[c]:
            self.max_outside[c] = occ - self.yard_cap[c]
        self.total_occupancy += 1
        self._note_outside()
        self.entry[self.key_of[v]](v)

    def _note_outside(self) -> None:
        """Vehicles on the road: beyond the yards and overflow lots, plus those held beyond
        the staging points' room."""
        out = max(self.total_occupancy - self.total_yard_cap, 0) + max(
            self.held - self.m.staging_capacity, 0)
        if out > self.max_outside_total:
            self.max_outside_total = out

    def _cross(self, v: int) -> None:
        if self.state[v] != IN_YARD:
            return
        self.crossed[v] = self.engine.now
        self._leave_yard(v)
        self.state[v] = CROSSED

    def _leave_yard(self, v: int) -> None:
        c = self.crossing_of_key[self.key_of[v]]
        self.occupancy[c] -= 1
        self.total_occupancy -= 1

    # -------------------------------------------------------------------- booked policies
    def _book(self, v: int) -> None:
        """The declarant books (its declared crossing, or with re-routing any acceptable one;
        with perishable priority, perishables first and never past the shelf life) and is
        told when to leave."""
        assert self.ledger is not None
        now = self.engine.now
        spec = self.specs[self.stream[v]]
        ready = self.ready[v]
        rules = self.rules
        keys = spec.keys if rules.reroute else spec.keys[:1]
        perishable = spec.shelf_life is not None
        got = self.ledger.book(keys, ready=ready, deadline=self.deadline_of(v),
                               priority=rules.priority(perishable), now=now)
        if got is None:
            if rules.no_slot_no_dispatch and perishable:
                self.state[v] = NOT_DISPATCHED
                return
            self.key_of[v] = self.key_index[spec.keys[0]]
            self._go(v, ready - self.travel[v])  # comes anyway, without a slot
            return
        self._assign(v, got)
        depart = self._advised_departure(v) if rules.dispatch_advice \
            else ready - self.travel[v]  # leaves when loaded
        self._plan_departure(v, max(depart, now))

    def _advised_departure(self, v: int) -> float:
        """Dispatch advice: leave so as to reach the staging point `call_forward_lead` before
        the slot with a margin for the road's spread (default: two standard deviations of
        travel and lateness), never before the goods are ready."""
        sc = self.m.scenario
        spec = self.specs[self.stream[v]]
        margin = sc.dispatch_margin_hours if sc.dispatch_margin_hours is not None else \
            2.0 * math.hypot(spec.travel_sd_hours, sc.lateness_sd_hours)
        return max(self.ready[v] - self.travel[v],
                   self.due[v] - sc.call_forward_lead_hours - margin - self.travel[v])

    def _plan_departure(self, v: int, at: float) -> None:
        """(Re)schedule the truck's departure; an earlier plan's event is then ignored."""
        self.depart_at[v] = at
        self.engine.at(at, self._depart, v)

    def _depart(self, v: int) -> None:
        if self.state[v] == PLANNED and abs(self.engine.now - self.depart_at[v]) < 1e-9:
            self._go(v, self.engine.now)

    def _assign(self, v: int, got: tuple[str, int, int]) -> None:
        key, j, rank = got
        self.key_of[v] = self.key_index[key]
        self.slot[v] = j
        self.rank[v] = rank
        cap = self.ledger.books[key].capacity[j] if self.ledger else 1
        self.due[v] = j * self.m.L + (rank + 0.5) * self.m.L / max(cap, 1)

    def _at_booked_gate(self, v: int) -> None:
        """Checks done: join the gate's line at the vehicle's place in the electronic queue.
        Late within the grace window keeps the place; later, it is lost and the next free
        slot taken (the back of the line) — under borderflow on any acceptable crossing, the
        truck driving over if it is another one."""
        now = self.engine.now
        j = self.slot[v]
        grace = self.m.policy.grace.total_seconds() / 3600
        if j < 0 or now > (j + 1) * self.m.L + grace:
            assert self.ledger is not None
            key = self.m.keys[self.key_of[v]]
            keys = [key]
            if self.rules.reroute:
                keys += [k for k in self.specs[self.stream[v]].keys if k != key]
            got = self.ledger.book(keys, ready=now, deadline=None,
                                   priority=PriorityClass.regular, now=now)
            if got is None:
                self.slot[v], self.rank[v] = NO_SLOT, v  # no slot left: last in line
            elif got[0] != key:  # re-routed: leave this yard, drive to the other crossing
                self._leave_yard(v)
                self._assign(v, got)
                self.state[v] = EN_ROUTE
                self.engine.at(now + REROUTE_HOURS, self._enter_yard, v)
                return
            else:
                self._assign(v, got)
        self.at_gate[v] = True
        self.gates[self.key_of[v]].arrive(v)

    def _place(self, v: int) -> tuple[int, int]:
        return self.slot[v], self.rank[v]

    def _present(self, v: int) -> bool:
        return self.state[v] == IN_YARD

    def _replan(self, _: int) -> None:
        from borderflow.simulation.replan import replan

        replan(self)
    def deadline_of(self, v: int) -> float | None:
        """The latest slot start a booking may take: within the shelf life, when the policy
        gives perishables priority."""
        spec = self.specs[self.stream[v]]
        if self.rules.perishable_priority and spec.shelf_life is not None:
            return self.ready[v] + spec.shelf_life
        return None

    def unplace(self, v: int) -> None:
        """A re-plan found no slot: a perishable truck not yet on the road is not sent (when
        the policy says so); any other keeps going and queues last in line."""
        spec = self.specs[self.stream[v]]
        if (self.state[v] == PLANNED and self.rules.no_slot_no_dispatch
                and spec.shelf_life is not None):
            self.state[v] = NOT_DISPATCHED
            return
        self.slot[v], self.rank[v] = NO_SLOT, v
        if self.at_gate[v] and self.state[v] == IN_YARD:
            self.gates[self.key_of[v]].arrive(v)

    def reschedule(self, v: int, got: tuple[str, int, int]) -> None:
        now = self.engine.now
        self._assign(v, got)
        if self.at_gate[v] and self.state[v] == IN_YARD:
            self.gates[self.key_of[v]].arrive(v)
        elif self.state[v] == HELD:  # moved earlier: call it forward in time for the new slot
            self.engine.at(max(self.due[v] - self.m.scenario.call_forward_lead_hours, now),
                           self._call_forward, v)
        if self.state[v] == PLANNED and self.rules.dispatch_advice:
            self._plan_departure(v, max(self._advised_departure(v), now))

    # ---------------------------------------------------------------------------- sampling
    def _sample(self, h: int) -> None:
        s = self.series
        s["hour"].append(h)
        for c, crossing_id in enumerate(self.m.crossing_ids):
            s["yard"][crossing_id].append(self.occupancy[c])
            s["outside"][crossing_id].append(max(self.occupancy[c] - self.yard_cap[c], 0))
        s["held"].append(self.held)
        s["on_road"].append(max(self.total_occupancy - self.total_yard_cap, 0)
                            + max(self.held - self.m.staging_capacity, 0))

    def run(self, *, kernel: bool = False) -> RunOutcome:
        """Run to the scenario's end. The first-come policy with no initial vehicles takes the
        direct path (the same results, see `direct.py`) unless `kernel` is set."""
        if not self.rules.books and not self.initial and not kernel:
            from borderflow.simulation.direct import run_first_come

            return run_first_come(self)
        self.start()
        self.engine.run(until=self.m.hours)
        return RunOutcome(
            self.policy, self.fleet, self.key_of, self.arrived, self.crossed, self.state,
            self.engine.events,
            {"hour": self.series["hour"], "yard": dict(self.series["yard"]),
             "outside": dict(self.series["outside"]), "held": self.series["held"],
             "on_road": self.series["on_road"]},
            {c: max(self.max_outside[i], 0) for i, c in enumerate(self.m.crossing_ids)},
            max(self.max_outside_total, 0), self.max_held, n_drawn=self.n_drawn)
