"""`borderflow outbox send`, `borderflow outbox status`."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from borderflow.cli.context import clock, console, db_session, err_console, fail
from borderflow.db import make_sessionmaker
from borderflow.errors import BorderflowError
from borderflow.outbox import service

outbox_app = typer.Typer(
    help="Messages waiting to leave (notifications, webhooks, the other side): send and status.",
    no_args_is_help=True,
)


def _session_factory() -> sessionmaker[Session]:
    """The sender needs one transaction per step, so a factory on the CLI's database."""
    with db_session() as session:
        bind = session.get_bind()
    if not isinstance(bind, Engine):  # pragma: no cover - the CLI's sessions bind an engine
        raise fail("the CLI's database session is not bound to an engine")
    return make_sessionmaker(bind)


def _show_outbox_log() -> None:
    """Print what LogTransport "delivers", unless logging is configured already."""
    logger = logging.getLogger("borderflow.outbox")
    if logging.getLogger().handlers or logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _age(delta: timedelta | None) -> str:
    if delta is None:
        return "–"
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@outbox_app.command("send")
def send(
    loop: Annotated[bool, typer.Option("--loop/--once",
                                       help="Keep sending until Ctrl-C, or one pass.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between passes (--loop).")
                        ] = 5.0,
    limit: Annotated[int, typer.Option(min=1, help="Messages claimed per pass.")] = 100,
    lease: Annotated[int, typer.Option(min=1, help="Seconds a claim lasts (crash recovery).")
                     ] = 300,
    max_attempts: Annotated[int, typer.Option(min=1, help="Attempts before a dead letter.")
                            ] = service.DEFAULT_MAX_ATTEMPTS,
    worker: Annotated[str | None, typer.Option(help="This sender's name (default: host:pid).")
                      ] = None,
) -> None:
    """Deliver due messages (to the log for now), retrying failures with backoff."""
    _show_outbox_log()
    factory = _session_factory()
    transport = service.LogTransport()
    name = worker or _default_worker()
    try:
        while True:
            try:
                report = service.deliver_pending(
                    factory, transport=transport, clock=clock(), worker=name, limit=limit,
                    lease=timedelta(seconds=lease), max_attempts=max_attempts,
                )
            except BorderflowError as exc:
                raise fail(exc) from exc
            except OperationalError as exc:  # database away or busy: a loop waits and retries
                if not loop:
                    raise fail(f"database: {exc.orig or exc}") from exc
                err_console.print(f"[yellow]outbox:[/] database error, retrying: {exc.orig}")
                time.sleep(interval)
                continue
            if not loop:
                console.print(f"[green]outbox[/] {report}")
                return
            if report.claimed or report.dead:
                console.print(f"[green]outbox[/] {report}")
            if report.claimed < limit:  # a full batch means more may be due: go on at once
                time.sleep(interval)
    except KeyboardInterrupt:
        console.print("outbox sender stopped (claims not yet recorded expire with their lease)")


@outbox_app.command("status")
def status(
    dead: Annotated[int, typer.Option(min=0, help="Also list this many recent dead letters.")
                    ] = 10,
) -> None:
    """Counts of pending (due, in flight, waiting to retry), sent and dead messages; the age of
    the oldest pending one."""
    now_clock = clock()
    with db_session() as session:
        st = service.status(session, clock=now_clock)
        letters = [(m.id, m.topic, m.recipient, m.attempts, m.dead_at, m.last_error)
                   for m in service.dead_letters(session, limit=dead)] if dead and st.dead else []
    table = Table(title="outbox")
    table.add_column("state")
    table.add_column("messages", justify="right")
    for label, value in (
        ("pending", st.pending),
        ("  due now", st.due),
        ("  in flight", st.in_flight),
        ("  waiting to retry", st.waiting),
        ("sent", st.sent),
        ("dead", st.dead),
    ):
        table.add_row(label, str(value))
    console.print(table)
    console.print(f"oldest pending: {_age(st.oldest_pending_age)}"
                  + (f" (since {st.oldest_pending_at.isoformat(timespec='seconds')})"
                     if st.oldest_pending_at else ""))
    if letters:
        out = Table(title="dead letters (most recent first)")
        for col in ("id", "topic", "recipient", "attempts", "dead at (UTC)", "last error"):
            out.add_column(col)
        for row_id, topic, recipient, attempts, dead_at, error in letters:
            out.add_row(str(row_id), topic, recipient, str(attempts),
                        dead_at.isoformat(timespec="seconds") if dead_at else "", error or "")
        console.print(out)
