"""Roles and the principal (who is calling) that every rule checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class OrganisationKind(StrEnum):
    enterprise = "enterprise"
    agency = "agency"
    platform = "platform"


class Role(StrEnum):
    enterprise_user = "enterprise_user"
    driver = "driver"
    customs_officer = "customs_officer"
    border_guard_officer = "border_guard_officer"
    quarantine_officer = "quarantine_officer"
    yard_operator = "yard_operator"
    traffic_police = "traffic_police"
    operator = "operator"
    admin = "admin"
    # machine clients (API keys)
    camera = "camera"
    peer_platform = "peer_platform"
    agency_system = "agency_system"


PERSON_ROLES = frozenset(
    {
        Role.enterprise_user, Role.driver, Role.customs_officer, Role.border_guard_officer,
        Role.quarantine_officer, Role.yard_operator, Role.traffic_police, Role.operator,
        Role.admin,
    }
)
MACHINE_ROLES = frozenset({Role.camera, Role.peer_platform, Role.agency_system})
OFFICER_ROLES = frozenset(
    {
        Role.customs_officer, Role.border_guard_officer, Role.quarantine_officer,
        Role.yard_operator, Role.traffic_police,
    }
)
SEE_ALL_ROLES = frozenset({Role.operator, Role.admin, Role.agency_system})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a person (token) or a machine (API key)."""

    kind: str  # "user" | "machine"
    id: uuid.UUID
    name: str
    organisation_id: uuid.UUID
    roles: frozenset[Role]
    crossings: frozenset[str] = field(default_factory=frozenset)
    id_number: str | None = None
    country: str = "VN"
    """The caller's organisation's country (whose HS code rules apply to its declarations)."""

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.kind}:{self.name}"

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))
