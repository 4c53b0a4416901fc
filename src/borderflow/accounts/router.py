"""Accounts HTTP API: sign in, organisations, users, machine keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from borderflow.accounts import repository, service
from borderflow.accounts.roles import Principal, Role
from borderflow.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    OrganisationCreate,
    OrganisationRead,
    TokenRead,
    UserCreate,
    UserRead,
)
from borderflow.deps import (
    ClockDep,
    NetworkDep,
    PrincipalDep,
    SessionDep,
    bearer,
    require,
    token_cache,
)
from borderflow.errors import NotFound

router = APIRouter(tags=["accounts"])
Admin = Annotated[Principal, require(Role.admin)]
AdminOrOperator = Annotated[Principal, require(Role.admin, Role.operator)]
NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold a NUL character: refuse it as bad input (422), not a 500."""


@router.post("/auth/token", response_model=TokenRead)
def sign_in(
    username: Annotated[str, Form(min_length=1, max_length=100, pattern=NO_NUL)],
    password: Annotated[str, Form(min_length=1, max_length=200, pattern=NO_NUL)],
    session: SessionDep,
    clock: ClockDep,
    grant_type: Annotated[str, Form(pattern="^password$")] = "password",
) -> TokenRead:
    """OAuth2 password flow: a bearer token for a person (12 h)."""
    raw, token = service.login(session, username=username, password=password, clock=clock)
    return TokenRead(access_token=raw, expires_at=token.expires_at)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(principal: PrincipalDep, session: SessionDep, clock: ClockDep,
             credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
             request: Request) -> None:
    """Revoke the token used for this request."""
    if credentials is not None:
        service.logout(session, raw_token=credentials.credentials, clock=clock)
        token_cache(request).forget(service.token_hash(credentials.credentials))


@router.get("/users/me", response_model=UserRead)
def me(principal: PrincipalDep, session: SessionDep) -> UserRead:
    user = repository.get_user(session, principal.id) if principal.kind == "user" else None
    if user is None:
        raise NotFound("machine clients have no user record", field="principal")
    return UserRead.model_validate(user)


@router.post("/organisations", response_model=OrganisationRead,
             status_code=status.HTTP_201_CREATED)
def create_organisation(org_in: OrganisationCreate, principal: Admin, session: SessionDep,
                        clock: ClockDep) -> OrganisationRead:
    org = service.create_organisation(session, org_in=org_in, actor=principal.actor, clock=clock)
    return OrganisationRead.model_validate(org)


@router.get("/organisations", response_model=list[OrganisationRead])
def list_organisations(principal: AdminOrOperator, session: SessionDep
                       ) -> list[OrganisationRead]:
    return [OrganisationRead.model_validate(o) for o in repository.list_organisations(session)]


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(user_in: UserCreate, principal: Admin, session: SessionDep, clock: ClockDep,
                network: NetworkDep) -> UserRead:
    user = service.create_user(session, user_in=user_in, actor=principal.actor, clock=clock,
                               network=network)
    return UserRead.model_validate(user)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(key_in: ApiKeyCreate, principal: Admin, session: SessionDep,
                   clock: ClockDep) -> ApiKeyCreated:
    raw, key = service.create_api_key(session, key_in=key_in, actor=principal.actor,
                                      clock=clock)
    return ApiKeyCreated(key=raw, **ApiKeyRead.model_validate(key).model_dump())


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead)
def revoke_api_key(key_id: uuid.UUID, principal: Admin, session: SessionDep,
                   clock: ClockDep) -> ApiKeyRead:
    key = service.revoke_api_key(session, key_id=key_id, actor=principal.actor, clock=clock)
    return ApiKeyRead.model_validate(key)
