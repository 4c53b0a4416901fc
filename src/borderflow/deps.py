"""FastAPI dependencies: the request's transaction, the clock, the network, the caller.

Each request owns one transaction: committed when the handler returns, rolled back on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from borderflow.accounts import service as accounts
from borderflow.accounts.roles import Principal, Role
from borderflow.clock import Clock
from borderflow.db import session_scope
from borderflow.errors import Forbidden, Unauthorized
from borderflow.network.schemas import Network

bearer = HTTPBearer(auto_error=False, description="Token from /api/v1/auth/token")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="A machine client's key")


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.sessionmaker) as session:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            # SQLite: take the write lock when the transaction begins, so concurrent writers
            # wait their turn (busy_timeout) instead of failing to upgrade a read lock.
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session


# Cheap dependencies are `async def`: FastAPI runs sync ones in a thread pool, a hop each.
async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_network(request: Request) -> Network:
    network: Network = request.app.state.network
    return network


# scope="function": the transaction commits before the response is sent, so a client is never
# told "created" about something a failed commit lost.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
NetworkDep = Annotated[Network, Depends(get_network)]


def current_principal(
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    if api_key:
        return accounts.authenticate_api_key(session, raw_key=api_key)
    if credentials is None:
        raise Unauthorized("sign in: send Authorization: Bearer <token> or X-API-Key")
    return accounts.authenticate_token(session, raw_token=credentials.credentials, clock=clock)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Any:
    """A dependency that lets only callers with one of `roles` through (403 otherwise)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has(*roles):
            raise Forbidden("this needs one of the roles: " + ", ".join(r.value for r in roles))
        return principal

    return Depends(check)
