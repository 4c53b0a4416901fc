"""Accounts API models."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from borderflow.accounts.roles import OrganisationKind, Role


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    kind: OrganisationKind
    country: str = Field(min_length=2, max_length=3, description="ISO 3166 code (VN, CN)")
    tax_code: str | None = Field(
        default=None, max_length=30,
        description="Vietnamese MST (10 or 13 digits) or Chinese unified social credit code; "
        "required for enterprises",
    )


class OrganisationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrganisationKind
    country: str
    tax_code: str | None
    created_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: uuid.UUID
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=10, max_length=200)
    roles: list[Role] = Field(min_length=1)
    crossings: list[str] = Field(default_factory=list)
    id_number: str | None = Field(default=None, max_length=40)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    username: str
    full_name: str
    roles: list[Role]
    crossings: list[str]
    id_number: str | None
    active: bool
    created_at: datetime


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    role: Role
    crossings: list[str] = Field(default_factory=list)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    role: Role
    crossings: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="Shown once; store it in the client's configuration.")
