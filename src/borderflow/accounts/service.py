"""Accounts: organisations, people, tokens, machine keys. Passwords hashed with argon2."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from borderflow.accounts import repository
from borderflow.accounts.models import AccessToken, ApiKey, Organisation, User
from borderflow.accounts.roles import (
    MACHINE_ROLES,
    PERSON_ROLES,
    OrganisationKind,
    Principal,
    Role,
)
from borderflow.accounts.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from borderflow.audit import service as audit
from borderflow.clock import Clock
from borderflow.errors import Conflict, InvalidInput, NotFound, Unauthorized, ValidationFailed
from borderflow.identifiers import parse_country, parse_tax_code
from borderflow.network.schemas import Network

TOKEN_TTL = timedelta(hours=12)
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def token_hash(raw_token: str) -> str:
    """How a bearer token is stored and looked up (its SHA-256, hex)."""
    return _sha256(raw_token)


def create_organisation(
    session: Session, *, org_in: OrganisationCreate, actor: str, clock: Clock
) -> Organisation:
    country = parse_country(org_in.country, "country")
    tax_code = None
    if org_in.tax_code:
        if country not in ("VN", "CN"):
            raise InvalidInput("tax codes are checked for VN and CN organisations only",
                               field="tax_code", vi="chỉ kiểm tra mã số thuế của VN và CN")
        tax_code = parse_tax_code(org_in.tax_code, country, "tax_code")  # type: ignore[arg-type]
    elif org_in.kind is OrganisationKind.enterprise:
        raise InvalidInput(
            "an enterprise needs its tax code (MST or unified social credit code)",
            field="tax_code", vi="doanh nghiệp phải có mã số thuế", zh="企业必须提供税号",
        )
    if tax_code and repository.organisation_by_tax_code(session, tax_code):
        raise Conflict(f"an organisation with tax code {tax_code} exists", field="tax_code")
    org = Organisation(name=org_in.name.strip(), kind=org_in.kind.value, country=country,
                       tax_code=tax_code, created_at=clock.now())
    session.add(org)
    session.flush()
    audit.record(session, clock=clock, actor=actor, action="organisation.create",
                 entity="organisation", entity_id=org.id,
                 changes={"name": org.name, "kind": org.kind, "tax_code": tax_code})
    return org


def create_user(
    session: Session, *, user_in: UserCreate, actor: str, clock: Clock,
    network: Network | None = None,
) -> User:
    org = repository.get_organisation(session, user_in.organisation_id)
    if org is None:
        raise NotFound("no such organisation", field="organisation_id")
    problems: list[InvalidInput] = []
    machine = [r for r in user_in.roles if r in MACHINE_ROLES]
    if machine:
        problems.append(InvalidInput(f"{machine[0].value} is a machine role: create an API key",
                                     field="roles"))
    if org.kind == OrganisationKind.enterprise.value:
        allowed = {Role.enterprise_user, Role.driver}
        bad = [r.value for r in user_in.roles if r not in allowed]
        if bad:
            problems.append(InvalidInput(
                f"an enterprise's users can only be enterprise_user or driver, not {bad[0]}",
                field="roles"))
    elif Role.enterprise_user in user_in.roles:
        # Only enterprises declare: an officer must never declare what he later clears.
        problems.append(InvalidInput(
            f"enterprise_user is for enterprises' staff, not a {org.kind}'s", field="roles",
            vi="vai trò doanh nghiệp chỉ dành cho nhân viên doanh nghiệp",
            zh="企业用户角色仅限企业员工"))
    if network is not None:
        known = {c.id for c in network.crossings}
        for c in user_in.crossings:
            if c not in known:
                problems.append(InvalidInput(f"unknown crossing {c!r}", field="crossings"))
    if problems:
        raise ValidationFailed(list(problems))
    username = user_in.username.lower()  # look-alike accounts differ by more than case
    if repository.user_by_username(session, username):
        raise Conflict(f"username {user_in.username!r} is taken", field="username")
    user = User(
        organisation_id=org.id, username=username, full_name=user_in.full_name,
        password_hash=_hasher.hash(user_in.password),
        roles=sorted({r.value for r in user_in.roles if r in PERSON_ROLES}),
        crossings=sorted(set(user_in.crossings)), id_number=user_in.id_number,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    audit.record(session, clock=clock, actor=actor, action="user.create", entity="user",
                 entity_id=user.id, changes={"username": user.username, "roles": user.roles,
                                             "crossings": user.crossings})
    return user


def login(
    session: Session, *, username: str, password: str, clock: Clock
) -> tuple[str, AccessToken]:
    user = repository.user_by_username(session, username.lower())
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthorized("wrong username or password")
    raw = "bft_" + secrets.token_urlsafe(32)
    now = clock.now()
    token = AccessToken(token_hash=_sha256(raw), user_id=user.id, created_at=now,
                        expires_at=now + TOKEN_TTL)
    session.add(token)
    session.flush()
    return raw, token


def logout(session: Session, *, raw_token: str, clock: Clock) -> None:
    token = repository.get_token(session, _sha256(raw_token))
    if token is not None and token.revoked_at is None:
        token.revoked_at = clock.now()


def principal_for_user(user: User, country: str = "VN") -> Principal:
    return Principal(
        kind="user", id=user.id, name=user.username, organisation_id=user.organisation_id,
        roles=frozenset(Role(r) for r in user.roles), crossings=frozenset(user.crossings),
        id_number=user.id_number, country=country,
    )


def authenticate_token(session: Session, *, raw_token: str, clock: Clock) -> Principal:
    return authenticate_token_until(session, raw_token=raw_token, clock=clock)[0]


def authenticate_token_until(session: Session, *, raw_token: str, clock: Clock
                             ) -> tuple[Principal, datetime]:
    """The token's holder, and when the token expires."""
    found = repository.token_user(session, _sha256(raw_token), clock.now())
    if found is None:
        raise Unauthorized("token is unknown, expired or revoked")
    user, country, expires_at = found
    return principal_for_user(user, country), expires_at


def create_api_key(
    session: Session, *, key_in: ApiKeyCreate, actor: str, clock: Clock
) -> tuple[str, ApiKey]:
    if key_in.role not in MACHINE_ROLES:
        raise InvalidInput("API keys are for machine roles: camera, peer_platform, "
                           "agency_system", field="role")
    if repository.get_organisation(session, key_in.organisation_id) is None:
        raise NotFound("no such organisation", field="organisation_id")
    raw = "bfk_" + secrets.token_urlsafe(32)
    key = ApiKey(organisation_id=key_in.organisation_id, name=key_in.name,
                 role=key_in.role.value, crossings=sorted(set(key_in.crossings)),
                 key_hash=_sha256(raw), created_at=clock.now(), created_by=actor)
    session.add(key)
    session.flush()
    audit.record(session, clock=clock, actor=actor, action="api_key.create", entity="api_key",
                 entity_id=key.id, changes={"name": key.name, "role": key.role})
    return raw, key


def revoke_api_key(session: Session, *, key_id: uuid.UUID, actor: str, clock: Clock) -> ApiKey:
    key = repository.get_api_key(session, key_id)
    if key is None:
        raise NotFound("no such API key", field="key_id")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        audit.record(session, clock=clock, actor=actor, action="api_key.revoke",
                     entity="api_key", entity_id=key.id)
    return key


def authenticate_api_key(session: Session, *, raw_key: str) -> Principal:
    found = repository.api_key_by_hash(session, _sha256(raw_key))
    if found is None:
        raise Unauthorized("API key is unknown or revoked")
    key, country = found
    return Principal(kind="machine", id=key.id, name=key.name,
                     organisation_id=key.organisation_id, roles=frozenset({Role(key.role)}),
                     crossings=frozenset(key.crossings), country=country)
