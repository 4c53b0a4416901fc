"""FastAPI dependencies: the request's transaction, the clock, the network, the caller.

Each request owns one transaction: committed when the handler returns, rolled back on any error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from borderflow.accounts import service as accounts
from borderflow.accounts.roles import Principal, Role
from borderflow.clock import Clock
from borderflow.errors import Forbidden, Unauthorized
from borderflow.network.schemas import Network

bearer = HTTPBearer(auto_error=False, description="Token from /api/v1/auth/token")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="A machine client's key")


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Opening it costs nothing (the transaction begins with the first
    statement, in whichever thread runs it); commit or rollback run in the thread pool, and
    only when a transaction was begun."""
    state = request.app.state
    # SQLite: writers take the write lock when the transaction begins (`sqlite_begin`, see
    # db.make_engine), so concurrent writers wait their turn (busy_timeout) instead of failing
    # to upgrade a read lock. The option means nothing to PostgreSQL.
    factory = (state.sessionmaker if request.method in READ_METHODS
               else state.write_sessionmaker)
    session: Session = factory()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(session.rollback)
        raise
    finally:
        session.close()  # the connection went back to the pool at commit or rollback


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A second, read-only session for a writing request that reads a lot first (a forecast
    runs a simulation on a snapshot): reading through it holds no write lock on SQLite, so the
    request's own session only locks for its short write. Always rolled back."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.rollback)
        session.close()


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
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
NetworkDep = Annotated[Network, Depends(get_network)]


TOKEN_CACHE_SECONDS = 2.0
"""How long a worker may answer a bearer token from memory. A token revoked by signing out is
forgotten at once by the worker that signed it out; the other workers accept it for at most
this long (the same bound holds for a user deactivated or changed in the database)."""


class TokenCache:
    """Per-worker memo: bearer token (by its SHA-256) -> principal and the token's expiry, kept
    `ttl` seconds. Saves the token look-up (a query and an ORM load) on nearly every request of
    a busy client; expiry is still checked against the clock on every request. API keys are not
    cached: revoking one takes effect at once everywhere."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, max_entries: int = 10_000,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.timer = timer
        self._entries: dict[str, tuple[Principal, datetime, float]] = {}

    def get(self, key: str, now: datetime) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, expires_at, until = entry
        if now >= expires_at or self.timer() >= until:
            self._entries.pop(key, None)
            return None
        return principal

    def put(self, key: str, principal: Principal, expires_at: datetime) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a flood of distinct tokens: start over rather than grow
        self._entries[key] = (principal, expires_at, self.timer() + self.ttl)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


def token_cache(request: Request) -> TokenCache:
    cache: TokenCache = request.app.state.token_cache
    return cache


# `async`: a token answered from the cache costs no thread-pool hop; a miss or an API key is
# looked up in the thread pool, in the request's own transaction.
async def current_principal(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    if api_key:
        return await run_in_threadpool(lambda: accounts.authenticate_api_key(
            session, raw_key=api_key))
    if credentials is None:
        raise Unauthorized("sign in: send Authorization: Bearer <token> or X-API-Key")
    raw = credentials.credentials
    cache = token_cache(request)
    key = accounts.token_hash(raw)
    cached = cache.get(key, clock.now())
    if cached is not None:
        return cached
    principal, expires_at = await run_in_threadpool(
        lambda: accounts.authenticate_token_until(session, raw_token=raw, clock=clock))
    cache.put(key, principal, expires_at)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Any:
    """A dependency that lets only callers with one of `roles` through (403 otherwise)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has(*roles):
            raise Forbidden("this needs one of the roles: " + ", ".join(r.value for r in roles))
        return principal

    return Depends(check)
