"""Agencies' results come from their systems, not re-typed.

A customs system (Vietnam's VNACCS, China's single window) or a quarantine system reports a
declaration's status: channel green/yellow/red, accepted, inspecting, released, held, rejected.
Two ways in, one rule (`apply_result`):

- push: the agency's system calls `POST /api/v1/agency-results` with an `agency_system` API key;
- pull: an `AgencyGateway` adapter is polled (`poll`); `FakeAgencyGateway` is the test double.

A repeated message (same agency and reference) is recognised and ignored, so retries are safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow.audit import service as audit
from borderflow.clock import Clock
from borderflow.declarations import repository
from borderflow.declarations.models import AgencyResult, Shipment
from borderflow.declarations.schemas import AgencyName, AgencyResultIn
from borderflow.errors import NotFound


class AgencyGateway(Protocol):
    """An agency's system we pull results from."""

    name: str

    def fetch_results(self, since: datetime | None) -> Sequence[AgencyResultIn]:
        """Results reported after `since` (all if None), oldest first."""
        ...


class FakeAgencyGateway:
    """In-memory agency system for tests and the demo."""

    def __init__(self, name: str = "fake-customs") -> None:
        self.name = name
        self._results: list[AgencyResultIn] = []

    def publish(self, result: AgencyResultIn) -> None:
        self._results.append(result)

    def fetch_results(self, since: datetime | None) -> Sequence[AgencyResultIn]:
        return [r for r in self._results if since is None or r.reported_at > since]


def _find_shipment(session: Session, result: AgencyResultIn) -> Shipment:
    shipment = None
    if result.shipment_id is not None:
        shipment = repository.get_shipment_any(session, result.shipment_id)
    elif result.customs_declaration_number is not None:
        shipment = repository.by_customs_number(session, result.customs_declaration_number)
    if shipment is None:
        raise NotFound("no shipment matches this result", field="shipment_id")
    return shipment


def apply_result(
    session: Session, *, result: AgencyResultIn, source: str, clock: Clock
) -> tuple[AgencyResult, bool]:
    """Record an agency's result and update the shipment's status fields. Returns the row and
    whether it is new (False: the same agency reference was received before)."""
    seen = repository.agency_result_by_reference(session, result.agency.value, result.reference)
    if seen is not None:
        return seen, False
    shipment = _find_shipment(session, result)
    row = AgencyResult(
        shipment_id=shipment.id, agency=result.agency.value,
        channel=result.channel.value if result.channel else None, status=result.status.value,
        reference=result.reference, reported_at=result.reported_at, received_at=clock.now(),
        source=source, note=result.note,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        seen = repository.agency_result_by_reference(session, result.agency.value,
                                                     result.reference)
        if seen is None:
            raise
        return seen, False
    if result.agency is AgencyName.customs:
        if result.channel is not None:
            shipment.customs_channel = result.channel.value
        shipment.customs_status = result.status.value
    elif result.agency is AgencyName.quarantine:
        shipment.quarantine_status = result.status.value
    audit.record(session, clock=clock, actor=source, action=f"agency.{result.agency.value}",
                 entity="shipment", entity_id=shipment.id,
                 changes={"status": result.status.value,
                          "channel": result.channel.value if result.channel else None,
                          "reference": result.reference})
    return row, True


def poll(session: Session, *, gateway: AgencyGateway, since: datetime | None, clock: Clock
         ) -> int:
    """Pull new results from `gateway`; returns how many were new."""
    new = 0
    for result in gateway.fetch_results(since):
        try:
            _, fresh = apply_result(session, result=result, source=f"gateway:{gateway.name}",
                                    clock=clock)
        except NotFound:
            continue  # a declaration not on this platform: not ours to track
        new += fresh
    return new
