"""The network files: the shipped `lang-son` network matches the brief, every number in a shipped
file says where it comes from, broken files are refused with the file, the key path and the
reason, and another network is picked by name, path or $BORDERFLOW_NETWORK without code changes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borderflow.cli import app
from borderflow.cli import context as cli_context
from borderflow.config import get_settings
from borderflow.errors import NetworkFileError
from borderflow.network.loader import (
    load_network,
    load_network_file,
    resolve_network_path,
    shipped_networks,
)
from borderflow.network.schemas import (
    CrossingClass,
    CrossingKind,
    CrossingState,
    Direction,
    Network,
    Side,
)

LANG_SON_TEXT = resolve_network_path("lang-son").read_text(encoding="utf-8")
CJK = re.compile(r"[\u3400-\u9fff]")

# id: (kind, class, state) per the brief §1.
BRIEF_CROSSINGS = {
    "huu-nghi": ("road", "international", "open"),
    "tan-thanh": ("road", "main", "open"),
    "chi-ma": ("road", "main", "open"),
    "coc-nam": ("road", "main", "open"),
    "dong-dang-rail": ("rail", "international", "open"),
    "binh-nghi": ("road", "auxiliary", "suspended"),
    "na-hinh": ("road", "auxiliary", "suspended"),
    "na-nua": ("road", "auxiliary", "suspended"),
}


# --- (a) the shipped lang-son network is the brief's ----------------------------------------


def test_lang_son_has_every_crossing_of_the_brief(lang_son: Network):
    assert {c.id for c in lang_son.crossings} == set(BRIEF_CROSSINGS)
    assert lang_son.id == "lang-son"
    assert lang_son.network.home_tz == "Asia/Ho_Chi_Minh"


@pytest.mark.parametrize("crossing_id", sorted(BRIEF_CROSSINGS))
def test_lang_son_crossing_has_the_kind_class_and_status_of_the_brief(lang_son, crossing_id):
    kind, class_, state = BRIEF_CROSSINGS[crossing_id]
    c = lang_son.crossing(crossing_id)
    assert c.kind is CrossingKind(kind)
    assert c.class_ is CrossingClass(class_)
    assert c.status.state is CrossingState(state)


def test_dong_dang_is_the_only_rail_crossing(lang_son):
    rail = [c.id for c in lang_son.crossings if c.kind is CrossingKind.rail]
    assert rail == ["dong-dang-rail"]


def test_binh_nghi_is_suspended_with_a_reason(lang_son):
    status = lang_son.crossing("binh-nghi").status
    assert status.state is CrossingState.suspended
    assert status.reason and "suspended" in status.reason.lower()


@pytest.mark.parametrize("crossing_id", ["na-hinh", "na-nua"])
def test_na_hinh_and_na_nua_are_suspended_since_may_2024(lang_son, crossing_id):
    status = lang_son.crossing(crossing_id).status
    assert status.state is CrossingState.suspended
    assert status.since == date(2024, 5, 1)
    assert status.reason and "May 2024" in status.reason


def test_huu_nghi_has_its_clearance_area_and_dedicated_freight_road(lang_son):
    routes = {r.id: r for r in lang_son.crossing("huu-nghi").routes}
    assert set(routes) == {"clearance-1116", "freight-1119"}
    assert routes["clearance-1116"].markers == "1116–1117"
    assert routes["freight-1119"].markers == "1119–1120"


def test_tan_thanh_has_the_dedicated_freight_road_1088(lang_son):
    routes = {r.id: r for r in lang_son.crossing("tan-thanh").routes}
    assert "freight-1088" in routes
    assert routes["freight-1088"].markers == "1088/2–1089"


@pytest.mark.parametrize("crossing_id", sorted(BRIEF_CROSSINGS))
def test_every_route_has_lanes_and_a_rate_both_ways(lang_son, crossing_id):
    for route in lang_son.crossing(crossing_id).routes:
        for direction in Direction:
            rate = route.directions[direction]
            assert rate.lanes >= 1
            assert rate.per_hour > 0


def test_gate_yards_and_staging_areas_have_capacities(lang_son):
    yards = {c.id: {y.id: y for y in c.yards} for c in lang_son.crossings}
    assert yards["huu-nghi"]["xuan-cuong"].capacity == 300
    assert yards["tan-thanh"]["bao-nguyen"].capacity == 250
    assert yards["chi-ma"]["chi-ma-yard"].capacity == 80
    staging = {y.id: y for y in lang_son.staging_areas}
    assert staging["viettel-logistics-park"].kind == "overflow"
    assert staging["chi-lang"].kind == "staging"
    assert staging["chi-lang"].distance_km == 80
    for yard in [y for c in lang_son.crossings for y in c.yards] + lang_son.staging_areas:
        assert yard.capacity > 0, yard.id
        assert yard.source, yard.id


@pytest.mark.parametrize("crossing_id", sorted(BRIEF_CROSSINGS))
def test_crossing_is_named_in_vietnamese_english_and_chinese_on_both_sides(lang_son, crossing_id):
    c = lang_son.crossing(crossing_id)
    assert set(c.names) == {Side.vn, Side.cn}
    for side in Side:
        names = c.names[side]
        assert names.vi.strip() and names.en.strip() and names.zh.strip()
        assert CJK.search(names.zh), f"{crossing_id} {side}: zh name {names.zh!r} has no hanzi"
        assert not CJK.search(names.en), f"{crossing_id} {side}: en name {names.en!r}"
    for route in c.routes:
        assert route.name.vi and route.name.en and CJK.search(route.name.zh)


def test_chinese_names_match_the_brief(lang_son):
    zh = {c.id: c.names[Side.cn].zh for c in lang_son.crossings}
    assert "友谊关" in zh["huu-nghi"]
    assert "浦寨" in zh["tan-thanh"]
    assert "爱店" in zh["chi-ma"]
    assert "弄尧" in zh["coc-nam"]
    assert "凭祥站" in zh["dong-dang-rail"]
    assert "平而关" in zh["binh-nghi"]


# --- (b) every number says where it comes from ----------------------------------------------

NUMBER_KEYS = ("lanes =", "capacity =", "rate_per_lane_per_hour")


def _unsourced_lines(text: str) -> list[str]:
    return [
        f"line {n}: {line.strip()}"
        for n, line in enumerate(text.splitlines(), start=1)
        if any(k in line for k in NUMBER_KEYS) and "#" not in line and "source =" not in line
    ]


@pytest.mark.parametrize("name", ["lang-son", "mong-cai"])
def test_every_lane_rate_and_capacity_in_a_shipped_file_says_where_it_comes_from(name):
    text = resolve_network_path(name).read_text(encoding="utf-8")
    numbered = [line for line in text.splitlines() if any(k in line for k in NUMBER_KEYS)]
    assert len(numbered) >= 4  # the check looks at something
    assert _unsourced_lines(text) == []
    for line in numbered:  # and what it says is a brief reference or an avowed assumption
        origin = line.split("#", 1)[-1] if "#" in line else line.split("source =", 1)[1]
        assert "brief" in origin or "assumption" in origin, line


def test_a_number_without_a_comment_or_source_is_detected():
    text = 'capacity = 12\nlanes = 1, source = "brief §2"\ncapacity = 3  # assumption\n'
    assert _unsourced_lines(text) == ["line 1: capacity = 12"]


def test_every_shipped_network_is_listed_and_loads():
    assert {"lang-son", "mong-cai"} <= set(shipped_networks())
    for name in shipped_networks():
        assert load_network(name).id == name


# --- (c) broken files are refused with the file, the key path and the reason ----------------


def _write_variant(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    assert old in LANG_SON_TEXT, f"{old!r} is not in lang-son.toml any more"
    path = tmp_path / "broken.toml"
    path.write_text(LANG_SON_TEXT.replace(old, new, count), encoding="utf-8")
    return path


def _refusal(path: Path) -> NetworkFileError:
    with pytest.raises(NetworkFileError) as err:
        load_network_file(path)
    return err.value


def test_the_unmodified_shipped_file_loads(tmp_path):
    path = tmp_path / "copy.toml"
    path.write_text(LANG_SON_TEXT, encoding="utf-8")
    assert len(load_network_file(path).crossings) == len(BRIEF_CROSSINGS)


def test_rejects_invalid_toml_syntax_naming_the_line(tmp_path):
    path = _write_variant(tmp_path, "[network]", "[network")
    err = _refusal(path)
    message = str(err)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "line 11" in message


def test_rejects_a_negative_lane_count_naming_the_crossing_and_route(tmp_path):
    path = _write_variant(
        tmp_path,
        "directions.import = { lanes = 2, rate_per_lane_per_hour = 12",
        "directions.import = { lanes = -1, rate_per_lane_per_hour = 12",
    )
    err = _refusal(path)
    key = "crossings[huu-nghi].routes[clearance-1116].directions.import.lanes"
    assert err.path == str(path)
    assert [k for k, _ in err.problems] == [key]
    assert f"{path}: {key}: " in str(err)
    assert "greater than or equal to 0" in str(err)


def test_rejects_an_unknown_time_zone(tmp_path):
    path = _write_variant(tmp_path, 'tz = "Asia/Shanghai"', 'tz = "Asia/Nowhere"')
    message = str(_refusal(path))
    assert f"{path}: sides.cn.tz: unknown time zone 'Asia/Nowhere'" in message


def test_rejects_an_exception_naming_an_unknown_crossing(tmp_path):
    path = _write_variant(tmp_path, 'crossings = ["na-nua"]', 'crossings = ["na-nuaa"]')
    message = str(_refusal(path))
    assert str(path) in message
    # The sixth [[exceptions]] table (index 5) is the one naming na-nua.
    assert re.search(r"exceptions(\[5\]|\.5)\.crossings", message), message
    assert "unknown crossing 'na-nuaa'" in message


def test_rejects_a_duplicate_crossing_id(tmp_path):
    path = _write_variant(tmp_path, 'id = "tan-thanh"', 'id = "huu-nghi"')
    message = str(_refusal(path))
    assert str(path) in message
    assert "crossing id(s) used twice: huu-nghi" in message


def test_rejects_an_exception_dated_by_both_days_and_instants(tmp_path):
    path = _write_variant(
        tmp_path, "from = 2023-01-21\n", "from = 2023-01-21\nstarts = 2023-01-21T00:00:00+07:00\n"
    )
    message = str(_refusal(path))
    assert f"{path}: exceptions[0]: " in message
    assert "either from/to (dates) or starts/ends (instants), not both" in message


@pytest.mark.parametrize(
    "dates",
    [
        "from = 2023-01-21\nends = 2023-01-28T00:00:00+07:00",
        "starts = 2023-01-21T00:00:00+07:00\nto = 2023-01-27",
    ],
    ids=["from-with-ends", "starts-with-to"],
)
def test_rejects_an_exception_mixing_a_day_with_an_instant(tmp_path, dates):
    path = _write_variant(tmp_path, "from = 2023-01-21\nto = 2023-01-27", dates)
    message = str(_refusal(path))
    assert f"{path}: exceptions[0]" in message


def test_rejects_a_naive_starts_datetime(tmp_path):
    path = _write_variant(
        tmp_path,
        "from = 2023-01-21\nto = 2023-01-27",
        "starts = 2023-01-21T00:00:00\nends = 2023-01-28T00:00:00+07:00",
    )
    err = _refusal(path)
    assert [k for k, _ in err.problems] == ["exceptions[0].starts"]
    assert f"{path}: exceptions[0].starts: must carry a UTC offset" in str(err)


def test_rejects_an_unknown_crossing_class(tmp_path):
    path = _write_variant(tmp_path, 'class = "auxiliary"', 'class = "tiny"')
    assert f"{path}: crossings[binh-nghi].class: " in str(_refusal(path))


def test_rejects_a_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    err = _refusal(path)
    assert str(err) == f"{path}: <file>: file not found"
    with pytest.raises(NetworkFileError, match="file not found"):
        load_network(str(path))


def test_reports_every_problem_of_a_file_at_once(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(
        LANG_SON_TEXT.replace('tz = "Asia/Shanghai"', 'tz = "Asia/Nowhere"').replace(
            'country = "VN"', 'country = "vn"'
        ),
        encoding="utf-8",
    )
    keys = {k for k, _ in _refusal(path).problems}
    assert keys == {"sides.cn.tz", "sides.vn.country"}


# --- (d) choosing a network -----------------------------------------------------------------


def test_loads_a_network_from_a_path(tmp_path):
    path = tmp_path / "copy.toml"
    path.write_text(LANG_SON_TEXT.replace('id = "lang-son"', 'id = "copy-net"'), "utf-8")
    net = load_network(str(path))
    assert net.id == "copy-net"
    assert {c.id for c in net.crossings} == set(BRIEF_CROSSINGS)


def test_reloads_a_network_file_when_it_changes(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(LANG_SON_TEXT.replace('id = "lang-son"', 'id = "first"'), "utf-8")
    assert load_network(str(path)).id == "first"
    path.write_text(LANG_SON_TEXT.replace('id = "lang-son"', 'id = "second-one"'), "utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_network(str(path)).id == "second-one"


def test_loads_the_shipped_mong_cai_network_by_name():
    net = load_network("mong-cai")
    assert net.id == "mong-cai"
    assert {c.id for c in net.crossings} == {"mong-cai", "hoanh-mo"}
    mong_cai = net.crossing("mong-cai")
    assert mong_cai.class_ is CrossingClass.international
    assert mong_cai.kind is CrossingKind.road
    assert [r.id for r in mong_cai.routes] == ["bac-luan-2"]
    assert "东兴" in mong_cai.names[Side.cn].zh
    assert mong_cai.note and "Smart-gate pilot approved Jan 2026" in mong_cai.note
    hoanh_mo = net.crossing("hoanh-mo")
    assert "峒中" in hoanh_mo.names[Side.cn].zh
    assert hoanh_mo.names[Side.vn].vi == "Cửa khẩu Hoành Mô"
    for c in net.crossings:
        assert c.yards and all(y.capacity > 0 for y in c.yards)


@pytest.fixture
def cli_env(monkeypatch, tmp_path) -> Iterator[None]:
    """The CLI with a wide terminal, a throw-away database and freshly read settings."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("BORDERFLOW_NETWORK", raising=False)
    get_settings.cache_clear()
    cli_context._factory.cache_clear()
    yield
    get_settings.cache_clear()
    cli_context._factory.cache_clear()


def test_borderflow_network_env_var_selects_a_shipped_network_for_the_cli(cli_env, monkeypatch):
    runner = CliRunner()
    default = runner.invoke(app, ["network", "show"])
    assert default.exit_code == 0, default.output
    assert "huu-nghi" in default.output

    monkeypatch.setenv("BORDERFLOW_NETWORK", "mong-cai")
    get_settings.cache_clear()
    assert get_settings().network == "mong-cai"
    shown = runner.invoke(app, ["network", "show"])
    assert shown.exit_code == 0, shown.output
    assert "mong-cai" in shown.output and "hoanh-mo" in shown.output
    assert "huu-nghi" not in shown.output

    cap = runner.invoke(
        app,
        ["capacity", "--crossing", "mong-cai", "--direction", "import",
         "--from", "2024-03-05", "--to", "2024-03-05"],
    )
    assert cap.exit_code == 0, cap.output
    assert "Total: 96" in cap.output  # 12 h × 1 lane × 8 per hour (assumed rate)


def test_borderflow_network_env_var_accepts_a_file_path(cli_env, monkeypatch, tmp_path):
    path = tmp_path / "custom.toml"
    path.write_text(
        LANG_SON_TEXT.replace('id = "lang-son"', 'id = "custom-net"').replace(
            'en = "Lang Son"', 'en = "Custom Border"'
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("BORDERFLOW_NETWORK", str(path))
    get_settings.cache_clear()
    shown = CliRunner().invoke(app, ["network", "show"])
    assert shown.exit_code == 0, shown.output
    assert "Custom Border (custom-net)" in shown.output
    assert "huu-nghi" in shown.output


def test_cli_refuses_a_broken_network_named_by_the_env_var(cli_env, monkeypatch, tmp_path):
    path = _write_variant(tmp_path, 'tz = "Asia/Shanghai"', 'tz = "Asia/Nowhere"')
    monkeypatch.setenv("BORDERFLOW_NETWORK", str(path))
    get_settings.cache_clear()
    shown = CliRunner().invoke(app, ["network", "show"])
    assert shown.exit_code != 0
    assert "sides.cn.tz" in shown.output and "unknown time zone" in shown.output
