"""The capacity function against the brief's facts: Tet 2024 per gate, the 1-hour shift between
the two sides' zones, suspensions, holidays, opening agreements, capacity factors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.errors import CrossingNotFound, InvalidInput, NaiveDatetimeError, RouteNotFound
from borderflow.network.capacity import compute_capacity
from borderflow.network.schemas import CalendarException, Direction, Network

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CN = ZoneInfo("Asia/Shanghai")
ICT = timezone(timedelta(hours=7))
EXPORT = Direction.export


def daily(net: Network, crossing: str, first: date, last: date, tz=VN, **kw):
    """{VN day: (capacity, pre-registered only)} from one call with 1-day slots."""
    start = datetime.combine(first, time(0), tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tz)
    table = compute_capacity(net, crossing_id=crossing, direction=kw.pop("direction", EXPORT),
                             start=start, end=end, slot=timedelta(days=1), **kw)
    return {
        s.start.astimezone(tz).date(): (s.capacity, s.preregistered_only) for s in table.slots()
    }


def feb(day: int) -> date:
    return date(2024, 2, day)


def state(days: dict[date, tuple[int, bool]], day: int) -> str:
    cap, prereg = days[feb(day)]
    if cap == 0:
        return "closed"
    return "preregistered" if prereg else "normal"


TET_2024 = {
    # crossing: {first day: state, ...}, per the brief §4 (days 6–20 Feb 2024, Vietnamese days)
    "huu-nghi": {**dict.fromkeys(range(6, 10), "normal"), **dict.fromkeys(range(10, 14), "closed"),
                 **dict.fromkeys(range(14, 18), "preregistered"),
                 **dict.fromkeys(range(18, 21), "normal")},
    "tan-thanh": {**dict.fromkeys(range(6, 10), "normal"),
                  **dict.fromkeys(range(10, 14), "closed"),
                  **dict.fromkeys(range(14, 18), "preregistered"),
                  **dict.fromkeys(range(18, 21), "normal")},
    "chi-ma": {**dict.fromkeys(range(6, 10), "normal"),
               **dict.fromkeys(range(10, 18), "preregistered"),
               **dict.fromkeys(range(18, 21), "normal")},
    "coc-nam": {**dict.fromkeys(range(6, 10), "normal"), **dict.fromkeys(range(10, 18), "closed"),
                **dict.fromkeys(range(18, 21), "normal")},
    "na-hinh": {**dict.fromkeys(range(6, 10), "normal"), **dict.fromkeys(range(10, 18), "closed"),
                **dict.fromkeys(range(18, 21), "normal")},
    "na-nua": {6: "normal", **dict.fromkeys(range(7, 18), "closed"),
               **dict.fromkeys(range(18, 21), "normal")},
    "binh-nghi": dict.fromkeys(range(6, 21), "closed"),  # clearance suspended (brief §1)
}


@pytest.mark.parametrize("crossing", sorted(TET_2024))
@pytest.mark.parametrize("direction", list(Direction))
def test_tet_2024_schedule_matches_the_brief_for_every_gate(lang_son, crossing, direction):
    days = daily(lang_son, crossing, feb(6), feb(20), direction=direction)
    got = {d: state(days, d) for d in range(6, 21)}
    assert got == TET_2024[crossing]


@pytest.mark.parametrize("crossing", ["huu-nghi", "chi-ma"])
def test_tet_2024_schedule_is_the_same_seen_from_china(lang_son, crossing):
    """The same instants read in China's zone: slots that open are the same hours of the day."""
    start = datetime(2024, 2, 6, tzinfo=CN)
    table = compute_capacity(lang_son, crossing_id=crossing, direction=EXPORT, start=start,
                             end=start + timedelta(days=15))
    for s in table.slots():
        local = s.start.astimezone(CN)
        if s.capacity:
            assert 8 <= local.hour < 20, local
    open_days_cn = {s.start.astimezone(CN).date() for s in table.slots() if s.capacity}
    open_days_vn = {s.start.astimezone(VN).date() for s in table.slots() if s.capacity}
    assert open_days_cn == open_days_vn  # 08:00–20:00 China = 07:00–19:00 Vietnam, same days


def test_crossing_whose_chinese_side_opens_at_8_china_time_is_open_from_7_vietnam_time(lang_son):
    start = datetime(2024, 3, 5, 5, 0, tzinfo=VN)
    table = compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                             end=start + timedelta(hours=16))
    by_vn_hour = {s.start.astimezone(VN).hour: s for s in table.slots()}
    assert by_vn_hour[6].capacity == 0
    assert by_vn_hour[7].capacity == 22 and by_vn_hour[7].open_minutes == 60
    assert by_vn_hour[7].start.astimezone(CN).hour == 8
    assert by_vn_hour[18].capacity == 22  # 18:00–19:00 Vietnam = 19:00–20:00 China
    assert by_vn_hour[19].capacity == 0  # China closed at 20:00 China time


def test_an_hour_that_straddles_the_opening_is_prorated(lang_son):
    start = datetime(2024, 3, 5, 6, 30, tzinfo=VN)
    table = compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                             end=start + timedelta(hours=1))
    (slot,) = list(table.slots())
    assert slot.open_minutes == 30
    assert slot.capacity == 11  # 22 per hour × 30/60


def test_suspension_window_of_hours_closes_only_those_hours(lang_son):
    days = [date(2025, 4, 15), date(2025, 4, 16), date(2025, 4, 17)]
    for d in days:
        start = datetime.combine(d, time(6), VN)
        table = compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT,
                                 start=start, end=start + timedelta(hours=6))
        caps = {s.start.astimezone(VN).hour: s.capacity for s in table.slots()}
        assert caps[7] == caps[8] == caps[9] == 0
        assert caps[10] > 0 and caps[11] > 0
        assert "suspended: Official event" in table.at(start + timedelta(hours=1)).reasons
    # The day after, normal again.
    start = datetime(2025, 4, 18, 7, tzinfo=VN)
    assert compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                            end=start + timedelta(hours=1)).total > 0


def test_run_time_suspension_of_part_of_an_hour_reduces_that_hour(lang_son):
    exc = CalendarException.model_validate({
        "kind": "suspended", "crossings": ["chi-ma"], "reason": "sudden check",
        "starts": datetime(2026, 12, 1, 9, 30, tzinfo=ICT),
        "ends": datetime(2026, 12, 1, 11, 0, tzinfo=ICT),
    })
    start = datetime(2026, 12, 1, 9, tzinfo=ICT)
    base = compute_capacity(lang_son, crossing_id="chi-ma", direction=EXPORT, start=start,
                            end=start + timedelta(hours=3))
    cut = compute_capacity(lang_son, crossing_id="chi-ma", direction=EXPORT, start=start,
                           end=start + timedelta(hours=3), extra_exceptions=[exc])
    assert list(base.capacity) == [4, 4, 4]
    assert list(cut.capacity) == [2, 0, 4]
    assert list(cut.open_minutes) == [30, 0, 60]


def test_chinese_holiday_closes_a_crossing_without_an_agreement(lang_son):
    # National Day 2024, 1 Oct: China's side closed; Vietnam's side works through its holidays.
    days = daily(lang_son, "huu-nghi", date(2024, 9, 30), date(2024, 10, 8))
    closed = {d.day for d, (cap, _) in days.items() if cap == 0}
    assert closed == {1, 2, 3, 4, 7}  # the holidays package's CN dates; 5–6 Oct are a weekend
    # Vietnam's National Day (2 Sep 2024) does not close the crossing.
    assert daily(lang_son, "huu-nghi", date(2024, 9, 2), date(2024, 9, 2))[date(2024, 9, 2)][0]


def test_opening_agreement_lifts_the_chinese_holiday_closure(lang_son):
    # 2025: weekend and holiday opening at Huu Nghi and Chi Ma, not at Tan Thanh.
    d = date(2025, 10, 1)
    assert daily(lang_son, "huu-nghi", d, d)[d][0] > 0
    assert daily(lang_son, "chi-ma", d, d)[d][0] > 0
    assert daily(lang_son, "tan-thanh", d, d)[d][0] == 0


def test_extended_hours_to_20_hanoi_time_in_april_2025(lang_son):
    start = datetime(2025, 4, 20, 17, tzinfo=VN)
    table = compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                             end=start + timedelta(hours=4))
    caps = [s.capacity for s in table.slots()]
    assert caps == [22, 22, 22, 0]  # 17, 18, 19 open; 20:00 Hanoi = 21:00 China closes
    tt = compute_capacity(lang_son, crossing_id="tan-thanh", direction=EXPORT, start=start,
                          end=start + timedelta(hours=4))
    assert [s.capacity for s in tt.slots()] == [10, 10, 5, 0]  # only the 1088 road extended


def test_capacity_factor_scales_the_rate(lang_son):
    exc = CalendarException.model_validate({
        "kind": "capacity", "crossings": ["huu-nghi"], "factor": 3.0, "reason": "smart gate",
        "from": date(2027, 1, 1),
    })
    start = datetime(2027, 3, 1, 8, tzinfo=VN)
    table = compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                             end=start + timedelta(hours=1), extra_exceptions=[exc])
    assert table.total == 66
    assert any("×3" in r for r in table.at(start).reasons)


def test_route_filter_and_sum_of_routes(lang_son):
    start = datetime(2024, 3, 5, 8, tzinfo=VN)
    end = start + timedelta(hours=1)
    whole = compute_capacity(lang_son, crossing_id="huu-nghi", direction=Direction.import_,
                             start=start, end=end)
    parts = [
        compute_capacity(lang_son, crossing_id="huu-nghi", direction=Direction.import_,
                         start=start, end=end, route_id=r).total
        for r in ("clearance-1116", "freight-1119")
    ]
    assert parts == [24, 28]
    assert whole.total == sum(parts)


def test_naive_datetime_never_reaches_the_capacity_function(lang_son):
    with pytest.raises(NaiveDatetimeError) as err:
        compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT,
                         start=datetime(2024, 2, 9, 7, 0),
                         end=datetime(2024, 2, 10, tzinfo=UTC))
    assert err.value.field == "start"
    with pytest.raises(NaiveDatetimeError):
        compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT,
                         start=datetime(2024, 2, 9, tzinfo=UTC), end=datetime(2024, 2, 10))


def test_results_are_aware_utc(lang_son):
    table = compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT,
                             start=datetime(2024, 2, 9, tzinfo=VN),
                             end=datetime(2024, 2, 10, tzinfo=VN))
    for s in table.slots():
        assert s.start.utcoffset() == timedelta(0) and s.end.utcoffset() == timedelta(0)


def test_bad_ranges_and_ids_are_refused(lang_son):
    start = datetime(2024, 2, 9, tzinfo=UTC)
    with pytest.raises(InvalidInput) as err:
        compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                         end=start)
    assert err.value.field == "end"
    with pytest.raises(InvalidInput):
        compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                         end=start + timedelta(days=1), slot=timedelta(seconds=90))
    with pytest.raises(CrossingNotFound):
        compute_capacity(lang_son, crossing_id="mong-cai", direction=EXPORT, start=start,
                         end=start + timedelta(days=1))
    with pytest.raises(RouteNotFound):
        compute_capacity(lang_son, crossing_id="huu-nghi", direction=EXPORT, start=start,
                         end=start + timedelta(days=1), route_id="nope")


CROSSINGS = ["huu-nghi", "tan-thanh", "chi-ma", "coc-nam", "dong-dang-rail"]


@settings(max_examples=40, deadline=None)
@given(
    crossing=st.sampled_from(CROSSINGS),
    direction=st.sampled_from(list(Direction)),
    start=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 1),
                       timezones=st.just(UTC)),
    hours=st.integers(min_value=1, max_value=24 * 10),
    slot_minutes=st.sampled_from([15, 30, 60, 120, 240, 1440]),
)
def test_open_minutes_add_up_whatever_the_slot_length(lang_son, crossing, direction, start,
                                                      hours, slot_minutes):
    end = start + timedelta(hours=hours)
    fine = compute_capacity(lang_son, crossing_id=crossing, direction=direction, start=start,
                            end=end, slot=timedelta(minutes=15))
    coarse = compute_capacity(lang_son, crossing_id=crossing, direction=direction, start=start,
                              end=end, slot=timedelta(minutes=slot_minutes))
    assert int(fine.open_minutes.sum()) == int(coarse.open_minutes.sum())
    # Whole vehicles counted cumulatively: any slot length gives ⌊exact total⌋ in all.
    exact = sum(
        r.directions[direction].per_hour / 60 * int(compute_capacity(
            lang_son, crossing_id=crossing, direction=direction, start=start, end=end,
            route_id=r.id, slot=timedelta(minutes=slot_minutes)).open_minutes.sum())
        for r in lang_son.crossing(crossing).routes
    )
    assert fine.total == coarse.total == int(exact + 1e-6)
    assert (coarse.capacity >= 0).all()
    assert (coarse.open_minutes <= slot_minutes).all()


def test_short_slots_lose_no_capacity(lang_son):
    """Tan Thanh clears 10 exports an hour: 15-minute slots give 2 or 3, never 0 or 2 always."""
    start = datetime(2024, 3, 5, 7, tzinfo=VN)
    hourly = compute_capacity(lang_son, crossing_id="tan-thanh", direction=EXPORT, start=start,
                              end=start + timedelta(hours=12))
    quarter = compute_capacity(lang_son, crossing_id="tan-thanh", direction=EXPORT,
                               start=start, end=start + timedelta(hours=12),
                               slot=timedelta(minutes=15))
    seven = compute_capacity(lang_son, crossing_id="chi-ma", direction=EXPORT, start=start,
                             end=start + timedelta(hours=12), slot=timedelta(minutes=7))
    assert hourly.total == quarter.total == 120
    assert sorted(set(quarter.capacity.tolist())) == [2, 3]
    assert seven.total == 48  # 4 an hour in 7-minute slots: 0s and 1s, nothing lost


def test_opening_agreement_opens_a_normal_day_off():
    import tomllib
    from importlib import resources

    from borderflow.network.loader import parse_network

    text = (resources.files("borderflow.network") / "data" / "lang-son.toml").read_text("utf-8")
    # China's side works Monday to Friday only in this variant.
    seven = 'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'
    cn_block = text.index("[sides.cn.hours]")
    at = text.index(seven, cn_block)
    text = text[:at] + 'days = ["mon", "tue", "wed", "thu", "fri"]' + text[at + len(seven):]
    assert tomllib.loads(text)["sides"]["cn"]["hours"]["days"] == ["mon", "tue", "wed", "thu",
                                                                     "fri"]
    net = parse_network(text, "variant")
    saturday = date(2024, 3, 9)
    assert daily(net, "coc-nam", saturday, saturday)[saturday][0] == 0
    weekend = CalendarException.model_validate({
        "kind": "open", "crossings": ["coc-nam"], "side": "cn", "from": saturday,
        "to": saturday, "reason": "weekend opening for the lychee harvest"})
    opened = daily(net, "coc-nam", saturday, saturday, extra_exceptions=[weekend])
    assert opened[saturday][0] == 24
