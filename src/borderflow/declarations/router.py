"""Declarations HTTP API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from starlette.concurrency import run_in_threadpool

from borderflow.accounts.roles import Principal, Role
from borderflow.declarations import agencies, lifecycle, repository, service
from borderflow.declarations.models import Shipment
from borderflow.declarations.schemas import (
    AgencyResultIn,
    AgencyResultRead,
    CancelRequest,
    GoodsLineRead,
    RevisionRead,
    SavedDriverRead,
    SavedVehicleRead,
    ShipmentCreate,
    ShipmentPage,
    ShipmentRead,
    ShipmentStatus,
    ShipmentUpdate,
)
from borderflow.deps import ClockDep, NetworkDep, PrincipalDep, SessionDep, require
from borderflow.errors import InvalidInput

router = APIRouter(tags=["declarations"])
Enterprise = Annotated[Principal, require(Role.enterprise_user)]
AgencySystem = Annotated[Principal, require(Role.agency_system)]


def to_read(s: Shipment) -> ShipmentRead:
    return ShipmentRead.model_validate(
        {**{k: getattr(s, k) for k in ShipmentRead.model_fields if k != "goods"},
         "goods": [GoodsLineRead.model_validate(ln) for ln in s.lines]}
    )


@router.post("/shipments", response_model=ShipmentRead, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Replay of an earlier request (same key)"}})
async def declare(
    shipment_in: ShipmentCreate, principal: Enterprise, session: SessionDep, clock: ClockDep,
    network: NetworkDep, response: Response,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", max_length=200,
        description="Retrying with the same key never creates a second shipment")] = None,
) -> ShipmentRead:
    """Declare a shipment once: goods, vehicle, driver, quarantine, crossings, arrival window."""

    # `async` with the work in one thread-pool call: a sync endpoint costs two hops (the
    # endpoint, then the response check), and this is the busiest write of the API.
    def work() -> tuple[ShipmentRead, bool]:
        shipment, replayed = service.create_shipment(
            session, shipment_in=shipment_in, principal=principal, clock=clock,
            network=network, hs_country=service.hs_country_for(session, principal),
            idempotency_key=idempotency_key,
        )
        return to_read(shipment), replayed

    read, replayed = await run_in_threadpool(work)
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return read


@router.get("/shipments", response_model=ShipmentPage)
def list_shipments(
    principal: PrincipalDep, session: SessionDep,
    status_: Annotated[list[ShipmentStatus] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ShipmentPage:
    """Shipments the caller may see: its own (enterprise), its crossings' (officers), all
    (operators)."""
    rows, total = service.list_shipments(
        session, principal=principal, statuses=[s.value for s in status_] if status_ else None,
        limit=limit, offset=offset)
    return ShipmentPage(items=[to_read(s) for s in rows], total=total, limit=limit,
                        offset=offset)


@router.get("/shipments/{shipment_id}", response_model=ShipmentRead)
def read_shipment(shipment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
                  ) -> ShipmentRead:
    return to_read(service.get_shipment(session, shipment_id=shipment_id, principal=principal))


@router.patch("/shipments/{shipment_id}", response_model=ShipmentRead)
def amend(shipment_id: uuid.UUID, update: ShipmentUpdate, principal: Enterprise,
          session: SessionDep, clock: ClockDep, network: NetworkDep) -> ShipmentRead:
    """Amend (history kept). After a slot is booked only the driver may change."""
    s = lifecycle.amend_shipment(session, shipment_id=shipment_id, update=update,
                               principal=principal, clock=clock, network=network,
                               hs_country=service.hs_country_for(session, principal))
    return to_read(s)


@router.post("/shipments/{shipment_id}/submit", response_model=ShipmentRead)
def submit(shipment_id: uuid.UUID, principal: Enterprise, session: SessionDep,
           clock: ClockDep) -> ShipmentRead:
    return to_read(lifecycle.submit_shipment(session, shipment_id=shipment_id,
                                           principal=principal, clock=clock))


@router.post("/shipments/{shipment_id}/cancel", response_model=ShipmentRead)
def cancel(shipment_id: uuid.UUID, body: CancelRequest, principal: PrincipalDep,
           session: SessionDep, clock: ClockDep) -> ShipmentRead:
    return to_read(lifecycle.cancel_shipment(session, shipment_id=shipment_id,
                                           principal=principal, clock=clock,
                                           reason=body.reason))


@router.post("/shipments/{shipment_id}/complete", response_model=ShipmentRead)
def complete(shipment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep,
             clock: ClockDep) -> ShipmentRead:
    return to_read(lifecycle.complete_shipment(session, shipment_id=shipment_id,
                                             principal=principal, clock=clock))


@router.get("/shipments/{shipment_id}/revisions", response_model=list[RevisionRead])
def shipment_revisions(shipment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
                       ) -> list[RevisionRead]:
    return [RevisionRead.model_validate(r) for r in
            lifecycle.revisions(session, shipment_id=shipment_id, principal=principal)]


@router.get("/shipments/{shipment_id}/agency-results", response_model=list[AgencyResultRead])
def shipment_agency_results(shipment_id: uuid.UUID, principal: PrincipalDep,
                            session: SessionDep) -> list[AgencyResultRead]:
    service.get_shipment(session, shipment_id=shipment_id, principal=principal)
    return [AgencyResultRead.model_validate(r)
            for r in repository.agency_results(session, shipment_id)]


@router.get("/vehicles", response_model=list[SavedVehicleRead])
def saved_vehicles(principal: Enterprise, session: SessionDep) -> list[SavedVehicleRead]:
    return [SavedVehicleRead(id=v.id, plate=v.plate, data=v.data)
            for v in repository.list_saved_vehicles(session, principal.organisation_id)]


@router.get("/drivers", response_model=list[SavedDriverRead])
def saved_drivers(principal: Enterprise, session: SessionDep) -> list[SavedDriverRead]:
    return [SavedDriverRead(id=d.id, id_number=d.id_number, data=d.data)
            for d in repository.list_saved_drivers(session, principal.organisation_id)]


@router.post("/agency-results", response_model=AgencyResultRead,
             status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Already received (same agency reference)"}})
def report_agency_result(result: AgencyResultIn, principal: AgencySystem, session: SessionDep,
                         clock: ClockDep, response: Response) -> AgencyResultRead:
    """An agency's system (customs, quarantine, border guard) reports a declaration's status."""
    if result.shipment_id is None and result.customs_declaration_number is None:
        raise InvalidInput("give shipment_id or customs_declaration_number", field="shipment_id")
    row, new = agencies.apply_result(session, result=result, source=principal.actor,
                                     clock=clock)
    if not new:
        response.status_code = status.HTTP_200_OK
    return AgencyResultRead.model_validate(row)
