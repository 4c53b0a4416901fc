"""Run-time calendar exceptions: stored, audited, and in force at once (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from borderflow.audit.models import AuditEntry
from borderflow.errors import Conflict, InvalidInput, NotFound
from borderflow.network import service
from borderflow.network.models import CalendarExceptionRow
from borderflow.network.schemas import Direction

ICT = timezone(timedelta(hours=7))
DAY = datetime(2030, 6, 3, tzinfo=ICT)


def _capacity(session, lang_son, crossing="huu-nghi"):
    return service.crossing_capacity(
        session, network=lang_son, crossing_id=crossing, direction=Direction.export,
        start=DAY, end=DAY + timedelta(days=1),
    ).total


def test_exception_added_at_run_time_changes_capacity_immediately(session, lang_son, clock):
    before = _capacity(session, lang_son)
    assert before == 286  # 13 h (to 20:00 Hanoi time since Apr 2025) × 22 per hour
    service.add_exception(
        session, network=lang_son, actor="officer_hoa", clock=clock,
        exception_in={"kind": "closed", "crossings": ["huu-nghi"], "from": "2030-06-03",
                      "to": "2030-06-03", "reason": "Sudden quarantine check by the other side"},
    )
    assert _capacity(session, lang_son) == 0
    assert _capacity(session, lang_son, "chi-ma") == 52  # other crossings unaffected


def test_exception_is_audited_with_who_when_why(session, lang_son, clock):
    row = service.add_exception(
        session, network=lang_son, actor="officer_hoa", clock=clock,
        exception_in={"kind": "hours", "crossings": ["chi-ma"], "from": "2030-06-03",
                      "side": "vn", "hours": [["07:00", "21:00"]], "reason": "Durian peak"},
    )
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == str(row.id))
    ).one()
    assert entry.actor == "officer_hoa"
    assert entry.at == clock.now()
    assert entry.reason == "Durian peak"
    assert entry.action == "calendar_exception.add"
    assert entry.changes["hours"] == [{"start": "07:00", "end": "21:00"}]
    assert row.created_at.utcoffset() == timedelta(0)


def test_revoking_restores_capacity_and_is_audited(session, lang_son, clock):
    row = service.add_exception(
        session, network=lang_son, actor="officer_hoa", clock=clock,
        exception_in={"kind": "capacity", "crossings": ["huu-nghi"], "factor": 0.5,
                      "starts": "2030-06-03T00:00:00+07:00", "ends": "2030-06-04T00:00:00+07:00",
                      "reason": "Tightened checks"},
    )
    assert _capacity(session, lang_son) == 143
    service.revoke_exception(session, exception_id=row.id, actor="operator_an",
                             reason="Checks relaxed", clock=clock)
    assert _capacity(session, lang_son) == 286
    with pytest.raises(Conflict):
        service.revoke_exception(session, exception_id=row.id, actor="operator_an",
                                 reason="again", clock=clock)
    with pytest.raises(NotFound):
        service.revoke_exception(session, exception_id=10**9, actor="operator_an",
                                 reason="?", clock=clock)
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_id == str(row.id))
    ).all()
    assert sorted(actions) == ["calendar_exception.add", "calendar_exception.revoke"]


def test_exception_outside_the_range_does_not_apply(session, lang_son, clock):
    service.add_exception(
        session, network=lang_son, actor="officer_hoa", clock=clock,
        exception_in={"kind": "closed", "crossings": ["huu-nghi"], "from": "2030-06-04",
                      "reason": "From tomorrow, open-ended"},
    )
    assert _capacity(session, lang_son) == 286


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "closed", "crossings": ["atlantis"], "from": "2030-06-03", "reason": "x"},
         "exception.crossings"),
        ({"kind": "closed", "crossings": ["huu-nghi"], "reason": "x"}, "exception"),
        ({"kind": "suspended", "crossings": ["huu-nghi"], "starts": "2030-06-03T07:00:00",
          "reason": "naive"}, "starts"),
        ({"kind": "capacity", "crossings": ["huu-nghi"], "from": "2030-06-03", "reason": "x"},
         "exception"),
        ({"kind": "bogus", "crossings": ["huu-nghi"], "from": "2030-06-03", "reason": "x"},
         "kind"),
        ({"kind": "closed", "crossings": ["huu-nghi"], "route": "nope", "from": "2030-06-03",
          "reason": "x"}, "exception.route"),
    ],
)
def test_rejects_invalid_exception_naming_the_field_and_writes_nothing(
    session, lang_son, clock, spec, field
):
    before = session.scalar(select(func.count()).select_from(CalendarExceptionRow))
    with pytest.raises(InvalidInput) as err:
        service.add_exception(session, network=lang_son, actor="officer_hoa", clock=clock,
                              exception_in=spec)
    assert err.value.field is not None and err.value.field.startswith(field.split(".")[0])
    assert session.scalar(select(func.count()).select_from(CalendarExceptionRow)) == before
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_timestamps_round_trip_as_aware_utc(session, lang_son, clock):
    row = service.add_exception(
        session, network=lang_son, actor="officer_hoa", clock=clock,
        exception_in={"kind": "suspended", "crossings": ["chi-ma"],
                      "starts": "2030-06-03T07:00:00+08:00", "ends": "2030-06-03T09:00:00+08:00",
                      "reason": "Event on the Chinese side"},
    )
    session.flush()
    session.expire_all()
    again = session.get(CalendarExceptionRow, row.id)
    assert again is not None
    assert again.starts_at == datetime(2030, 6, 2, 23, 0, tzinfo=UTC)
    assert again.starts_at.tzinfo is not None
