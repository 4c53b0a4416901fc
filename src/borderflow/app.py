"""The HTTP application: FastAPI, versioned under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from borderflow import __version__
from borderflow.clock import Clock, SystemClock
from borderflow.config import Settings, get_settings
from borderflow.db import make_engine, make_sessionmaker
from borderflow.deps import TokenCache
from borderflow.errors import BorderflowError, ValidationFailed, pydantic_problem
from borderflow.network.loader import load_network
from borderflow.network.schemas import Network
from borderflow.queue.policy import QueuePolicy

API = "/api/v1"


class Problem(BaseModel):
    field: str | None = Field(description="The offending field (e.g. goods[0].hs_code)")
    reason: str = Field(description="Why, in English")
    reason_vi: str | None = Field(default=None, description="Why, in Vietnamese")
    reason_zh: str | None = Field(default=None, description="Why, in Chinese")


class ErrorReply(BaseModel):
    detail: list[Problem]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text}
    for code, text in (
        (400, "Bad request"),
        (401, "Not signed in, or the token/key is unknown, expired or revoked"),
        (403, "Signed in, but the role does not allow this"),
        (404, "Not found (or not visible to the caller)"),
        (409, "Conflicts with the current state"),
        (413, "Too large"),
        (415, "Unsupported file type"),
        (422, "Invalid input: each problem names its field and the reason (en/vi/zh)"),
    )
}

class ConcurrencyLimit:
    """Pure ASGI middleware: at most `limit` HTTP requests inside the app at once; the rest
    wait their turn in the event loop (not in the thread pool)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._sem: asyncio.Semaphore | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._sem is None:  # created inside the running loop
            self._sem = asyncio.Semaphore(self.limit)
        async with self._sem:
            await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None,
    clock: Clock | None = None, network: Network | None = None,
    queue_policy: QueuePolicy | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    url = database_url or settings.resolved_database_url()
    app = FastAPI(
        title="borderflow", version=__version__,
        description="Declarations, crossing slots, tracking and simulation for land border "
        "gates (Lang Son – Guangxi first).",
        docs_url="/docs", openapi_url=f"{API}/openapi.json",
    )
    # Few requests in flight per worker on PostgreSQL: a worker is one Python process (one
    # core at a time, the GIL), so more threads than it can keep busy only lengthen each
    # request, and the time a booking holds a slot's row lock; the rest queue in the event loop
    # in arrival order (4 workers x 6 = 24 connections, well under PostgreSQL's 100).
    limit = settings.requests_per_worker or (15 if url.startswith("sqlite") else 6)
    pool = {"pool_size": min(limit, 5), "max_overflow": max(limit - 5, 0)} \
        if url.startswith("sqlite") else {"pool_size": limit, "max_overflow": 0}
    in_memory = url in ("sqlite://", "sqlite:///:memory:")  # one connection, no pool to size
    engine = make_engine(url, **({} if in_memory else pool))
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.write_sessionmaker = make_sessionmaker(
        engine.execution_options(sqlite_begin="IMMEDIATE"))
    app.state.clock = clock or SystemClock()
    app.state.network = network or load_network(settings.network)
    app.state.queue_policy = queue_policy or QueuePolicy()
    app.state.token_cache = TokenCache()

    @app.exception_handler(ValidationFailed)
    async def _many(request: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse(status_code=422,
                            content={"detail": [p.as_problem() for p in exc.problems]})

    @app.exception_handler(BorderflowError)
    async def _ours(request: Request, exc: BorderflowError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(status_code=exc.status_code, content={"detail": [exc.as_problem()]},
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422,
                            content={"detail": [pydantic_problem(e) for e in exc.errors()]})

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Alive and the database answers."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        """Ready to serve: the database schema is at the code's migration head."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from borderflow.db import alembic_config

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        ok = current == head
        return JSONResponse(status_code=200 if ok else 503,
                            content={"status": "ready" if ok else "migrations pending",
                                     "revision": current, "head": head})

    # At most as many requests in flight per worker as the pool has connections: beyond that,
    # threads holding no connection would starve the ones holding connections and row locks.
    app.add_middleware(ConcurrencyLimit, limit=pool["pool_size"] + pool["max_overflow"])

    from borderflow.accounts.router import router as accounts_router
    from borderflow.declarations.bulk_router import router as bulk_router
    from borderflow.declarations.router import router as declarations_router
    from borderflow.network.router import router as network_router
    from borderflow.queue.router import public as public_router
    from borderflow.queue.router import router as queue_router
    from borderflow.simulation.router import router as forecasts_router

    app.include_router(accounts_router, prefix=API, responses=ERROR_RESPONSES)
    # bulk first: /shipments/import must not be taken for /shipments/{shipment_id}
    app.include_router(bulk_router, prefix=API, responses=ERROR_RESPONSES)
    app.include_router(declarations_router, prefix=API, responses=ERROR_RESPONSES)
    app.include_router(network_router, prefix=API, responses=ERROR_RESPONSES)
    app.include_router(queue_router, prefix=API, responses=ERROR_RESPONSES)
    app.include_router(public_router, prefix=API, responses=ERROR_RESPONSES)
    app.include_router(forecasts_router, prefix=API, responses=ERROR_RESPONSES)
    return app
