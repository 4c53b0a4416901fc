"""Vehicle registration plates of Vietnam and mainland China, parsed once at the edge."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal

from borderflow.identifiers._common import reject, text

# Vietnamese plate codes (ký hiệu biển số xe ô tô, mô tô trong nước) as listed in the annex of
# Circular 24/2023/TT-BCA (unchanged from 58/2020/TT-BCA). Names are the provinces that held the
# codes before the merger of provinces of 1 July 2025; the codes themselves are unchanged and the
# plates already issued stay valid. 10, 13, 42, 44–46, 87, 91 and 96 are not assigned.
VN_PLATE_PROVINCES: dict[str, str] = {
    "11": "Cao Bằng",
    "12": "Lạng Sơn",
    "14": "Quảng Ninh",
    "15": "Hải Phòng",
    "16": "Hải Phòng",
    "17": "Thái Bình",
    "18": "Nam Định",
    "19": "Phú Thọ",
    "20": "Thái Nguyên",
    "21": "Yên Bái",
    "22": "Tuyên Quang",
    "23": "Hà Giang",
    "24": "Lào Cai",
    "25": "Lai Châu",
    "26": "Sơn La",
    "27": "Điện Biên",
    "28": "Hòa Bình",
    "29": "Hà Nội",
    "30": "Hà Nội",
    "31": "Hà Nội",
    "32": "Hà Nội",
    "33": "Hà Nội",
    "34": "Hải Dương",
    "35": "Ninh Bình",
    "36": "Thanh Hóa",
    "37": "Nghệ An",
    "38": "Hà Tĩnh",
    "39": "Đồng Nai",
    "40": "Hà Nội",
    "41": "Thành phố Hồ Chí Minh",
    "43": "Đà Nẵng",
    "47": "Đắk Lắk",
    "48": "Đắk Nông",
    "49": "Lâm Đồng",
    "50": "Thành phố Hồ Chí Minh",
    "51": "Thành phố Hồ Chí Minh",
    "52": "Thành phố Hồ Chí Minh",
    "53": "Thành phố Hồ Chí Minh",
    "54": "Thành phố Hồ Chí Minh",
    "55": "Thành phố Hồ Chí Minh",
    "56": "Thành phố Hồ Chí Minh",
    "57": "Thành phố Hồ Chí Minh",
    "58": "Thành phố Hồ Chí Minh",
    "59": "Thành phố Hồ Chí Minh",
    "60": "Đồng Nai",
    "61": "Bình Dương",
    "62": "Long An",
    "63": "Tiền Giang",
    "64": "Vĩnh Long",
    "65": "Cần Thơ",
    "66": "Đồng Tháp",
    "67": "An Giang",
    "68": "Kiên Giang",
    "69": "Cà Mau",
    "70": "Tây Ninh",
    "71": "Bến Tre",
    "72": "Bà Rịa - Vũng Tàu",
    "73": "Quảng Bình",
    "74": "Quảng Trị",
    "75": "Thừa Thiên Huế",
    "76": "Quảng Ngãi",
    "77": "Bình Định",
    "78": "Phú Yên",
    "79": "Khánh Hòa",
    "80": "Cục Cảnh sát giao thông (cơ quan trung ương)",
    "81": "Gia Lai",
    "82": "Kon Tum",
    "83": "Sóc Trăng",
    "84": "Trà Vinh",
    "85": "Ninh Thuận",
    "86": "Bình Thuận",
    "88": "Vĩnh Phúc",
    "89": "Hưng Yên",
    "90": "Hà Nam",
    "92": "Quảng Nam",
    "93": "Bình Phước",
    "94": "Bạc Liêu",
    "95": "Hậu Giang",
    "97": "Bắc Kạn",
    "98": "Bắc Giang",
    "99": "Bắc Ninh",
}

# The 20 series letters of Vietnamese plates plus R (trailers and semi-trailers); I, J, O, Q and W
# are never issued.
VN_SERIES_LETTERS = frozenset("ABCDEFGHKLMNPRSTUVXYZ")

# The 31 provincial-level divisions of mainland China and their plate abbreviations.
CN_PLATE_PROVINCES: dict[str, str] = {
    "京": "北京",
    "津": "天津",
    "沪": "上海",
    "渝": "重庆",
    "冀": "河北",
    "豫": "河南",
    "云": "云南",
    "辽": "辽宁",
    "黑": "黑龙江",
    "湘": "湖南",
    "皖": "安徽",
    "鲁": "山东",
    "新": "新疆",
    "苏": "江苏",
    "浙": "浙江",
    "赣": "江西",
    "鄂": "湖北",
    "桂": "广西",
    "甘": "甘肃",
    "晋": "山西",
    "蒙": "内蒙古",
    "陕": "陕西",
    "吉": "吉林",
    "闽": "福建",
    "贵": "贵州",
    "粤": "广东",
    "青": "青海",
    "藏": "西藏",
    "川": "四川",
    "宁": "宁夏",
    "琼": "海南",
}

# Letters and digits of a Chinese plate: I and O are never used (confusable with 1 and 0).
CN_PLATE_CHARS = frozenset("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ")
CN_PREFECTURE_LETTERS = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ")
CN_TRAILER_MARK = "挂"
CN_NEW_ENERGY_MARKS = frozenset("DF")

# Separators people type or print inside a plate: space, dash, dot, middle dots.
_SEPARATORS = re.compile(r"[\s\-.·•‧・]")
_LETTERS = re.compile(r"[A-Z]*")
# After the series letters: an optional series digit (right after the letters, and only when a
# separator or exactly five more digits follow it), then the number: 4 digits, or 5 digits with
# an optional dot after the third.
_VN_TAIL = re.compile(
    r"(?:(?P<sdigit>\d)(?=[\s-]|\d{3}\.?\d{2}$))?[\s-]*(?P<number>\d{3}\.?\d{2}|\d{4})",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class Plate:
    """A registration plate in canonical form.

    `region` is the Vietnamese province code ("12") or the Chinese province character ("桂").
    """

    text: str
    country: Literal["VN", "CN"]
    is_trailer: bool
    new_energy: bool
    region: str

    @property
    def region_name(self) -> str:
        """The province that issued the plate ("Lạng Sơn", "广西")."""
        table = VN_PLATE_PROVINCES if self.country == "VN" else CN_PLATE_PROVINCES
        return table[self.region]

    def __str__(self) -> str:
        return self.text


def parse_plate(value: object, field: str) -> Plate:
    """Parse a Vietnamese or a mainland Chinese plate number; raise InvalidInput if invalid.

    Case, surrounding spaces and full-width characters do not matter.

    Vietnamese grammar (a text starting with a digit)::

        plate    = province [sep] series [sep] number
        province = 2 digits, a code of VN_PLATE_PROVINCES ("12" Lạng Sơn, "29" Hà Nội...)
        series   = 1 or 2 letters of VN_SERIES_LETTERS, optionally followed by one digit
                   ("C", "LD", "C1"); a series digit is recognised only when a separator follows
                   it or exactly five digits follow it ("29C1-1234", "29C112345"), so "29C11234"
                   is series C and number 11234
        number   = 4 digits ("1234") or 5 digits, optionally dotted after the third ("123.45")
        sep      = spaces and/or a dash

    Canonical: "29C-123.45" for 5 digits, "29C-1234" for 4. Series "R" is a trailer or
    semi-trailer. Diplomatic and military plates (NG, QT, ... or letter codes) are not accepted.

    Chinese grammar (a text starting with a Chinese character), separators (space, dash, dot,
    "·") ignored::

        plate      = province prefecture (serial | trailer | new-energy)
        province   = one of the 31 mainland abbreviations of CN_PLATE_PROVINCES ("桂")
        prefecture = a letter A-Z except I and O
        serial     = 5 letters or digits (letters never I or O)          "桂F12345"
        trailer    = 4 letters or digits, then "挂"                       "桂F1234挂"
        new-energy = 6 letters or digits, the first or the last D or F   "桂AD12345", "粤B12345F"

    Canonical: uppercase without separators ("桂F·12345" -> "桂F12345"). Hong Kong, Macao,
    Taiwan, embassy, police and learner plates are not accepted.
    """
    raw = text(value, field, "plate number", "biển số", "车牌号").upper()
    first = raw[0]
    if first.isascii() and first.isdigit():
        return _parse_vn(raw, field)
    if not first.isascii() and first.isalpha():
        return _parse_cn(raw, field)
    raise reject(
        field,
        f"plate number {raw} is neither Vietnamese (starts with a 2-digit province code) "
        "nor Chinese (starts with a province character)",
        f"biển số {raw} không phải biển Việt Nam (bắt đầu bằng mã tỉnh 2 chữ số) "
        "cũng không phải biển Trung Quốc (bắt đầu bằng chữ viết tắt tên tỉnh)",
        f"车牌号{raw}既不是越南车牌（以两位省份代码开头），也不是中国车牌（以省份简称开头）",
    )


def _parse_vn(raw: str, field: str) -> Plate:
    province = raw[:2]
    if not re.fullmatch(r"[0-9]{2}", province):
        raise reject(
            field,
            f"plate number {raw} must start with a 2-digit province code",
            f"biển số {raw} phải bắt đầu bằng mã tỉnh gồm 2 chữ số",
            f"车牌号{raw}必须以两位省份代码开头",
        )
    if province not in VN_PLATE_PROVINCES:
        raise reject(
            field,
            f"province code {province} does not exist",
            f"mã tỉnh {province} không tồn tại",
            f"省份代码{province}不存在",
        )
    rest = raw[2:].lstrip(" -")
    letters = m[0] if (m := _LETTERS.match(rest)) else ""
    if not letters:
        raise reject(
            field,
            f"series letter missing after province code {province}",
            f"thiếu chữ cái sê-ri sau mã tỉnh {province}",
            f"省份代码{province}后缺少系列字母",
        )
    if len(letters) > 2:
        raise reject(
            field,
            f"series {letters} has more than 2 letters",
            f"sê-ri {letters} có nhiều hơn 2 chữ cái",
            f"系列{letters}超过两个字母",
        )
    for letter in letters:
        if letter not in VN_SERIES_LETTERS:
            raise reject(
                field,
                f"series letter {letter} is not used on Vietnamese plates",
                f"chữ cái sê-ri {letter} không được dùng trên biển số Việt Nam",
                f"越南车牌不使用系列字母{letter}",
            )
    tail = rest[len(letters) :]
    match = _VN_TAIL.fullmatch(tail)
    if match is None:
        digits = [c for c in tail if c in string.digits]
        odd = [c for c in tail if c not in string.digits and c not in " -."]
        if odd:
            raise reject(
                field,
                f"unexpected character {odd[0]} in plate number {raw}",
                f"ký tự không hợp lệ {odd[0]} trong biển số {raw}",
                f"车牌号{raw}中有无效字符{odd[0]}",
            )
        if len(digits) in (4, 5):
            raise reject(
                field,
                f"the number of plate {raw} must be written 1234, 12345 or 123.45",
                f"phần số của biển {raw} phải có dạng 1234, 12345 hoặc 123.45",
                f"车牌{raw}的号码部分应写作1234、12345或123.45",
            )
        raise reject(
            field,
            f"expected 4 or 5 digits (1234 or 123.45) after series {province}{letters}, "
            f"got {len(digits)}",
            f"cần 4 hoặc 5 chữ số (1234 hoặc 123.45) sau sê-ri {province}{letters}, "
            f"nhận được {len(digits)}",
            f"系列{province}{letters}之后应为4位或5位数字（1234或123.45），实际为{len(digits)}位",
        )
    series = letters + (match["sdigit"] or "")
    number = match["number"].replace(".", "")
    shown = f"{number[:3]}.{number[3:]}" if len(number) == 5 else number
    return Plate(
        text=f"{province}{series}-{shown}",
        country="VN",
        is_trailer=letters == "R",
        new_energy=False,
        region=province,
    )


def _parse_cn(raw: str, field: str) -> Plate:
    compact = _SEPARATORS.sub("", raw)
    province = compact[0]
    if province not in CN_PLATE_PROVINCES:
        raise reject(
            field,
            f"province character {province} is not one of the 31 mainland abbreviations",
            f"ký tự tỉnh {province} không thuộc 31 chữ viết tắt tỉnh của Trung Quốc đại lục",
            f"省份简称“{province}”不是31个内地省份简称之一",
        )
    prefecture = compact[1:2]
    if prefecture not in CN_PREFECTURE_LETTERS:
        shown = prefecture or "(none)"
        raise reject(
            field,
            f"prefecture letter {shown} is not a letter A-Z other than I and O",
            f"chữ cái địa khu {shown} không phải chữ cái A-Z (trừ I và O)",
            f"地区字母{shown}不是除I和O以外的A-Z字母",
        )
    serial = compact[2:]
    trailer = serial.endswith(CN_TRAILER_MARK)
    body = serial[:-1] if trailer else serial
    for char in body:
        if char in "IO":
            raise reject(
                field,
                f"letter {char} is never used on Chinese plates",
                f"chữ cái {char} không bao giờ được dùng trên biển số Trung Quốc",
                f"中国车牌不使用字母{char}",
            )
        if char not in CN_PLATE_CHARS:
            raise reject(
                field,
                f"unexpected character {char} in plate number {raw}",
                f"ký tự không hợp lệ {char} trong biển số {raw}",
                f"车牌号{raw}中有无效字符{char}",
            )
    new_energy = False
    if trailer:
        if len(body) != 4:
            raise reject(
                field,
                f"a trailer plate has 4 letters or digits before 挂, got {len(body)}",
                f"biển rơ-moóc có 4 chữ cái hoặc chữ số trước 挂, nhận được {len(body)}",
                f"挂车号牌在“挂”字前应有4位字母或数字，实际为{len(body)}位",
            )
    elif len(body) == 6:
        if body[0] not in CN_NEW_ENERGY_MARKS and body[-1] not in CN_NEW_ENERGY_MARKS:
            raise reject(
                field,
                f"a 6-character serial is a new-energy plate and must start or end with D or F, "
                f"got {body}",
                f"số 6 ký tự là biển xe năng lượng mới và phải bắt đầu hoặc kết thúc bằng D "
                f"hoặc F, nhận được {body}",
                f"6位序号为新能源号牌，必须以D或F开头或结尾，实际为{body}",
            )
        new_energy = True
    elif len(body) != 5:
        raise reject(
            field,
            f"expected 5 letters or digits after {province}{prefecture} (6 for new-energy "
            f"vehicles, 4 + 挂 for trailers), got {len(body)}",
            f"cần 5 chữ cái hoặc chữ số sau {province}{prefecture} (6 với xe năng lượng mới, "
            f"4 + 挂 với rơ-moóc), nhận được {len(body)}",
            f"{province}{prefecture}之后应为5位字母或数字（新能源车6位，挂车4位加“挂”），"
            f"实际为{len(body)}位",
        )
    return Plate(
        text=f"{province}{prefecture}{serial}",
        country="CN",
        is_trailer=trailer,
        new_energy=new_energy,
        region=province,
    )
