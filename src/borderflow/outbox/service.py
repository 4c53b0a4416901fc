"""Enqueue messages in the caller's transaction; claim and deliver them with retries.

`enqueue` is called by services in the same transaction as the change that causes the message
and never commits. `deliver_pending` is the sender: it claims due rows in one short transaction
(a conditional UPDATE per row, checked by its row count, so two senders never take the same row),
sends them outside any transaction, then records each result in its own transaction. A retryable
failure backs off exponentially; a permanent failure, or running out of attempts, makes the row a
dead letter. A sender that dies leaves claims that expire with their lease, so another sender
takes the rows over: delivery is at least once, and each message's `dedup_key`/`id` lets a
receiver drop a repeat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Select, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from borderflow.clock import Clock
from borderflow.db import session_scope
from borderflow.errors import BorderflowError, InvalidInput
from borderflow.outbox.models import OutboxMessage

log = logging.getLogger("borderflow.outbox")

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_MAX_ATTEMPTS = 8
MAX_ERROR_LENGTH = 2000


class DeliveryError(BorderflowError):
    """A retryable failure (timeout, 5xx, peer unreachable): the message is tried again later."""

    status_code = 502


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (unknown recipient, rejected payload): the message becomes a dead
    letter at once."""


@dataclass(frozen=True)
class Envelope:
    """One claimed outbox row, as a transport is given it (a snapshot: no session needed)."""

    id: int
    topic: str
    recipient: str
    payload: dict[str, Any]
    dedup_key: str | None
    attempts: int
    """Attempts started, this one included (1 on the first try)."""
    created_at: datetime
    claimed_by: str
    claimed_until: datetime

    @property
    def idempotency_key(self) -> str:
        """What a receiver can use to drop a repeat (delivery is at least once)."""
        return self.dedup_key or f"outbox:{self.id}"


class Transport(Protocol):
    """Delivers one message. Returns on success; raises `DeliveryError` for a failure worth
    retrying and `PermanentDeliveryError` to give up. Must return or raise well within the
    claim's lease (give the underlying client a timeout)."""

    def send(self, message: Envelope) -> None: ...


class LogTransport:
    """The real adapter for now: writes each message to the log (logger `borderflow.outbox`)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    def send(self, message: Envelope) -> None:
        self._log.info(
            "outbox #%d %s -> %s (attempt %d): %s",
            message.id, message.topic, message.recipient, message.attempts,
            json.dumps(message.payload, ensure_ascii=False, sort_keys=True),
        )


class FakeTransport:
    """For tests: records what it sent; can be told to fail the next N sends, or to fail every
    send to a recipient (retryably or permanently)."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        """Messages delivered, in order."""
        self.tried: list[Envelope] = []
        """Every send attempt, failed ones included."""
        self._fail_next = 0
        self._fail_next_permanent = False
        self._failing: dict[str, bool] = {}

    def fail_next(self, times: int = 1, *, permanent: bool = False) -> None:
        self._fail_next = times
        self._fail_next_permanent = permanent

    def fail_for(self, recipient: str, *, permanent: bool = False) -> None:
        self._failing[recipient] = permanent

    def heal(self, recipient: str | None = None) -> None:
        """Stop failing for `recipient` (or stop failing at all)."""
        if recipient is None:
            self._failing.clear()
            self._fail_next = 0
        else:
            self._failing.pop(recipient, None)

    def send(self, message: Envelope) -> None:
        self.tried.append(message)
        if self._fail_next > 0:
            self._fail_next -= 1
            self._raise(self._fail_next_permanent, "told to fail")
        if message.recipient in self._failing:
            self._raise(self._failing[message.recipient], f"{message.recipient} is failing")
        self.sent.append(message)

    @staticmethod
    def _raise(permanent: bool, reason: str) -> None:
        if permanent:
            raise PermanentDeliveryError(f"fake transport: {reason} (permanent)")
        raise DeliveryError(f"fake transport: {reason}")


# --- enqueue -------------------------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    topic: str,
    recipient: str,
    payload: dict[str, Any],
    clock: Clock,
    dedup_key: str | None = None,
) -> OutboxMessage | None:
    """Add a message to the outbox in the caller's transaction (never commits).

    Returns the new row, or None when a message with the same `dedup_key` already exists
    (queued, sent or dead): the second enqueue is a no-op, also between concurrent transactions.
    """
    if not topic.strip():
        raise InvalidInput("must not be empty", field="topic")
    if not recipient.strip():
        raise InvalidInput("must not be empty", field="recipient")
    if dedup_key is not None and not dedup_key.strip():
        raise InvalidInput("must not be empty (leave it out instead)", field="dedup_key")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"is not JSON-serialisable: {exc}", field="payload") from exc
    now = clock.now()
    values = {
        "topic": topic, "recipient": recipient, "payload": payload, "dedup_key": dedup_key,
        "created_at": now, "available_at": now, "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(OutboxMessage)
    elif dialect == "sqlite":
        insert = sqlite.insert(OutboxMessage)
    else:  # pragma: no cover - SQLite and PostgreSQL are the supported databases
        raise NotImplementedError(f"outbox: no INSERT … ON CONFLICT for {dialect}")
    stmt = insert.values(**values)
    if dedup_key is not None:
        # Atomic on both databases: a concurrent enqueue with the same key waits for ours and
        # then does nothing, instead of failing the caller's whole transaction.
        stmt = stmt.on_conflict_do_nothing(index_elements=[OutboxMessage.dedup_key])
    return session.scalars(stmt.returning(OutboxMessage)).one_or_none()


# --- claim ---------------------------------------------------------------------------------------


def _claimable(now: datetime) -> list[Any]:
    return [
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.dead_at.is_(None),
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        OutboxMessage.available_at <= now,
    ]


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def claim_batch(
    session: Session,
    *,
    worker: str,
    clock: Clock,
    limit: int = 100,
    lease: timedelta = DEFAULT_LEASE,
    skip_locked: bool | None = None,
) -> list[Envelope]:
    """Claim up to `limit` due messages for `worker` until now + `lease`, oldest first.

    Each candidate is taken with a conditional UPDATE (still unsent, not dead, unclaimed or its
    lease expired, due) and counts only if exactly one row changed, so two senders never get the
    same row on either database. `skip_locked` (default: on PostgreSQL) picks the candidates with
    `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent senders take different rows instead of
    waiting for each other; False picks them with a plain SELECT (the only way on SQLite, where
    the caller should begin the transaction with `sqlite_begin="IMMEDIATE"`).

    Runs in the caller's transaction; commit it to make the claims visible, and keep it short.
    """
    if limit < 1:
        raise InvalidInput("must be at least 1", field="limit")
    if lease <= timedelta(0):
        raise InvalidInput("must be positive", field="lease")
    dialect = session.get_bind().dialect.name
    if skip_locked is None:
        skip_locked = dialect == "postgresql"
    elif skip_locked and dialect != "postgresql":
        raise ValueError(f"SKIP LOCKED needs PostgreSQL, not {dialect}")

    now = clock.now()
    until = now + lease
    candidates: Select[int] = (
        select(OutboxMessage.id)
        .where(*_claimable(now))
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .limit(limit)
    )
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    claimed: list[int] = []
    for row_id in session.scalars(candidates).all():
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, *_claimable(now))
            .values(claimed_by=worker, claimed_until=until,
                    attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) == 1:
            claimed.append(row_id)
    if not claimed:
        return []
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(claimed), OutboxMessage.claimed_by == worker)
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .execution_options(populate_existing=True)
    ).all()
    return [
        Envelope(id=r.id, topic=r.topic, recipient=r.recipient, payload=r.payload,
                 dedup_key=r.dedup_key, attempts=r.attempts, created_at=r.created_at,
                 claimed_by=worker, claimed_until=until)
        for r in rows
    ]


def _bury_exhausted(session: Session, *, now: datetime, max_attempts: int) -> int:
    """Dead-letter rows whose final attempt's claim expired unrecorded (their sender died while
    sending them, perhaps because of them), instead of claiming them for ever."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.dead_at.is_(None),
            OutboxMessage.claimed_until < now,
            OutboxMessage.attempts >= max_attempts,
        )
        .values(dead_at=now, claimed_by=None, claimed_until=None,
                last_error=f"claim expired unrecorded after the last of {max_attempts} attempts")
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


# --- deliver -------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    """Given up on in this pass (permanent failure, out of attempts, or died in a sender)."""
    skipped: int = 0
    """Claimed but not sent (the lease ran out first) or the claim was lost meanwhile."""
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"claimed {self.claimed}, sent {self.sent}, retry later {self.retried}, "
                f"dead {self.dead}, skipped {self.skipped}")


def backoff_delay(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` attempts: 30 s, 1 min, 2 min, … at most 1 h."""
    if attempts < 1:
        return timedelta(0)
    if attempts > 20:  # far past the cap; avoid huge powers
        return BACKOFF_CAP
    return min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)


@contextmanager
def _write(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction that takes SQLite's write lock at BEGIN (no-op on PostgreSQL)."""
    with session_scope(factory) as session:
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_LENGTH]


def deliver_pending(
    session_factory: sessionmaker[Session],
    *,
    transport: Transport,
    clock: Clock,
    worker: str,
    limit: int = 100,
    lease: timedelta = DEFAULT_LEASE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> DeliveryReport:
    """One pass of the sender: claim up to `limit` due messages (one short transaction), send
    them outside any transaction, and record each result in its own transaction."""
    if max_attempts < 1:
        raise InvalidInput("must be at least 1", field="max_attempts")
    report = DeliveryReport()
    with _write(session_factory) as session:
        report.dead += _bury_exhausted(session, now=clock.now(), max_attempts=max_attempts)
        batch = claim_batch(session, worker=worker, clock=clock, limit=limit, lease=lease)
    report.claimed = len(batch)

    for message in batch:
        if clock.now() >= message.claimed_until:
            # Too late: another sender may have taken it over. Leave it to the lease.
            report.skipped += 1
            continue
        try:
            transport.send(message)
        except PermanentDeliveryError as exc:
            outcome, error = "dead", _error_text(exc)
        except DeliveryError as exc:
            outcome, error = "retry", _error_text(exc)
        except Exception as exc:  # a bug in an adapter: retry, but never lose the claim's row
            log.exception("outbox #%d: transport %r raised", message.id, transport)
            outcome, error = "retry", _error_text(exc)
        else:
            outcome, error = "sent", ""
        if outcome == "retry" and message.attempts >= max_attempts:
            outcome, error = "dead", f"{error} (gave up after {message.attempts} attempts)"
        if error:
            report.errors.append(f"#{message.id}: {error}")
        with _write(session_factory) as session:
            recorded = _record(session, message, outcome=outcome, error=error, clock=clock)
        if not recorded:
            report.skipped += 1
        elif outcome == "sent":
            report.sent += 1
        elif outcome == "retry":
            report.retried += 1
        else:
            report.dead += 1
            log.warning("outbox #%d %s -> %s is a dead letter: %s",
                        message.id, message.topic, message.recipient, error)
    return report


def _record(session: Session, message: Envelope, *, outcome: str, error: str,
            clock: Clock) -> bool:
    now = clock.now()
    stmt = update(OutboxMessage).where(OutboxMessage.id == message.id,
                                       OutboxMessage.sent_at.is_(None))
    if outcome == "sent":
        # It was delivered, whoever holds the claim now: say so (and undo a dead letter made
        # meanwhile), so that nobody sends it again.
        stmt = stmt.values(sent_at=now, dead_at=None, claimed_by=None, claimed_until=None)
    else:
        # A failure is ours to record only while the claim is still ours.
        stmt = stmt.where(OutboxMessage.claimed_by == message.claimed_by,
                          OutboxMessage.dead_at.is_(None))
        if outcome == "retry":
            stmt = stmt.values(available_at=now + backoff_delay(message.attempts),
                               last_error=error, claimed_by=None, claimed_until=None)
        else:
            stmt = stmt.values(dead_at=now, last_error=error, claimed_by=None,
                               claimed_until=None)
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return _rowcount(result) == 1


# --- inspect -------------------------------------------------------------------------------------


def _pending() -> list[Any]:
    return [OutboxMessage.sent_at.is_(None), OutboxMessage.dead_at.is_(None)]


def pending_count(session: Session) -> int:
    """Messages not yet delivered and not given up on (due, waiting for a retry, or in flight)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(*_pending())) or 0


def dead_letters(session: Session, *, limit: int = 100) -> Sequence[OutboxMessage]:
    """The messages given up on, most recent first."""
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.dead_at.is_not(None))
        .order_by(OutboxMessage.dead_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ).all()


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    """Not delivered, not dead (the next three added up)."""
    due: int
    """Pending and may be claimed now."""
    in_flight: int
    """Pending and claimed by a sender whose lease has not run out."""
    waiting: int
    """Pending and backing off after a failure (available later)."""
    sent: int
    dead: int
    oldest_pending_at: datetime | None
    oldest_pending_age: timedelta | None


def status(session: Session, *, clock: Clock) -> OutboxStatus:
    now = clock.now()
    in_flight_expr = OutboxMessage.claimed_until >= now
    row = session.execute(
        select(
            func.count().filter(*_pending()),
            func.count().filter(*_pending(), in_flight_expr),
            func.count().filter(*_pending(), or_(OutboxMessage.claimed_until.is_(None),
                                                 OutboxMessage.claimed_until < now),
                                OutboxMessage.available_at > now),
            func.count().filter(OutboxMessage.sent_at.is_not(None)),
            func.count().filter(OutboxMessage.dead_at.is_not(None)),
            func.min(OutboxMessage.created_at).filter(*_pending()),
        ).select_from(OutboxMessage)
    ).one()
    pending, in_flight, waiting, sent, dead, oldest = row
    return OutboxStatus(
        pending=pending, due=pending - in_flight - waiting, in_flight=in_flight,
        waiting=waiting, sent=sent, dead=dead, oldest_pending_at=oldest,
        oldest_pending_age=None if oldest is None else now - oldest,
    )
