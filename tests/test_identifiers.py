"""Identifier value objects: each rule with real examples and counter-examples."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso6346

from borderflow.errors import InvalidInput
from borderflow.identifiers import (
    CN_PLATE_PROVINCES,
    REC20_UNITS,
    VN_PLATE_PROVINCES,
    HSCode,
    Plate,
    parse_cn_uscc,
    parse_container_number,
    parse_country,
    parse_currency,
    parse_hs_code,
    parse_phone,
    parse_plate,
    parse_tax_code,
    parse_unit,
    parse_vn_tax_code,
)
from borderflow.identifiers.plates import (
    CN_PLATE_CHARS,
    CN_PREFECTURE_LETTERS,
    VN_SERIES_LETTERS,
)


def rejected(call: Callable[[], Any], field: str) -> InvalidInput:
    """`call` raises InvalidInput naming `field`, with a reason in English, Vietnamese, Chinese."""
    with pytest.raises(InvalidInput) as info:
        call()
    error = info.value
    assert error.field == field
    assert error.status_code == 422
    problem = error.as_problem()
    assert problem["field"] == field
    assert problem["reason"]
    assert problem.get("reason_vi")
    assert problem.get("reason_zh")
    return error


# --- Vietnamese plates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text", "region", "trailer"),
    [
        ("12C-123.45", "12C-123.45", "12", False),  # Lạng Sơn truck
        ("29C-12345", "29C-123.45", "29", False),
        ("29c12345", "29C-123.45", "29", False),
        ("29C 123.45", "29C-123.45", "29", False),
        (" 29 c 123.45 ", "29C-123.45", "29", False),
        ("51D-1234", "51D-1234", "51", False),
        ("12R-012.34", "12R-012.34", "12", True),  # semi-trailer
        ("14R01234", "14R-012.34", "14", True),
        ("11C-456.78", "11C-456.78", "11", False),  # Cao Bằng
        ("63c-567.89", "63C-567.89", "63", False),  # Tiền Giang
        ("51LD-123.45", "51LD-123.45", "51", False),  # two-letter series
        ("29C1-123.45", "29C1-123.45", "29", False),  # series with a digit
        ("29-C1 123.45", "29C1-123.45", "29", False),
        ("29C112345", "29C1-123.45", "29", False),
        ("29C11234", "29C-112.34", "29", False),  # no separator: 5-digit number
        ("29C1-1234", "29C1-1234", "29", False),
        ("１２Ｃ－１２３．４５", "12C-123.45", "12", False),  # full-width
    ],
)
def test_vietnamese_plates(raw: str, text: str, region: str, trailer: bool) -> None:
    plate = parse_plate(raw, "vehicle.plate")
    assert plate == Plate(text, "VN", trailer, False, region)
    assert str(plate) == text


def test_vietnamese_province_table() -> None:
    assert VN_PLATE_PROVINCES["12"] == "Lạng Sơn"
    assert VN_PLATE_PROVINCES["11"] == "Cao Bằng"
    assert VN_PLATE_PROVINCES["14"] == "Quảng Ninh"
    assert VN_PLATE_PROVINCES["63"] == "Tiền Giang"
    assert {VN_PLATE_PROVINCES[c] for c in ("29", "30", "31", "32", "33", "40")} == {"Hà Nội"}
    hcmc = [str(n) for n in range(50, 60)] + ["41"]
    assert {VN_PLATE_PROVINCES[c] for c in hcmc} == {"Thành phố Hồ Chí Minh"}
    unassigned = {"00", "10", "13", "42", "44", "45", "46", "87", "91", "96"}
    assert not unassigned & VN_PLATE_PROVINCES.keys()
    assert all(11 <= int(code) <= 99 for code in VN_PLATE_PROVINCES)
    assert parse_plate("12C-123.45", "p").region_name == "Lạng Sơn"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("00C-12345", "province code 00 does not exist"),
        ("10A-12345", "province code 10 does not exist"),
        ("29-12345", "series letter missing"),
        ("29C-123", "got 3"),
        ("29C-123456", "got 6"),
        ("29C-١٢٣٤٥", "unexpected character"),  # Arabic-Indic digits
        ("ABC", "neither Vietnamese"),
        ("29I-12345", "series letter I"),
        ("29O-12345", "series letter O"),
        ("29ABC-12345", "more than 2 letters"),
        ("29C-12.345", "must be written"),
        ("29C-123@45", "unexpected character @"),
        ("2", "2-digit province code"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_invalid_vietnamese_plates(raw: str, reason: str) -> None:
    error = rejected(lambda: parse_plate(raw, "vehicle.plate"), "vehicle.plate")
    assert reason in error.message


def test_plate_rejection_speaks_three_languages() -> None:
    problem = rejected(lambda: parse_plate("00C-12345", "trip.plate"), "trip.plate").as_problem()
    assert problem == {
        "field": "trip.plate",
        "reason": "province code 00 does not exist",
        "reason_vi": "mã tỉnh 00 không tồn tại",
        "reason_zh": "省份代码00不存在",
    }


def test_plate_must_be_text() -> None:
    rejected(lambda: parse_plate(2912345, "vehicle.plate"), "vehicle.plate")
    rejected(lambda: parse_plate(None, "vehicle.plate"), "vehicle.plate")


# --- Chinese plates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text", "trailer", "new_energy"),
    [
        ("桂F12345", "桂F12345", False, False),
        ("桂F·12345", "桂F12345", False, False),
        ("桂f 12345", "桂F12345", False, False),
        ("桂F-1234X", "桂F1234X", False, False),
        ("桂F1234挂", "桂F1234挂", True, False),
        ("桂F·1234挂", "桂F1234挂", True, False),
        ("桂AD12345", "桂AD12345", False, True),
        ("粤B12345F", "粤B12345F", False, True),
        ("京A·F1234D", "京AF1234D", False, True),
    ],
)
def test_chinese_plates(raw: str, text: str, trailer: bool, new_energy: bool) -> None:
    plate = parse_plate(raw, "vehicle.plate")
    assert plate == Plate(text, "CN", trailer, new_energy, text[0])
    assert plate.region_name == CN_PLATE_PROVINCES[text[0]]


def test_chinese_province_table() -> None:
    assert len(CN_PLATE_PROVINCES) == 31
    mainland = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
    assert set(CN_PLATE_PROVINCES) == set(mainland)
    assert CN_PLATE_PROVINCES["桂"] == "广西"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("桂I12345", "prefecture letter I"),
        ("桂O12345", "prefecture letter O"),
        ("桂112345", "prefecture letter 1"),
        ("桂", "prefecture letter (none)"),
        ("港A12345", "not one of the 31 mainland"),
        ("澳A12345", "not one of the 31 mainland"),
        ("台A12345", "not one of the 31 mainland"),
        ("桂F1234", "got 4"),
        ("桂F1234567", "got 7"),
        ("桂FO2345", "letter O"),
        ("桂F1I345", "letter I"),
        ("桂F123456", "must start or end with D or F"),
        ("桂F12挂", "4 letters or digits before 挂"),
        ("桂F12$45", "unexpected character $"),
    ],
)
def test_invalid_chinese_plates(raw: str, reason: str) -> None:
    error = rejected(lambda: parse_plate(raw, "vehicle.plate"), "vehicle.plate")
    assert reason in error.message


_digits = st.text(alphabet=string.digits, min_size=1, max_size=1)


@st.composite
def vn_plates(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(VN_PLATE_PROVINCES)))
    letters = draw(st.text(alphabet=sorted(VN_SERIES_LETTERS), min_size=1, max_size=2))
    digit = draw(st.one_of(st.just(""), _digits))
    number = draw(st.text(alphabet=string.digits, min_size=4, max_size=5))
    sep = draw(st.sampled_from(["-", " ", " - "]))
    if not digit and draw(st.booleans()):
        sep = ""
    raw = f"{province}{letters}{digit}{sep}{number}"
    return raw.lower() if draw(st.booleans()) else raw


@st.composite
def cn_plates(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(CN_PLATE_PROVINCES)))
    prefecture = draw(st.sampled_from(sorted(CN_PREFECTURE_LETTERS)))
    chars = sorted(CN_PLATE_CHARS)
    kind = draw(st.sampled_from(["regular", "trailer", "energy-first", "energy-last"]))
    if kind == "regular":
        serial = draw(st.text(alphabet=chars, min_size=5, max_size=5))
    elif kind == "trailer":
        serial = draw(st.text(alphabet=chars, min_size=4, max_size=4)) + "挂"
    else:
        mark = draw(st.sampled_from("DF"))
        five = draw(st.text(alphabet=chars, min_size=5, max_size=5))
        serial = mark + five if kind == "energy-first" else five + mark
    sep = draw(st.sampled_from(["", "·", " ", "-"]))
    return f"{province}{prefecture}{sep}{serial}"


@given(vn_plates())
def test_vietnamese_plate_canonical_form_is_idempotent(raw: str) -> None:
    plate = parse_plate(raw, "vehicle.plate")
    assert parse_plate(plate.text, "vehicle.plate") == plate
    assert plate.country == "VN"
    assert plate.region == raw[:2]


@given(cn_plates())
def test_chinese_plate_canonical_form_is_idempotent(raw: str) -> None:
    plate = parse_plate(raw, "vehicle.plate")
    assert parse_plate(plate.text, "vehicle.plate") == plate
    assert plate.country == "CN"
    assert plate.is_trailer == raw.endswith("挂")
    assert len(plate.text) == (8 if plate.new_energy else 7)


# --- containers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("CSQU3054383", "CSQU3054383"),
        ("csqu 305438 3", "CSQU3054383"),
        ("CSQU-305438-3", "CSQU3054383"),
    ],
)
def test_containers(raw: str, canonical: str) -> None:
    assert parse_container_number(raw, "containers[0]") == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("CSQU3054384", "check digit 4 of container CSQU3054384 is wrong (expected 3)"),
        ("CSQX3054383", "equipment category X"),
        ("CSQR3054383", "equipment category R"),
        ("CSQU305438", "got 10"),
        ("C5QU3054383", "owner code"),
        ("CSQU30543A3", "7 digits"),
        ("", "empty"),
    ],
)
def test_invalid_containers(raw: str, reason: str) -> None:
    error = rejected(lambda: parse_container_number(raw, "containers[0]"), "containers[0]")
    assert reason in error.message


@given(
    st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3),
    st.sampled_from("UJZ"),
    st.text(alphabet=string.digits, min_size=6, max_size=6),
    st.integers(min_value=1, max_value=9),
)
def test_any_container_with_the_stdnum_check_digit_is_accepted(
    owner: str, category: str, serial: str, shift: int
) -> None:
    body = owner + category + serial
    check = iso6346.calc_check_digit(body)
    assert parse_container_number(body + check, "c") == body + check
    assert parse_container_number((body + check).lower(), "c") == body + check
    wrong = str((int(check) + shift) % 10)
    rejected(lambda: parse_container_number(body + wrong, "c"), "c")


# --- tax codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0100233488", "0100233488"),
        ("0100233488-001", "0100233488-001"),
        ("0100233488001", "0100233488-001"),
        ("0100 233 488", "0100233488"),
    ],
)
def test_vietnamese_tax_codes(raw: str, canonical: str) -> None:
    assert parse_vn_tax_code(raw, "exporter.tax_code") == canonical
    assert parse_tax_code(raw, "VN", "exporter.tax_code") == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0100233489", "check digit"),
        ("123", "10 digits (13 for a branch), got 3"),
        ("01002334880011", "got 14"),
        ("0100233488-000", "branch"),
        ("0100A33488", "only digits"),
        ("", "empty"),
    ],
)
def test_invalid_vietnamese_tax_codes(raw: str, reason: str) -> None:
    error = rejected(lambda: parse_vn_tax_code(raw, "exporter.tax_code"), "exporter.tax_code")
    assert reason in error.message


@pytest.mark.parametrize(
    "raw", ["91110000600037341L", "91110000600037341l", "9111 0000 6000 3734 1L"]
)
def test_chinese_credit_codes(raw: str) -> None:
    assert parse_cn_uscc(raw, "importer.tax_code") == "91110000600037341L"
    assert parse_tax_code(raw, "CN", "importer.tax_code") == "91110000600037341L"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("91110000600037341M", "check character M"),
        ("9111000060003734", "got 16"),
        ("9111000A600037341L", "8 digits"),
        ("91110000600037341I", "without I, O"),
    ],
)
def test_invalid_chinese_credit_codes(raw: str, reason: str) -> None:
    error = rejected(lambda: parse_cn_uscc(raw, "importer.tax_code"), "importer.tax_code")
    assert reason in error.message


def test_tax_code_follows_the_country() -> None:
    rejected(lambda: parse_tax_code("91110000600037341L", "VN", "t"), "t")
    rejected(lambda: parse_tax_code("0100233488", "CN", "t"), "t")
    rejected(lambda: parse_tax_code("0100233488", "LA", "t"), "t")  # type: ignore[arg-type]


# --- HS codes ----------------------------------------------------------------------------------


def test_durian_for_vietnam() -> None:
    hs = parse_hs_code("081060", "VN", "goods[0].hs_code")
    assert hs == HSCode(
        code="081060",
        chapter="08",
        heading="0810",
        subheading="081060",
        description="Fruit, edible; durians, fresh",
        needs_phytosanitary=True,
    )
    assert str(hs) == "081060"


@pytest.mark.parametrize(
    ("raw", "country", "code"),
    [
        ("08106000", "VN", "08106000"),
        ("0810.60.00", "VN", "08106000"),
        ("0810 60", "VN", "081060"),
        ("081060", "CN", "081060"),
        ("08106000", "CN", "08106000"),
        ("0810600000", "CN", "0810600000"),
        ("0810600000123", "CN", "0810600000123"),
    ],
)
def test_hs_code_lengths(raw: str, country: Any, code: str) -> None:
    hs = parse_hs_code(raw, country, "goods[0].hs_code")
    assert hs.code == code
    assert hs.subheading == "081060"
    assert "durians" in hs.description


def test_computers_need_no_phytosanitary_certificate() -> None:
    hs = parse_hs_code("8471.30", "VN", "goods[0].hs_code")
    assert hs.subheading == "847130"
    assert hs.description.startswith("Automatic data processing machines")
    assert not hs.needs_phytosanitary


@pytest.mark.parametrize(
    ("raw", "phyto"),
    [
        ("051110", False),  # chapter 05: animal products
        ("060110", True),  # bulbs
        ("090111", True),  # coffee
        ("100630", True),  # rice
        ("140490", True),  # chapter 14: vegetable products n.e.c.
        ("150110", False),  # chapter 15: fats
    ],
)
def test_phytosanitary_chapters_are_06_to_14(raw: str, phyto: bool) -> None:
    assert parse_hs_code(raw, "VN", "h").needs_phytosanitary is phyto


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("0810601", "VN", "has 6, 8 digits, got 7"),
        ("081060000", "VN", "got 9"),
        ("0810600000", "VN", "got 10"),
        ("08106000001", "CN", "has 6, 8, 10, 13 digits, got 11"),
        ("0899", "VN", "got 4"),
        ("9999", "CN", "got 4"),
        ("999999", "VN", "chapter 99 does not exist"),
        ("770000", "VN", "chapter 77 does not exist"),
        ("089910", "VN", "heading 0899 does not exist in HS chapter 08"),
        ("081099", "VN", "subheading 081099 does not exist in HS heading 0810"),
        ("abc", "VN", "only digits"),
        ("0810-60", "VN", "only digits"),
        ("", "VN", "empty"),
        ("081060", "LA", "country must be VN or CN"),
    ],
)
def test_invalid_hs_codes(raw: str, country: Any, reason: str) -> None:
    error = rejected(lambda: parse_hs_code(raw, country, "goods[0].hs_code"), "goods[0].hs_code")
    assert reason in error.message


def test_hs_code_must_be_text() -> None:
    rejected(lambda: parse_hs_code(81060, "VN", "h"), "h")


# --- phones, currencies, countries, units ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+84 912 345 678", "VN", "+84912345678"),
        ("0912345678", "VN", "+84912345678"),
        ("+86 138 0013 8000", "VN", "+8613800138000"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("0205 3870 123", "VN", "+842053870123"),  # Lạng Sơn landline
    ],
)
def test_phones(raw: str, region: str, e164: str) -> None:
    assert parse_phone(raw, "driver.phone", default_region=region) == e164


@pytest.mark.parametrize("raw", ["12345", "not a phone", "+84 12", "+999 123 456 789"])
def test_invalid_phones(raw: str) -> None:
    rejected(lambda: parse_phone(raw, "driver.phone"), "driver.phone")


@pytest.mark.parametrize(("raw", "code"), [("VND", "VND"), ("usd", "USD"), (" CNY ", "CNY")])
def test_currencies(raw: str, code: str) -> None:
    assert parse_currency(raw, "invoice.currency") == code


@pytest.mark.parametrize("raw", ["XYZ", "dong", "US", "", "VN D"])
def test_invalid_currencies(raw: str) -> None:
    rejected(lambda: parse_currency(raw, "invoice.currency"), "invoice.currency")


@pytest.mark.parametrize(
    ("raw", "code"),
    [("VN", "VN"), ("vn", "VN"), ("VNM", "VN"), ("CHN", "CN"), ("cn", "CN"), ("LAO", "LA")],
)
def test_countries(raw: str, code: str) -> None:
    assert parse_country(raw, "origin") == code


@pytest.mark.parametrize("raw", ["ZZ", "XXX", "Vietnam", "V", ""])
def test_invalid_countries(raw: str) -> None:
    rejected(lambda: parse_country(raw, "origin"), "origin")


@pytest.mark.parametrize(
    ("raw", "code"),
    [("KGM", "KGM"), ("kgm", "KGM"), (" xct ", "XCT"), ("C62", "C62"), ("H87", "H87")],
)
def test_units(raw: str, code: str) -> None:
    assert parse_unit(raw, "goods[0].unit") == code


@pytest.mark.parametrize("raw", ["XYZ", "kg", "NPR", "pieces", ""])
def test_invalid_units(raw: str) -> None:
    rejected(lambda: parse_unit(raw, "goods[0].unit"), "goods[0].unit")


def test_unit_table_covers_declarations() -> None:
    required = {
        "KGM", "TNE", "GRM", "LTR", "MTQ", "MTR", "MTK", "C62", "H87", "NAR", "SET", "PR",
        "DZN", "XBX", "XCT", "XPK", "XBG", "XPX", "XCR", "XBA", "XCN",
    }  # fmt: skip
    assert required <= REC20_UNITS.keys()
    assert len(REC20_UNITS) >= 40
    assert all(code == code.upper() and 2 <= len(code) <= 3 for code in REC20_UNITS)
    assert REC20_UNITS["C62"] == "one"
    assert REC20_UNITS["XCT"] == "carton"
