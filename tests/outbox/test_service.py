"""The outbox on SQLite and PostgreSQL: messages enqueued in the caller's transaction (and rolled
back with it), deduplicated, delivered with backoff, given up on as dead letters, recovered after a
sender dies, and never claimed by two senders at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from borderflow.audit import service as audit
from borderflow.audit.models import AuditEntry
from borderflow.cli import context as cli_context
from borderflow.clock import FixedClock
from borderflow.config import get_settings
from borderflow.errors import InvalidInput
from borderflow.outbox import service
from borderflow.outbox.cli import outbox_app
from borderflow.outbox.models import OutboxMessage
from borderflow.outbox.service import (
    DeliveryError,
    Envelope,
    FakeTransport,
    claim_batch,
    deliver_pending,
    enqueue,
    pending_count,
)

ORG = "org:6f1c2a4e-1111-4c3b-9d7e-0a1b2c3d4e5f"
DRIVER = "phone:+84912345678"
PEER = "peer:cn"
LEASE = timedelta(minutes=5)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def outbox(session: Session) -> Session:
    """The test's rolled-back session, with the outbox table made inside its transaction."""
    # remove once migration 0003 exists
    OutboxMessage.__table__.create(bind=session.connection(), checkfirst=True)
    return session


@pytest.fixture
def factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (for the sender and for concurrency); rows made are removed."""
    table = OutboxMessage.__table__
    # remove once migration 0003 exists (keep the row clean-up below)
    created = not inspect(engine).has_table(table.name)
    if created:
        table.create(bind=engine)
    with engine.connect() as conn:
        before = conn.scalar(select(func.max(OutboxMessage.id))) or 0
    yield sessionmaker(bind=engine, expire_on_commit=False)
    if created:
        table.drop(bind=engine)
    else:
        with engine.begin() as conn:
            conn.execute(delete(OutboxMessage).where(OutboxMessage.id > before))


def _put(factory: sessionmaker[Session], clock: FixedClock, n: int = 1, *,
         recipient: str = ORG, topic: str = "booking.replanned") -> list[int]:
    """Commit `n` messages; their ids."""
    with factory.begin() as s:
        rows = [enqueue(s, topic=topic, recipient=recipient, payload={"booking": i}, clock=clock)
                for i in range(n)]
        return [r.id for r in rows if r is not None]


def _row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        return row


def _deliver(factory: sessionmaker[Session], transport: FakeTransport, clock: FixedClock,
             worker: str = "sender-a", **kw: object) -> service.DeliveryReport:
    return deliver_pending(factory, transport=transport, clock=clock, worker=worker, **kw)


# --- enqueue -------------------------------------------------------------------------------------


def test_enqueue_belongs_to_the_callers_transaction_and_rolls_back_with_the_change(factory, clock):
    transport = FakeTransport()
    with factory() as s:
        audit.record(s, clock=clock, actor="dispatcher_lan", action="booking.replanned",
                     entity="booking", entity_id="bk-rolled-back")
        msg = enqueue(s, topic="booking.replanned", recipient=ORG,
                      payload={"booking": "bk-rolled-back", "slot": "2026-11-23T08:00+07:00"},
                      clock=clock)
        assert msg is not None and msg.id is not None
        with factory() as other:  # enqueue never commits: nobody else sees it yet
            assert pending_count(other) == 0
        s.rollback()  # the change fails: its message goes with it

    report = _deliver(factory, transport, clock)
    assert (report.claimed, report.sent) == (0, 0)
    assert transport.tried == []
    with factory() as s:
        assert pending_count(s) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.entity_id == "bk-rolled-back")) == 0

    with factory.begin() as s:  # the same change committed: its message leaves afterwards
        enqueue(s, topic="booking.replanned", recipient=ORG, payload={"booking": "bk-2"},
                clock=clock)
    report = _deliver(factory, transport, clock)
    assert report.sent == 1
    assert [(m.topic, m.recipient, m.payload) for m in transport.sent] == [
        ("booking.replanned", ORG, {"booking": "bk-2"})
    ]


def test_a_second_enqueue_with_the_same_dedup_key_is_a_no_op(outbox, clock):
    first = enqueue(outbox, topic="notify.driver", recipient=DRIVER, payload={"text": "slot 08:00"},
                    clock=clock, dedup_key="replan:bk-1:v2")
    second = enqueue(outbox, topic="notify.driver", recipient=DRIVER,
                     payload={"text": "slot 08:00 (again)"}, clock=clock,
                     dedup_key="replan:bk-1:v2")
    assert first is not None and second is None
    assert pending_count(outbox) == 1
    assert outbox.scalars(select(OutboxMessage.payload)).all() == [{"text": "slot 08:00"}]

    # Another key, or no key at all, makes new messages.
    assert enqueue(outbox, topic="notify.driver", recipient=DRIVER, payload={}, clock=clock,
                   dedup_key="replan:bk-1:v3") is not None
    assert enqueue(outbox, topic="notify.driver", recipient=DRIVER, payload={}, clock=clock)
    assert enqueue(outbox, topic="notify.driver", recipient=DRIVER, payload={}, clock=clock)
    assert pending_count(outbox) == 4

    # Still a no-op once the first one has been sent.
    first.sent_at = clock.now()
    outbox.flush()
    assert enqueue(outbox, topic="notify.driver", recipient=DRIVER, payload={}, clock=clock,
                   dedup_key="replan:bk-1:v2") is None


def test_concurrent_enqueues_with_the_same_dedup_key_make_one_message(factory, clock):
    results: list[object] = []

    def second() -> None:
        with factory.begin() as s:
            results.append(enqueue(s, topic="exchange.cn", recipient=PEER, payload={"n": 2},
                                   clock=clock, dedup_key="manifest:42"))

    with factory() as s:
        assert enqueue(s, topic="exchange.cn", recipient=PEER, payload={"n": 1}, clock=clock,
                       dedup_key="manifest:42") is not None
        t = threading.Thread(target=second)
        t.start()
        t.join(0.3)
        assert t.is_alive()  # the second waits for the first transaction's outcome
        s.commit()
    t.join(30)
    assert results == [None]
    with factory() as s:
        assert s.scalars(select(OutboxMessage.payload)
                         .where(OutboxMessage.dedup_key == "manifest:42")).all() == [{"n": 1}]


@pytest.mark.parametrize("field,kw", [
    ("topic", {"topic": " "}),
    ("recipient", {"recipient": ""}),
    ("dedup_key", {"dedup_key": ""}),
    ("payload", {"payload": {"at": object()}}),
])
def test_enqueue_refuses_bad_input_naming_the_field(outbox, clock, field, kw):
    args = {"topic": "notify.driver", "recipient": DRIVER, "payload": {}, **kw}
    with pytest.raises(InvalidInput) as err:
        enqueue(outbox, clock=clock, **args)
    assert err.value.field == field
    assert pending_count(outbox) == 0


# --- claim ---------------------------------------------------------------------------------------


def test_claim_takes_due_rows_oldest_first_and_a_second_worker_gets_the_others(outbox, clock):
    ids = [enqueue(outbox, topic="notify.driver", recipient=DRIVER, payload={"i": i},
                   clock=clock).id for i in range(5)]
    later, sent, dead = (outbox.get(OutboxMessage, i) for i in ids[:3])
    later.available_at = clock.now() + timedelta(minutes=1)
    sent.sent_at = clock.now()
    dead.dead_at = clock.now()
    outbox.flush()

    a = claim_batch(outbox, worker="a", clock=clock, limit=1, lease=LEASE)
    b = claim_batch(outbox, worker="b", clock=clock, limit=10, lease=LEASE)
    assert [m.id for m in a] == [ids[3]]
    assert [m.id for m in b] == [ids[4]]
    assert a[0].claimed_by == "a" and a[0].claimed_until == clock.now() + LEASE
    assert a[0].attempts == 1 and a[0].payload == {"i": 3}
    assert claim_batch(outbox, worker="c", clock=clock, limit=10, lease=LEASE) == []
    outbox.expire_all()
    assert outbox.get(OutboxMessage, ids[3]).claimed_by == "a"

    clock.advance(timedelta(minutes=1))  # `later` is due now
    assert [m.id for m in claim_batch(outbox, worker="c", clock=clock, limit=10, lease=LEASE)
            ] == [ids[0]]


def test_an_expired_lease_lets_another_worker_claim_the_row(outbox, clock):
    row = enqueue(outbox, topic="exchange.cn", recipient=PEER, payload={}, clock=clock)
    assert [m.id for m in claim_batch(outbox, worker="a", clock=clock, lease=LEASE)] == [row.id]
    clock.advance(LEASE)  # the lease runs until the end of the instant
    assert claim_batch(outbox, worker="b", clock=clock, lease=LEASE) == []
    clock.advance(timedelta(seconds=1))
    again = claim_batch(outbox, worker="b", clock=clock, lease=LEASE)
    assert [(m.id, m.claimed_by, m.attempts) for m in again] == [(row.id, "b", 2)]


def test_claim_refuses_bad_arguments(outbox, clock):
    with pytest.raises(InvalidInput):
        claim_batch(outbox, worker="a", clock=clock, limit=0)
    with pytest.raises(InvalidInput):
        claim_batch(outbox, worker="a", clock=clock, lease=timedelta(0))
    if outbox.get_bind().dialect.name == "sqlite":
        with pytest.raises(ValueError, match="PostgreSQL"):
            claim_batch(outbox, worker="a", clock=clock, skip_locked=True)


# --- deliver -------------------------------------------------------------------------------------


def test_delivery_sets_sent_at_and_releases_the_claim(factory, clock):
    [row_id] = _put(factory, clock)
    transport = FakeTransport()
    report = _deliver(factory, transport, clock)
    assert (report.claimed, report.sent, report.retried, report.dead) == (1, 1, 0, 0)
    row = _row(factory, row_id)
    assert row.sent_at == clock.now()
    assert (row.claimed_by, row.claimed_until, row.attempts, row.last_error) == (None, None, 1,
                                                                                  None)
    assert [m.id for m in transport.sent] == [row_id]
    assert transport.sent[0].idempotency_key == f"outbox:{row_id}"
    assert _deliver(factory, transport, clock).claimed == 0  # never twice
    with factory() as s:
        assert pending_count(s) == 0


def test_a_retryable_failure_backs_off_and_succeeds_once_the_clock_passes_available_at(
        factory, clock):
    [row_id] = _put(factory, clock, topic="notify.driver", recipient=DRIVER)
    transport = FakeTransport()
    transport.fail_next(2)
    start = clock.now()

    report = _deliver(factory, transport, clock)
    assert (report.claimed, report.retried, report.sent) == (1, 1, 0)
    row = _row(factory, row_id)
    assert row.attempts == 1 and row.available_at == start + timedelta(seconds=30)
    assert row.claimed_by is None and "told to fail" in (row.last_error or "")
    assert row.sent_at is None

    assert _deliver(factory, transport, clock).claimed == 0  # not before available_at
    clock.advance(timedelta(seconds=29))
    assert _deliver(factory, transport, clock).claimed == 0
    clock.advance(timedelta(seconds=1))
    assert _deliver(factory, transport, clock).retried == 1  # second failure: twice as long
    row = _row(factory, row_id)
    assert row.attempts == 2 and row.available_at == clock.now() + timedelta(seconds=60)

    clock.advance(timedelta(seconds=60))
    assert _deliver(factory, transport, clock).sent == 1
    row = _row(factory, row_id)
    assert row.sent_at == clock.now() and row.attempts == 3
    assert [m.id for m in transport.sent] == [row_id] and len(transport.tried) == 3


def test_backoff_doubles_from_30_seconds_up_to_an_hour():
    assert [service.backoff_delay(n).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600
    ]
    assert service.backoff_delay(500) == timedelta(hours=1)


def test_a_permanent_failure_makes_a_dead_letter_at_once(factory, clock):
    [row_id] = _put(factory, clock, recipient="phone:+84900000000")
    [other] = _put(factory, clock)
    transport = FakeTransport()
    transport.fail_for("phone:+84900000000", permanent=True)

    report = _deliver(factory, transport, clock)
    assert (report.sent, report.dead) == (1, 1)
    row = _row(factory, row_id)
    assert row.dead_at == clock.now() and row.sent_at is None and row.claimed_by is None
    assert "permanent" in (row.last_error or "")
    assert [m.id for m in transport.sent] == [other]
    with factory() as s:
        assert [m.id for m in service.dead_letters(s)] == [row_id]
        assert pending_count(s) == 0
    clock.advance(timedelta(days=1))
    assert _deliver(factory, transport, clock).claimed == 0


def test_running_out_of_attempts_makes_a_dead_letter(factory, clock):
    [row_id] = _put(factory, clock, recipient=PEER, topic="exchange.cn")
    transport = FakeTransport()
    transport.fail_for(PEER)
    for wait in (0, 30, 60):
        clock.advance(timedelta(seconds=wait))
        report = _deliver(factory, transport, clock, max_attempts=3)
        assert report.claimed == 1
    assert (report.retried, report.dead) == (0, 1)
    row = _row(factory, row_id)
    assert row.attempts == 3 and row.dead_at == clock.now()
    assert "gave up after 3 attempts" in (row.last_error or "")
    clock.advance(timedelta(hours=2))
    transport.heal()
    assert _deliver(factory, transport, clock, max_attempts=3).claimed == 0
    assert transport.sent == []


def test_a_crashed_senders_claims_expire_with_the_lease_and_nothing_is_lost(factory, clock):
    [row_id] = _put(factory, clock)
    with factory.begin() as s:  # sender A claims, then dies before sending or recording
        assert [m.id for m in claim_batch(s, worker="sender-a", clock=clock, lease=LEASE)
                ] == [row_id]
    transport = FakeTransport()
    assert _deliver(factory, transport, clock, worker="sender-b").claimed == 0  # A's, for now
    clock.advance(LEASE + timedelta(seconds=1))
    report = _deliver(factory, transport, clock, worker="sender-b")
    assert report.sent == 1
    assert [(m.id, m.claimed_by, m.attempts) for m in transport.sent] == [(row_id, "sender-b", 2)]


def test_a_message_that_kills_its_sender_on_the_last_attempt_becomes_a_dead_letter(factory, clock):
    [row_id] = _put(factory, clock)
    with factory.begin() as s:
        claim_batch(s, worker="sender-a", clock=clock, lease=LEASE)  # attempt 1 of 1; A dies
    clock.advance(LEASE + timedelta(seconds=1))
    transport = FakeTransport()
    report = _deliver(factory, transport, clock, worker="sender-b", max_attempts=1)
    assert (report.claimed, report.dead) == (0, 1)
    row = _row(factory, row_id)
    assert row.dead_at == clock.now() and "claim expired" in (row.last_error or "")
    assert transport.tried == []


def test_a_message_whose_lease_ran_out_during_the_batch_is_left_for_the_next_pass(factory,
                                                                                 clock):
    first, second = _put(factory, clock, 2)

    class Slow(FakeTransport):
        def send(self, message: Envelope) -> None:
            super().send(message)
            clock.advance(LEASE)  # the first send takes the whole lease

    slow = Slow()
    report = _deliver(factory, slow, clock)
    assert (report.claimed, report.sent, report.skipped) == (2, 1, 1)
    assert [m.id for m in slow.sent] == [first]
    clock.advance(timedelta(seconds=1))
    transport = FakeTransport()
    assert _deliver(factory, transport, clock, worker="sender-b").sent == 1
    assert [m.id for m in transport.sent] == [second]


def test_an_unexpected_transport_exception_is_retried_not_lost(factory, clock):
    [row_id] = _put(factory, clock)

    class Broken(FakeTransport):
        def send(self, message: Envelope) -> None:
            raise KeyError("bug in an adapter")

    report = _deliver(factory, Broken(), clock)
    assert report.retried == 1
    row = _row(factory, row_id)
    assert row.claimed_by is None and (row.last_error or "").startswith("KeyError")


def test_a_failure_is_not_recorded_over_a_claim_another_worker_now_holds(factory, clock):
    [row_id] = _put(factory, clock)

    class TakenOver(FakeTransport):
        def send(self, message: Envelope) -> None:
            # A is so slow that its lease runs out and B takes the row over meanwhile.
            clock.advance(LEASE + timedelta(seconds=1))
            with factory.begin() as s:
                claim_batch(s, worker="sender-b", clock=clock, lease=LEASE)
            raise DeliveryError("timeout")

    report = _deliver(factory, TakenOver(), clock)
    assert (report.retried, report.skipped) == (0, 1)
    row = _row(factory, row_id)
    assert row.claimed_by == "sender-b" and row.last_error is None


def test_status_counts_pending_sent_and_dead_and_the_oldest_pending_age(factory, clock):
    _put(factory, clock)
    assert _deliver(factory, FakeTransport(), clock).sent == 1
    clock.advance(timedelta(minutes=10))
    _put(factory, clock, 3, recipient=PEER)
    dead = FakeTransport()
    dead.fail_for(PEER, permanent=True)
    dead_report = _deliver(factory, dead, clock, limit=1)
    assert dead_report.dead == 1
    retry = FakeTransport()
    retry.fail_for(PEER)
    assert _deliver(factory, retry, clock, limit=1).retried == 1
    with factory.begin() as s:
        claim_batch(s, worker="sender-c", clock=clock, limit=1, lease=LEASE)  # in flight
    _put(factory, clock, 1)  # due
    clock.advance(timedelta(seconds=5))
    with factory() as s:
        st = service.status(s, clock=clock)
    assert (st.pending, st.due, st.in_flight, st.waiting, st.sent, st.dead) == (3, 1, 1, 1, 1, 1)
    assert st.oldest_pending_age == timedelta(seconds=5)


# --- two senders at once -------------------------------------------------------------------------


@pytest.mark.parametrize("skip_locked", [False, True], ids=["conditional-update", "skip-locked"])
def test_two_workers_claiming_concurrently_never_get_the_same_row(factory, engine, clock,
                                                                  skip_locked):
    if skip_locked and engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite uses the conditional UPDATE alone")
    ids = set(_put(factory, clock, 150))
    got: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        # Both keep claiming until every row is taken (an empty batch only means the other
        # worker won this round), yielding between transactions so that they interleave.
        deadline = time.monotonic() + 60
        try:
            start.wait()
            while len(got["a"]) + len(got["b"]) < len(ids) and time.monotonic() < deadline:
                with factory() as s:
                    s.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                    batch = claim_batch(s, worker=name, clock=clock, limit=7, lease=LEASE,
                                        skip_locked=skip_locked)
                    s.commit()
                got[name].extend(m.id for m in batch)
                time.sleep(0.002)
        except BaseException as exc:  # report it in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    a, b = set(got["a"]), set(got["b"])
    assert len(a) == len(got["a"]) and len(b) == len(got["b"])
    assert not a & b
    assert a | b == ids
    with factory() as s:
        claimed = {i: w for i, w in s.execute(select(OutboxMessage.id, OutboxMessage.claimed_by)
                                              .where(OutboxMessage.id.in_(ids)))}
    assert {i for i, w in claimed.items() if w == "a"} == a


def test_skip_locked_takes_other_rows_without_waiting_for_an_open_claim(factory, engine, clock):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    ids = _put(factory, clock, 10)
    with factory() as a, factory() as b:
        first = claim_batch(a, worker="a", clock=clock, limit=5, lease=LEASE, skip_locked=True)
        # A has not committed: its rows are locked. B must not wait for them.
        b.execute(select(func.set_config("lock_timeout", "2s", True)))
        second = claim_batch(b, worker="b", clock=clock, limit=5, lease=LEASE, skip_locked=True)
        b.commit()
        a.commit()
    assert [m.id for m in first] == ids[:5]
    assert [m.id for m in second] == ids[5:]


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def cli_db(database_url: str, factory, clock, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> Iterator[None]:
    from borderflow.outbox import cli as outbox_cli

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database_url)
    monkeypatch.setattr(outbox_cli, "clock", lambda: clock)
    get_settings.cache_clear()
    cli_context._factory.cache_clear()
    yield
    if cli_context._factory.cache_info().currsize:
        cli_context._factory(database_url).kw["bind"].dispose()
    get_settings.cache_clear()
    cli_context._factory.cache_clear()


def test_cli_send_delivers_to_the_log_and_status_counts(cli_db, factory, clock, caplog):
    _put(factory, clock, 2, topic="notify.driver", recipient=DRIVER)
    runner = CliRunner()
    caplog.set_level("INFO", logger="borderflow.outbox")
    result = runner.invoke(outbox_app, ["send", "--worker", "cli-test"])
    assert result.exit_code == 0, result.output
    assert "claimed 2, sent 2" in result.output
    assert sum("notify.driver -> phone:+84912345678" in r.getMessage()
               for r in caplog.records) == 2

    _put(factory, clock, 1)
    clock.advance(timedelta(minutes=3))
    result = runner.invoke(outbox_app, ["status"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.replace("│", " ").split())
    assert "pending 1" in out and "sent 2" in out and "dead 0" in out
    assert "oldest pending: 3m 00s" in out
