"""Queue policies the simulation can run: what each one does, as a set of switches.

The rules themselves are the live queue's (`borderflow.queue.policy`: free places, the
perishable reserve and its release, pre-registered-only days; `borderflow.queue.allocation`:
optimal re-planning). A policy here says which of them apply and how trucks behave around
them. The shipped three are registered below; a planner adds a variant in a scenario file
(`[policies.NAME] base = "borderflow"`, switches to change) or in code with `register`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from borderflow.queue.policy import PriorityClass, QueuePolicy


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    books: bool
    """Trucks book a crossing slot (the electronic queue); False: physical first-come queue."""
    book_when_declaring: bool = False
    """Book `declare_ahead_hours` before leaving (True) or when leaving (False)."""
    reroute: bool = False
    """Book over every crossing the declarant accepts (True) or only the first one."""
    perishable_priority: bool = False
    """Perishables get the reserved share of each slot and may not be booked past their
    shelf life (False: one queue for everybody, no reserve)."""
    no_slot_no_dispatch: bool = False
    """A perishable truck with no slot within its shelf life is not dispatched."""
    dispatch_advice: bool = False
    """Trucks leave so as to reach the staging point just before their slot (False: they
    leave when loaded and wait near the border)."""
    optimal_replan: bool = False
    """When a capacity change is announced, re-plan every booking with the optimal allocator
    (False: re-book them in their old order at the same crossing)."""

    def queue_rules(self, rules: QueuePolicy) -> QueuePolicy:
        return rules if self.perishable_priority else rules.model_copy(
            update={"perishable_share": 0.0})

    def priority(self, perishable: bool) -> PriorityClass:
        return PriorityClass.perishable if perishable and self.perishable_priority \
            else PriorityClass.regular


POLICIES: dict[str, Policy] = {}


def register(policy: Policy) -> Policy:
    POLICIES[policy.name] = policy
    return policy


FIFO = register(Policy(
    "fifo", "Today: trucks leave when loaded and queue first-come at the physical gate.",
    books=False))
BOOKED = register(Policy(
    "booked", "GoSwift-style: every truck books a slot at its declared crossing when it "
    "leaves, and waits in a waiting area for its place in the electronic queue.",
    books=True))
BORDERFLOW = register(Policy(
    "borderflow", "borderflow: booked slots with perishable priority, re-routing over the "
    "acceptable crossings, dispatch advice (no dispatch without a slot within the shelf "
    "life), hold at a staging point and call-forward, optimal re-planning.",
    books=True, book_when_declaring=True, reroute=True, perishable_priority=True,
    no_slot_no_dispatch=True, dispatch_advice=True, optimal_replan=True))


class PolicyVariant(BaseModel):
    """A scenario's own policy: a shipped one with some switches changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str
    description: str = ""
    book_when_declaring: bool | None = None
    reroute: bool | None = None
    perishable_priority: bool | None = None
    no_slot_no_dispatch: bool | None = None
    dispatch_advice: bool | None = None
    optimal_replan: bool | None = None

    def build(self, name: str) -> Policy:
        if self.base not in POLICIES:
            raise ValueError(f"unknown base policy {self.base!r} (known: {', '.join(POLICIES)})")
        changes: dict[str, Any] = {k: v for k, v in self.model_dump().items()
                                   if k not in ("base", "description") and v is not None}
        base = POLICIES[self.base]
        if changes and not base.books:
            raise ValueError(f"{self.base} has no booking: its switches do not apply")
        return replace(base, name=name, description=self.description or
                       f"{base.description} (variant: {changes})", **changes)
