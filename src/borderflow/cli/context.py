"""What every CLI command shares: settings, the network, the database, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session, sessionmaker

from borderflow.clock import Clock, SystemClock
from borderflow.config import get_settings
from borderflow.db import make_engine, make_sessionmaker, session_scope, upgrade
from borderflow.errors import BorderflowError
from borderflow.network.loader import load_network
from borderflow.network.schemas import Network

console = Console()
err_console = Console(stderr=True)


def fail(error: BorderflowError | str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    return typer.Exit(code)


def network_from(option: str | None) -> Network:
    try:
        return load_network(option or get_settings().network)
    except BorderflowError as exc:
        raise fail(exc) from exc


def clock() -> Clock:
    return SystemClock()


@lru_cache
def _factory(url: str) -> sessionmaker[Session]:
    upgrade(url)  # the embedded database is created and migrated on first use
    return make_sessionmaker(make_engine(url))


@contextmanager
def db_session() -> Iterator[Session]:
    url = get_settings().resolved_database_url()
    with session_scope(_factory(url)) as session:
        yield session
