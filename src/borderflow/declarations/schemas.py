"""Declarations API models. Pydantic checks shapes and types; `validation.py` checks the
identifiers and rules and names every invalid field at once."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from borderflow.declarations.cargo import CargoClass, Regime
from borderflow.network.schemas import Direction


class ShipmentStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    amended = "amended"
    cancelled = "cancelled"
    completed = "completed"


OPEN_STATUSES = frozenset({ShipmentStatus.draft, ShipmentStatus.submitted, ShipmentStatus.amended})


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VehicleIn(_In):
    plate: str = Field(min_length=1, max_length=20, examples=["12C-123.45"])
    trailer_plate: str | None = Field(default=None, max_length=20, examples=["12R-012.34"])
    gms_permit: str | None = Field(default=None, max_length=40,
                                   description="GMS CBTA cross-border permit number, if any")
    containers: list[str] = Field(default_factory=list, max_length=4,
                                  examples=[["CSQU3054383"]])


class DriverIn(_In):
    name: str = Field(min_length=1, max_length=200)
    id_number: str = Field(min_length=5, max_length=40, pattern=r"^[A-Za-z0-9]+$",
                           description="ID card or passport number")
    phone: str = Field(min_length=5, max_length=30, examples=["+84912345678"])
    nationality: str = Field(min_length=2, max_length=3, examples=["VN"])


class GoodsLineIn(_In):
    hs_code: str = Field(min_length=2, max_length=20, examples=["08106000"])
    description: str = Field(min_length=1, max_length=500, examples=["Fresh durian"])
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=3)
    unit: str = Field(min_length=2, max_length=3, description="UN/ECE Rec 20 code",
                      examples=["KGM"])
    gross_weight_kg: Decimal = Field(gt=0, le=100_000, max_digits=14, decimal_places=3)
    value: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3, examples=["USD"])
    cargo_class: CargoClass
    shelf_life_hours: int | None = Field(default=None, gt=0, le=24 * 365)


class ShipmentCreate(_In):
    regime: Regime
    direction: Direction | None = Field(
        default=None, description="Needed for transit and transshipment; otherwise derived")
    crossings: list[str] = Field(min_length=1, max_length=10,
                                 description="Crossings acceptable to the declarant")
    arrival_from: AwareDatetime
    arrival_to: AwareDatetime
    goods: list[GoodsLineIn] = Field(min_length=1, max_length=200)
    vehicle: VehicleIn | None = None
    vehicle_id: uuid.UUID | None = Field(default=None, description="A saved vehicle")
    driver: DriverIn | None = None
    driver_id: uuid.UUID | None = Field(default=None, description="A saved driver")
    save_vehicle: bool = False
    save_driver: bool = False
    phytosanitary_certificate: str | None = Field(default=None, max_length=60)
    customs_declaration_number: str | None = Field(default=None, max_length=40,
                                                   pattern=r"^[A-Za-z0-9/-]+$")
    origin: str | None = Field(default=None, max_length=200, examples=["Tien Giang"])
    submit: bool = Field(default=True, description="Submit at once (false keeps a draft)")


class ShipmentUpdate(_In):
    """An amendment: only the fields given change. After a slot is booked only `driver` may."""

    crossings: list[str] | None = Field(default=None, min_length=1, max_length=10)
    arrival_from: AwareDatetime | None = None
    arrival_to: AwareDatetime | None = None
    goods: list[GoodsLineIn] | None = Field(default=None, min_length=1, max_length=200)
    vehicle: VehicleIn | None = None
    driver: DriverIn | None = None
    phytosanitary_certificate: str | None = Field(default=None, max_length=60)
    customs_declaration_number: str | None = Field(default=None, max_length=40,
                                                   pattern=r"^[A-Za-z0-9/-]+$")
    origin: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


class GoodsLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_no: int
    hs_code: str
    description: str
    quantity: Decimal
    unit: str
    gross_weight_kg: Decimal
    value: Decimal
    currency: str
    cargo_class: CargoClass
    shelf_life_hours: int | None


class ShipmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    status: ShipmentStatus
    version: int
    regime: Regime
    direction: Direction
    crossings: list[str]
    arrival_from: datetime
    arrival_to: datetime
    cargo_class: CargoClass
    shelf_life_hours: int | None
    vehicle: dict[str, object]
    driver: dict[str, object]
    goods: list[GoodsLineRead]
    phytosanitary_certificate: str | None
    customs_declaration_number: str | None
    origin: str | None
    booked_slot_start: datetime | None
    customs_channel: str | None
    customs_status: str | None
    quarantine_status: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None


class ShipmentPage(BaseModel):
    items: list[ShipmentRead]
    total: int
    limit: int
    offset: int


class RevisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    status: ShipmentStatus
    at: datetime
    actor: str
    action: str
    changed_fields: list[str]


class CancelRequest(_In):
    reason: str = Field(min_length=1, max_length=500)


class SavedVehicleRead(BaseModel):
    id: uuid.UUID
    plate: str
    data: dict[str, object]


class SavedDriverRead(BaseModel):
    id: uuid.UUID
    id_number: str
    data: dict[str, object]


class AgencyName(StrEnum):
    customs = "customs"
    quarantine = "quarantine"
    border_guard = "border_guard"


class Channel(StrEnum):
    green = "green"
    yellow = "yellow"
    red = "red"


class AgencyStatus(StrEnum):
    accepted = "accepted"
    inspecting = "inspecting"
    released = "released"
    held = "held"
    rejected = "rejected"


class AgencyResultIn(_In):
    """What an agency's system reports about one declaration."""

    agency: AgencyName
    shipment_id: uuid.UUID | None = None
    customs_declaration_number: str | None = Field(default=None, max_length=40)
    channel: Channel | None = None
    status: AgencyStatus
    reference: str = Field(min_length=1, max_length=100,
                           description="The agency's own message id: a repeat is ignored")
    reported_at: AwareDatetime
    note: str | None = Field(default=None, max_length=1000)


class AgencyResultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    shipment_id: uuid.UUID
    agency: AgencyName
    channel: Channel | None
    status: AgencyStatus
    reference: str
    reported_at: datetime
    received_at: datetime
    source: str
