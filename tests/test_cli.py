"""The `borderflow` command end to end, on SQLite and on PostgreSQL: help everywhere, the network
listing and check, capacity in both sides' local times, and run-time calendar exceptions that
change capacity at once, are listed with who added them, and are revoked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner, Result

from borderflow.audit.models import AuditEntry
from borderflow.cli import app
from borderflow.cli import context as cli_context
from borderflow.config import get_settings
from borderflow.network.loader import resolve_network_path
from borderflow.network.models import CalendarExceptionRow

LANG_SON = resolve_network_path("lang-son")
ALL_CROSSINGS = [
    "huu-nghi", "tan-thanh", "chi-ma", "coc-nam", "dong-dang-rail", "binh-nghi", "na-hinh",
    "na-nua",
]

runner = CliRunner()


def _reset_caches() -> None:
    get_settings.cache_clear()
    cli_context._factory.cache_clear()


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A wide terminal, the default network, and no way to touch the user's own database."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BORDERFLOW_NETWORK", raising=False)
    monkeypatch.delenv("BORDERFLOW_DATABASE_URL", raising=False)
    _reset_caches()
    yield
    _reset_caches()


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI pointed at the session's migrated test database (SQLite, then PostgreSQL)."""
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database_url)
    _reset_caches()
    yield database_url
    if cli_context._factory.cache_info().currsize:
        cli_context._factory(database_url).kw["bind"].dispose()
    _reset_caches()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone (any run of whitespace becomes one space)."""
    return " ".join(text.split())


def capacity(crossing: str, direction: str, first: str, last: str, *extra: str) -> Result:
    result = run("capacity", "--crossing", crossing, "--direction", direction,
                 "--from", first, "--to", last, *extra)
    assert result.exit_code == 0, result.output
    return result


def total(result: Result) -> int:
    match = re.search(r"Total: (\d+)", result.output)
    assert match, result.output
    return int(match.group(1))


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(CalendarExceptionRow)) or 0,
            conn.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


# --- help -----------------------------------------------------------------------------------


def _command_paths(command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*prefix, name))


COMMAND_PATHS = list(_command_paths(typer.main.get_command(app)))


def test_every_documented_command_is_in_the_tree():
    assert {
        ("network", "show"), ("network", "check"), ("capacity",), ("calendar", "add-exception"),
        ("calendar", "list"), ("calendar", "revoke"), ("db", "upgrade"),
    } <= set(COMMAND_PATHS)


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "borderflow")
def test_shows_help_for_every_command_and_sub_command(path):
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "--help" in result.output


def test_shows_the_sub_commands_when_a_group_is_called_bare():
    result = run("calendar")
    assert "add-exception" in result.output and "revoke" in result.output


# --- network show / check -------------------------------------------------------------------


def test_network_show_lists_every_crossing_with_names_and_yards():
    result = run("network", "show")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    for crossing_id in ALL_CROSSINGS:
        assert crossing_id in out
    assert "Lang Son (lang-son)" in out
    assert "友谊关口岸" in out and "Cửa khẩu quốc tế Hữu Nghị" in out
    assert "clearance-1116: 10 / 24" in out and "freight-1119: 12 / 28" in out
    assert "Xuan Cuong yard: 300" in out
    assert "suspended" in out


def test_network_show_takes_another_network_by_option():
    result = run("network", "show", "--network", "mong-cai")
    assert result.exit_code == 0, result.output
    assert "mong-cai" in result.output and "hoanh-mo" in result.output
    assert "huu-nghi" not in result.output


def test_network_check_accepts_the_shipped_files():
    result = run("network", "check", str(LANG_SON))
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "8 crossings" in flat(result.output)
    mong_cai = run("network", "check", str(resolve_network_path("mong-cai")))
    assert mong_cai.exit_code == 0, mong_cai.output


def test_network_check_rejects_a_broken_file_naming_the_key_path(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(
        LANG_SON.read_text(encoding="utf-8").replace(
            "directions.import = { lanes = 2, rate_per_lane_per_hour = 12",
            "directions.import = { lanes = -1, rate_per_lane_per_hour = 12",
            1,
        ),
        encoding="utf-8",
    )
    result = run("network", "check", str(broken))
    assert result.exit_code != 0
    out = flat(result.output)
    assert "crossings[huu-nghi].routes[clearance-1116].directions.import.lanes" in out
    assert "greater than or equal to 0" in out
    assert "broken.toml" in out
    assert "Traceback" not in result.output


def test_network_check_rejects_a_missing_file(tmp_path):
    result = run("network", "check", str(tmp_path / "nowhere.toml"))
    assert result.exit_code != 0
    assert "file not found" in flat(result.output)


# --- capacity -------------------------------------------------------------------------------


def test_capacity_shows_vietnam_and_china_local_times_and_tet_restrictions(db):
    result = capacity("huu-nghi", "export", "2024-02-09", "2024-02-19")
    lines = result.output.splitlines()
    # 07:00 in Hanoi is 08:00 in Pingxiang: the same slot, on one row.
    assert any("09 Feb 07:00" in line and "09 Feb 08:00" in line for line in lines), result.output
    assert not any("09 Feb 06:00" in line and "09 Feb 07:00" in line for line in lines)
    prereg = [line for line in lines if "pre-registered only" in line]
    assert prereg and all(re.search(r"1[4-7] Feb", line) for line in prereg)
    assert any("14 Feb 07:00" in line for line in prereg)
    # Closed 10–13 Feb (brief §4): nothing open on those days.
    assert not any(re.search(r"1[0-3] Feb \d\d:\d\d", line) for line in lines)
    per_day = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"(\d\d \w\w\w 2024)\s*│\s*(\d+)", result.output)
    }
    assert per_day["09 Feb 2024"] == 264  # 12 h × (10 + 12) per hour
    assert per_day["10 Feb 2024"] == per_day["13 Feb 2024"] == 0
    assert per_day["14 Feb 2024"] == 264 and per_day["19 Feb 2024"] == 264


def test_capacity_rejects_a_start_without_offset(db):
    result = run("capacity", "--crossing", "huu-nghi", "--direction", "export",
                 "--from", "2024-02-09T07:00", "--to", "2024-02-10")
    assert result.exit_code != 0
    assert "has no UTC offset" in flat(result.output)


def test_capacity_rejects_an_unknown_crossing(db):
    result = run("capacity", "--crossing", "mong-cai", "--direction", "export",
                 "--from", "2024-02-09", "--to", "2024-02-10")
    assert result.exit_code != 0
    assert "no crossing 'mong-cai' in network lang-son" in flat(result.output)


# --- calendar exceptions --------------------------------------------------------------------

SUSPENSION = [
    "calendar", "add-exception", "--crossing", "chi-ma", "--kind", "suspended",
    "--reason", "CLI test suspension", "--actor", "officer-tran",
    "--starts", "2031-03-04T09:00:00+07:00", "--ends", "2031-03-04T11:00:00+07:00",
]


def test_added_suspension_reduces_capacity_is_listed_and_revoking_restores_it(db, engine):
    day = ("chi-ma", "export", "2031-03-04", "2031-03-04")
    # 13 h × 4 per hour: chi-ma works 07:00–20:00 Hanoi time since the open-ended Apr 2025
    # extension in lang-son.toml (a Tuesday, no holiday on either side).
    assert total(capacity(*day)) == 52
    rows_before, audit_before = counts(engine)

    added = run(*SUSPENSION)
    assert added.exit_code == 0, added.output
    match = re.search(r"added exception (\d+)", added.output)
    assert match, added.output
    exception_id = match.group(1)
    assert counts(engine) == (rows_before + 1, audit_before + 1)

    assert total(capacity(*day)) == 44  # 09:00–11:00 Hanoi time suspended: 2 × 4 fewer
    detail = capacity(*day, "--all")
    suspended = [line for line in detail.output.splitlines() if "CLI test suspension" in line]
    cells = [[cell.strip() for cell in line.split("│")[1:5]] for line in suspended]
    assert cells == [  # Vietnam, China (one hour later), open minutes, capacity
        ["Tue 04 Mar 09:00", "Tue 04 Mar 10:00", "0", "0"],
        ["Tue 04 Mar 10:00", "Tue 04 Mar 11:00", "0", "0"],
    ]
    assert total(capacity("chi-ma", "export", "2031-03-05", "2031-03-05")) == 52  # next day

    listed = run("calendar", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines()
               if re.match(rf"│ {exception_id}\s", line))
    assert "suspended" in row and "chi-ma" in row and "officer-tran" in row
    assert "2031-03-04T02:00:00+00:00" in row  # stored in UTC
    assert "CLI test suspension" in row

    revoked = run("calendar", "revoke", exception_id, "--actor", "officer-le",
                  "--reason", "event cancelled")
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked exception {exception_id}" in revoked.output
    assert total(capacity(*day)) == 52
    assert not re.search(rf"│ {exception_id}\s", run("calendar", "list").output)

    again = run("calendar", "revoke", exception_id, "--actor", "officer-le", "--reason", "x")
    assert again.exit_code != 0
    assert "already revoked" in flat(again.output)


def test_added_closure_by_days_closes_the_whole_day(db):
    day = ("coc-nam", "import", "2031-03-11", "2031-03-11")
    assert total(capacity(*day)) == 24
    added = run("calendar", "add-exception", "--crossing", "coc-nam", "--kind", "closed",
                "--reason", "CLI test closure", "--actor", "officer-tran",
                "--from", "2031-03-11", "--to", "2031-03-11")
    assert added.exit_code == 0, added.output
    exception_id = re.search(r"added exception (\d+)", added.output).group(1)
    try:
        assert total(capacity(*day)) == 0
        assert total(capacity("coc-nam", "import", "2031-03-12", "2031-03-12")) == 24
    finally:
        run("calendar", "revoke", exception_id, "--actor", "officer-tran", "--reason", "test")
    assert total(capacity(*day)) == 24


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [
        ({"chi-ma": "nowhere"}, [], "unknown crossing 'nowhere'"),
        ({"2031-03-04T09:00:00+07:00": "2031-03-04T09:00:00"}, [],
         "starts: must carry a UTC offset"),
        ({"2031-03-04T11:00:00+07:00": "2031-03-04T08:00:00+07:00"}, [],
         "ends is not after starts"),
        ({"officer-tran": "  "}, [], "who is adding the exception must be named"),
        ({}, ["--from", "2031-03-04"],
         "give either from/to (dates) or starts/ends (instants), not both"),
        ({}, ["--window", "09:00-11:00"], "window applies to from/to dates only"),
        ({"suspended": "capacity"}, [], "a capacity exception needs factor"),
        ({}, ["--route", "nope"], "crossing chi-ma has no route 'nope'"),
    ],
    ids=["unknown-crossing", "naive-starts", "ends-before-starts", "blank-actor",
         "days-and-instants", "window-with-instants", "capacity-without-factor",
         "unknown-route"],
)
def test_rejects_a_bad_exception_with_a_clear_message_and_writes_nothing(db, engine, change,
                                                                         extra, message):
    args = [change.get(a, a) for a in SUSPENSION] + extra
    before = counts(engine)
    result = run(*args)
    assert result.exit_code != 0
    out = flat(result.output)
    assert out.startswith("error:"), out
    assert message in out
    assert "Traceback" not in result.output
    assert counts(engine) == before
    assert total(capacity("chi-ma", "export", "2031-03-04", "2031-03-04")) == 52


def test_rejects_revoking_an_unknown_exception(db):
    result = run("calendar", "revoke", "987654", "--actor", "officer-le", "--reason", "typo")
    assert result.exit_code != 0
    assert "no calendar exception 987654" in flat(result.output)


# --- database -------------------------------------------------------------------------------


def test_db_upgrade_succeeds_on_a_migrated_database(db):
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output


def test_db_upgrade_creates_a_new_sqlite_database(monkeypatch, tmp_path):
    path = tmp_path / "fresh" / "borderflow.sqlite3"
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert path.exists()
    listed = run("calendar", "list")
    assert listed.exit_code == 0, listed.output
