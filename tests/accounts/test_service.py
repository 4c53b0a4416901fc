"""Accounts service: organisations, people, tokens and machine keys (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.accounts import service
from borderflow.accounts.models import AccessToken, ApiKey, Organisation, User
from borderflow.accounts.roles import MACHINE_ROLES, OrganisationKind, Role
from borderflow.accounts.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from borderflow.audit.models import AuditEntry
from borderflow.clock import FixedClock
from borderflow.errors import Conflict, InvalidInput, NotFound, Unauthorized, ValidationFailed
from borderflow.network.schemas import Network
from tests.fixtures.api import PASSWORD

ACTOR = "user:admin_an"


def new_org(session: Session, clock: FixedClock, *, kind: OrganisationKind,
            tax_code: str | None = None, country: str = "VN", name: str = "Org") -> Organisation:
    return service.create_organisation(session, org_in=OrganisationCreate(
        name=name, kind=kind, country=country, tax_code=tax_code), actor=ACTOR, clock=clock)


def new_user(session: Session, clock: FixedClock, org: Organisation, roles: list[Role],
             *, username: str = "someone", network: Network | None = None,
             crossings: list[str] | None = None, id_number: str | None = None) -> User:
    return service.create_user(session, user_in=UserCreate(
        organisation_id=org.id, username=username, full_name=username.title(),
        password=PASSWORD, roles=roles, crossings=crossings or [], id_number=id_number),
        actor=ACTOR, clock=clock, network=network)


@pytest.fixture
def platform(session: Session, clock: FixedClock) -> Organisation:
    return new_org(session, clock, kind=OrganisationKind.platform, name="Platform")


@pytest.fixture
def exporter(session: Session, clock: FixedClock) -> Organisation:
    return new_org(session, clock, kind=OrganisationKind.enterprise, tax_code="0100233488",
                   name="Lan Fresh Fruit JSC")


@pytest.fixture
def customs(session: Session, clock: FixedClock) -> Organisation:
    return new_org(session, clock, kind=OrganisationKind.agency, name="Huu Nghi Customs")


@pytest.fixture
def lan(session: Session, clock: FixedClock, exporter: Organisation) -> User:
    return new_user(session, clock, exporter, [Role.enterprise_user], username="exporter_lan")


def audit_rows(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- passwords and tokens ----------------------------------------------------------------------


def test_password_is_stored_as_an_argon2_hash_not_in_plain_text(session: Session, lan: User
                                                                ) -> None:
    stored = session.scalar(select(User.password_hash).where(User.id == lan.id))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


def test_the_same_password_gets_a_different_salted_hash_per_user(
    session: Session, clock: FixedClock, exporter: Organisation, lan: User
) -> None:
    other = new_user(session, clock, exporter, [Role.driver], username="driver_tuan")
    assert other.password_hash != lan.password_hash


def test_login_gives_a_token_that_authenticates_the_person(
    session: Session, clock: FixedClock, customs: Organisation, lang_son: Network
) -> None:
    new_user(session, clock, customs, [Role.customs_officer], username="officer_hoa",
             network=lang_son, crossings=["huu-nghi"])
    raw, token = service.login(session, username="officer_hoa", password=PASSWORD, clock=clock)
    principal = service.authenticate_token(session, raw_token=raw, clock=clock)
    assert principal.kind == "user"
    assert principal.name == "officer_hoa"
    assert principal.actor == "user:officer_hoa"
    assert principal.organisation_id == customs.id
    assert principal.roles == frozenset({Role.customs_officer})
    assert principal.crossings == frozenset({"huu-nghi"})
    assert token.expires_at == clock.now() + timedelta(hours=12)


def test_tokens_are_stored_only_as_their_sha256(session: Session, clock: FixedClock, lan: User
                                                ) -> None:
    raw, _ = service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)
    hashes = list(session.scalars(select(AccessToken.token_hash)))
    assert hashes == [hashlib.sha256(raw.encode()).hexdigest()]
    assert raw not in hashes


def test_login_refuses_a_wrong_password_and_an_unknown_user_alike(
    session: Session, clock: FixedClock, lan: User
) -> None:
    with pytest.raises(Unauthorized) as wrong:
        service.login(session, username="exporter_lan", password="not the password",
                      clock=clock)
    with pytest.raises(Unauthorized) as unknown:
        service.login(session, username="nobody_here", password=PASSWORD, clock=clock)
    assert wrong.value.as_problem() == unknown.value.as_problem()
    assert wrong.value.status_code == 401
    assert count(session, AccessToken) == 0


def test_login_refuses_a_deactivated_person_and_their_tokens_stop_working(
    session: Session, clock: FixedClock, lan: User
) -> None:
    raw, _ = service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)
    lan.active = False
    session.flush()
    with pytest.raises(Unauthorized):
        service.authenticate_token(session, raw_token=raw, clock=clock)
    with pytest.raises(Unauthorized):
        service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)


def test_token_works_until_12_hours_have_passed(session: Session, clock: FixedClock, lan: User
                                                ) -> None:
    raw, _ = service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)
    clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert service.authenticate_token(session, raw_token=raw, clock=clock).name == "exporter_lan"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthorized):
        service.authenticate_token(session, raw_token=raw, clock=clock)


def test_logout_revokes_only_the_token_used(session: Session, clock: FixedClock, lan: User
                                            ) -> None:
    phone, _ = service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)
    laptop, _ = service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)
    service.logout(session, raw_token=phone, clock=clock)
    session.flush()
    with pytest.raises(Unauthorized):
        service.authenticate_token(session, raw_token=phone, clock=clock)
    assert service.authenticate_token(session, raw_token=laptop, clock=clock).id == lan.id


def test_logging_out_twice_or_with_an_unknown_token_is_harmless(
    session: Session, clock: FixedClock, lan: User
) -> None:
    raw, token = service.login(session, username="exporter_lan", password=PASSWORD, clock=clock)
    service.logout(session, raw_token=raw, clock=clock)
    first = token.revoked_at
    clock.advance(timedelta(minutes=5))
    service.logout(session, raw_token=raw, clock=clock)
    service.logout(session, raw_token="bft_never-issued", clock=clock)
    assert token.revoked_at == first


# --- machine keys ------------------------------------------------------------------------------


def test_api_key_authenticates_its_machine_and_is_stored_hashed(
    session: Session, clock: FixedClock, customs: Organisation
) -> None:
    raw, key = service.create_api_key(session, key_in=ApiKeyCreate(
        organisation_id=customs.id, name="vnaccs", role=Role.agency_system), actor=ACTOR,
        clock=clock)
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {key.key_hash, key.name}
    principal = service.authenticate_api_key(session, raw_key=raw)
    assert (principal.kind, principal.name, principal.roles) == (
        "machine", "vnaccs", frozenset({Role.agency_system}))
    assert key.created_by == ACTOR


def test_revoked_api_key_no_longer_authenticates(session: Session, clock: FixedClock,
                                                 platform: Organisation) -> None:
    raw, key = service.create_api_key(session, key_in=ApiKeyCreate(
        organisation_id=platform.id, name="camera_hn_gate_1", role=Role.camera), actor=ACTOR,
        clock=clock)
    service.revoke_api_key(session, key_id=key.id, actor=ACTOR, clock=clock)
    session.flush()
    assert key.revoked_at == clock.now()
    with pytest.raises(Unauthorized):
        service.authenticate_api_key(session, raw_key=raw)


def test_unknown_api_key_is_refused(session: Session) -> None:
    with pytest.raises(Unauthorized):
        service.authenticate_api_key(session, raw_key="bfk_never-issued")


def test_revoking_twice_keeps_the_first_revocation_and_audits_it_once(
    session: Session, clock: FixedClock, platform: Organisation
) -> None:
    _, key = service.create_api_key(session, key_in=ApiKeyCreate(
        organisation_id=platform.id, name="camera", role=Role.camera), actor=ACTOR, clock=clock)
    service.revoke_api_key(session, key_id=key.id, actor=ACTOR, clock=clock)
    first = key.revoked_at
    clock.advance(timedelta(hours=1))
    service.revoke_api_key(session, key_id=key.id, actor="user:someone_else", clock=clock)
    session.flush()
    assert key.revoked_at == first
    assert [(e.actor, e.entity_id) for e in audit_rows(session, "api_key.revoke")] == [
        (ACTOR, str(key.id))]


def test_revoking_an_unknown_api_key_is_not_found(session: Session, clock: FixedClock) -> None:
    with pytest.raises(NotFound):
        service.revoke_api_key(session, key_id=uuid.uuid4(), actor=ACTOR, clock=clock)


@pytest.mark.parametrize("role", sorted(set(Role) - MACHINE_ROLES))
def test_api_keys_are_for_machine_roles_only(session: Session, clock: FixedClock,
                                             platform: Organisation, role: Role) -> None:
    with pytest.raises(InvalidInput) as info:
        service.create_api_key(session, key_in=ApiKeyCreate(
            organisation_id=platform.id, name="not a machine", role=role), actor=ACTOR,
            clock=clock)
    assert info.value.field == "role"
    assert count(session, ApiKey) == 0


def test_api_key_for_an_unknown_organisation_is_not_found(session: Session, clock: FixedClock
                                                          ) -> None:
    with pytest.raises(NotFound) as info:
        service.create_api_key(session, key_in=ApiKeyCreate(
            organisation_id=uuid.uuid4(), name="camera", role=Role.camera), actor=ACTOR,
            clock=clock)
    assert info.value.field == "organisation_id"


# --- organisations and tax codes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "raw", "stored"),
    [
        ("VN", "0100100008", "0100100008"),  # 10-digit MST
        ("VN", "0100 100 008", "0100100008"),  # spaces ignored
        ("VN", "0100100008-001", "0100100008-001"),  # 13-digit branch MST
        ("VN", "0100100008001", "0100100008-001"),
        ("VNM", "0200123457", "0200123457"),
        ("CN", "91350100M000100Y43", "91350100M000100Y43"),  # unified social credit code
        ("CN", "91350100m000100y43", "91350100M000100Y43"),
    ],
)
def test_enterprise_tax_code_is_checked_and_stored_canonical(
    session: Session, clock: FixedClock, country: str, raw: str, stored: str
) -> None:
    org = new_org(session, clock, kind=OrganisationKind.enterprise, tax_code=raw,
                  country=country)
    assert org.tax_code == stored
    assert org.country == country[:2]


@pytest.mark.parametrize(
    ("country", "raw", "reason"),
    [
        ("VN", "0100100009", "check digit"),
        ("VN", "010010000", "10 digits"),
        ("VN", "01001000080011", "10 digits"),
        ("VN", "0100100008-000", "branch"),
        ("VN", "91350100M000100Y43", "digits"),  # a Chinese code for a Vietnamese company
        ("CN", "91350100M000100Y44", "check character"),
        ("CN", "9135010", "18 characters"),
        ("CN", "0100100008", "18 characters"),  # a Vietnamese MST for a Chinese company
        ("LA", "0100100008", "VN and CN"),  # tax codes are checked for VN and CN only
    ],
)
def test_rejects_an_invalid_tax_code_naming_the_field(
    session: Session, clock: FixedClock, country: str, raw: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        new_org(session, clock, kind=OrganisationKind.enterprise, tax_code=raw, country=country)
    assert info.value.field == "tax_code"
    assert info.value.status_code == 422
    assert reason in info.value.message
    assert count(session, Organisation) == 0
    assert audit_rows(session, "organisation.create") == []


@pytest.mark.parametrize("tax_code", [None, ""])
def test_rejects_an_enterprise_without_tax_code(session: Session, clock: FixedClock,
                                                tax_code: str | None) -> None:
    with pytest.raises(InvalidInput) as info:
        new_org(session, clock, kind=OrganisationKind.enterprise, tax_code=tax_code)
    assert info.value.field == "tax_code"
    assert info.value.message_vi and info.value.message_zh
    assert count(session, Organisation) == 0


@pytest.mark.parametrize("kind", [OrganisationKind.agency, OrganisationKind.platform])
def test_agencies_and_the_platform_need_no_tax_code(session: Session, clock: FixedClock,
                                                    kind: OrganisationKind) -> None:
    assert new_org(session, clock, kind=kind).tax_code is None


@pytest.mark.parametrize("again", ["0100233488", "0100 233 488", "0100.233.488"])
def test_rejects_a_duplicate_tax_code_however_it_is_written(
    session: Session, clock: FixedClock, exporter: Organisation, again: str
) -> None:
    with pytest.raises(Conflict) as info:
        new_org(session, clock, kind=OrganisationKind.enterprise, tax_code=again,
                name="Lan Fresh Fruit (again)")
    assert info.value.field == "tax_code"
    assert info.value.status_code == 409
    assert count(session, Organisation) == 1


def test_rejects_an_unknown_country(session: Session, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput) as info:
        new_org(session, clock, kind=OrganisationKind.agency, country="XX")
    assert info.value.field == "country"


# --- people ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "roles", [[Role.enterprise_user], [Role.driver], [Role.enterprise_user, Role.driver]]
)
def test_enterprise_people_may_be_enterprise_users_and_drivers(
    session: Session, clock: FixedClock, exporter: Organisation, roles: list[Role]
) -> None:
    user = new_user(session, clock, exporter, roles, id_number="001099012345")
    assert user.roles == sorted(r.value for r in roles)


@pytest.mark.parametrize(
    "role",
    [Role.customs_officer, Role.border_guard_officer, Role.quarantine_officer,
     Role.yard_operator, Role.traffic_police, Role.operator, Role.admin],
)
def test_rejects_an_enterprise_person_with_a_role_other_than_enterprise_user_or_driver(
    session: Session, clock: FixedClock, exporter: Organisation, role: Role
) -> None:
    with pytest.raises(ValidationFailed) as info:
        new_user(session, clock, exporter, [Role.enterprise_user, role])
    assert [p.field for p in info.value.problems] == ["roles"]
    assert role.value in info.value.problems[0].message
    assert count(session, User) == 0


@pytest.mark.parametrize("role", sorted(MACHINE_ROLES))
def test_rejects_a_machine_role_for_a_person(session: Session, clock: FixedClock,
                                             platform: Organisation, role: Role) -> None:
    with pytest.raises(ValidationFailed) as info:
        new_user(session, clock, platform, [Role.operator, role])
    assert [p.field for p in info.value.problems] == ["roles"]
    assert "API key" in info.value.problems[0].message
    assert count(session, User) == 0


def test_officer_is_assigned_to_known_crossings(session: Session, clock: FixedClock,
                                                customs: Organisation, lang_son: Network
                                                ) -> None:
    user = new_user(session, clock, customs, [Role.customs_officer], network=lang_son,
                    crossings=["tan-thanh", "huu-nghi", "huu-nghi"])
    assert user.crossings == ["huu-nghi", "tan-thanh"]


def test_rejects_an_unknown_crossing_in_an_officers_assignment(
    session: Session, clock: FixedClock, customs: Organisation, lang_son: Network
) -> None:
    with pytest.raises(ValidationFailed) as info:
        new_user(session, clock, customs, [Role.customs_officer], network=lang_son,
                 crossings=["huu-nghi", "mong-cai"])
    assert [p.field for p in info.value.problems] == ["crossings"]
    assert "mong-cai" in info.value.problems[0].message
    assert info.value.status_code == 422
    assert count(session, User) == 0


def test_reports_every_problem_with_a_person_at_once(
    session: Session, clock: FixedClock, exporter: Organisation, lang_son: Network
) -> None:
    with pytest.raises(ValidationFailed) as info:
        new_user(session, clock, exporter, [Role.camera, Role.customs_officer],
                 network=lang_son, crossings=["atlantis"])
    assert sorted(p.field or "" for p in info.value.problems) == ["crossings", "roles", "roles"]


def test_rejects_a_taken_username(session: Session, clock: FixedClock, exporter: Organisation,
                                  lan: User) -> None:
    with pytest.raises(Conflict) as info:
        new_user(session, clock, exporter, [Role.driver], username="exporter_lan")
    assert info.value.field == "username"
    assert count(session, User) == 1


def test_rejects_a_person_in_an_unknown_organisation(session: Session, clock: FixedClock
                                                     ) -> None:
    with pytest.raises(NotFound) as info:
        service.create_user(session, user_in=UserCreate(
            organisation_id=uuid.uuid4(), username="ghost", full_name="Ghost",
            password=PASSWORD, roles=[Role.operator]), actor=ACTOR, clock=clock)
    assert info.value.field == "organisation_id"


# --- the audit trail ---------------------------------------------------------------------------


def test_every_create_is_audited_with_its_actor(session: Session, clock: FixedClock) -> None:
    org = new_org(session, clock, kind=OrganisationKind.enterprise, tax_code="0100100008",
                  name="Tan Phat Logistics")
    user = new_user(session, clock, org, [Role.enterprise_user], username="clerk_mai")
    _, key = service.create_api_key(session, key_in=ApiKeyCreate(
        organisation_id=org.id, name="erp", role=Role.agency_system), actor=ACTOR, clock=clock)
    service.revoke_api_key(session, key_id=key.id, actor=ACTOR, clock=clock)
    session.flush()
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.action, e.entity, e.entity_id, e.actor) for e in entries] == [
        ("organisation.create", "organisation", str(org.id), ACTOR),
        ("user.create", "user", str(user.id), ACTOR),
        ("api_key.create", "api_key", str(key.id), ACTOR),
        ("api_key.revoke", "api_key", str(key.id), ACTOR),
    ]
    assert all(e.at == clock.now() for e in entries)
    assert entries[0].changes["tax_code"] == "0100100008"
    assert entries[1].changes["roles"] == ["enterprise_user"]


def test_the_audit_trail_never_holds_a_password_or_key(session: Session, clock: FixedClock,
                                                       platform: Organisation) -> None:
    user = new_user(session, clock, platform, [Role.operator], username="operator_an")
    raw, _ = service.create_api_key(session, key_in=ApiKeyCreate(
        organisation_id=platform.id, name="cam", role=Role.camera), actor=ACTOR, clock=clock)
    session.flush()
    trail = repr([(e.changes, e.reason) for e in session.scalars(select(AuditEntry))])
    for secret in (PASSWORD, user.password_hash, raw, hashlib.sha256(raw.encode()).hexdigest()):
        assert secret not in trail
