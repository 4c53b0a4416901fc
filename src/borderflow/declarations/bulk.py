"""Bulk import: many shipments from one CSV or XLSX file, with a row-by-row report.

Layout: the first row is the header (names case-insensitive; spaces and dashes count as `_`);
then **one row per goods line**. Rows sharing a `ref` (the uploader's own reference, at most
100 characters) form one shipment; in its later rows a shipment column must repeat the first
row's value or be left empty. Columns (* = required; `;` separates the items of a list):

    ref*  regime*  direction  crossings*;  arrival_from*  arrival_to*  (ISO 8601 with offset)
    plate*  trailer_plate  gms_permit  containers;
    driver_name*  driver_id_number*  driver_phone*  driver_nationality*
    hs_code*  description*  quantity*  unit*  gross_weight_kg*  value*  currency*
    cargo_class*  shelf_life_hours                                        (the goods line)
    phytosanitary_certificate  customs_declaration_number  origin

CSV: UTF-8 with or without a byte-order mark, comma separated. XLSX: the first sheet; format
identifier columns as Text (an HS code's lost leading zero is put back, an ID number's cannot
be). In the report, `row` is the row as a spreadsheet shows it (the header is row 1) and
`field` the column.

Each shipment is declared by `service.create_shipment` with the idempotency key
`bulk:<sha256 of the file>:<ref>`: uploading the same file again creates nothing new (the
report says `replayed`). A changed file has another hash, so after fixing rejected rows upload
only those (the report names their refs), or the shipments created the first time are
created again.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from borderflow.accounts.roles import Principal
from borderflow.clock import Clock
from borderflow.declarations import service
from borderflow.declarations.schemas import ShipmentCreate
from borderflow.errors import BorderflowError, InvalidInput, ValidationFailed, pydantic_problem
from borderflow.network.schemas import Network

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5_000
MAX_REF = 100
MAX_UNZIPPED = 100 * 1024 * 1024  # an XLSX is a zip: refuse one that inflates beyond this

GOODS_COLUMNS = ("hs_code", "description", "quantity", "unit", "gross_weight_kg", "value",
                 "currency", "cargo_class", "shelf_life_hours")
SHIPMENT_COLUMNS = (
    "regime", "direction", "crossings", "arrival_from", "arrival_to", "plate", "trailer_plate",
    "gms_permit", "containers", "driver_name", "driver_id_number", "driver_phone",
    "driver_nationality",
)
TRAILING_COLUMNS = ("phytosanitary_certificate", "customs_declaration_number", "origin")
COLUMNS = ("ref", *SHIPMENT_COLUMNS, *GOODS_COLUMNS, *TRAILING_COLUMNS)
OPTIONAL_COLUMNS = frozenset({"direction", "trailer_plate", "gms_permit", "containers",
                              "shelf_life_hours", *TRAILING_COLUMNS})
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c not in OPTIONAL_COLUMNS)
_PER_SHIPMENT = (*SHIPMENT_COLUMNS, *TRAILING_COLUMNS)
_XLSX_TYPES = frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
# Windows browsers label .csv files "application/vnd.ms-excel".
_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"})


class BulkMode(StrEnum):
    per_row = "per_row"  # each shipment in its own savepoint: valid ones are created
    all_or_nothing = "all_or_nothing"  # one invalid shipment and nothing is created


class FileTooLarge(BorderflowError):
    status_code = 413


class UnsupportedFile(BorderflowError):
    status_code = 415


class BulkCreated(BaseModel):
    ref: str
    shipment_id: uuid.UUID
    replayed: bool


class BulkError(BaseModel):
    row: int
    ref: str | None
    field: str
    reason: str
    reason_vi: str | None = None
    reason_zh: str | None = None


class BulkReport(BaseModel):
    mode: BulkMode
    rows: int
    shipments_created: int
    shipments_failed: int
    created: list[BulkCreated]
    errors: list[BulkError]


@dataclass
class Row:
    number: int
    cells: dict[str, str]  # column → non-empty text
    problems: list[BulkError] = field(default_factory=list)


@dataclass
class Group:
    ref: str
    rows: list[Row]


def file_kind(filename: str | None, content_type: str | None) -> str:
    """"csv" or "xlsx", from the file's extension (or, without one, its content type)."""
    name = (filename or "").lower()
    ext = name.rsplit(".", 1)[1] if "." in name else ""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ext in ("csv", "xlsx"):
        return ext
    if not ext and ctype in _CSV_TYPES | _XLSX_TYPES:
        return "xlsx" if ctype in _XLSX_TYPES else "csv"
    raise UnsupportedFile(
        f"unsupported file {filename or ''!r} ({ctype or 'no content type'}): upload a .csv "
        "(UTF-8, comma separated) or an .xlsx file", field="file",
        vi="chỉ nhận tệp .csv (UTF-8, phân cách bằng dấu phẩy) hoặc .xlsx",
        zh="仅支持 .csv（UTF-8，逗号分隔）或 .xlsx 文件")


def _bad_file(message: str, vi: str, zh: str) -> ValidationFailed:
    return ValidationFailed([InvalidInput(message, field="file", vi=vi, zh=zh)])


def _cell(value: object) -> str:
    """An XLSX cell's value as the text a CSV would hold."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()  # naive: rejected later with a hint
    return "" if value is None else str(value).strip()


Lines = list[tuple[int, list[str]]]  # (row number, cells) of the non-empty rows


def _keep(lines: Lines, number: int, line: list[str]) -> bool:
    """Add a non-empty line; False once there are more rows than allowed (stop reading)."""
    if any(line):
        lines.append((number, line))
    return len(lines) <= MAX_ROWS + 1


def _csv_lines(data: bytes) -> Lines:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad_file(f"the CSV is not UTF-8 (byte {exc.start}): save it as 'CSV UTF-8'",
                        "tệp CSV không phải UTF-8: hãy lưu dạng 'CSV UTF-8'",
                        "CSV 文件不是 UTF-8 编码：请另存为“CSV UTF-8”") from exc
    lines: Lines = []
    try:
        for number, line in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if not _keep(lines, number, [c.strip() for c in line]):
                break
    except csv.Error as exc:
        raise _bad_file(f"unreadable CSV: {exc}", "tệp CSV không đọc được",
                        "无法读取 CSV 文件") from exc
    return lines


def _xlsx_lines(data: bytes) -> Lines:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            inflated = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise _bad_file("not a readable XLSX file", "tệp XLSX không đọc được",
                        "无法读取 XLSX 文件") from exc
    if inflated > MAX_UNZIPPED:
        raise FileTooLarge(f"the XLSX unpacks to more than {MAX_UNZIPPED // 2**20} MB",
                           field="file", vi="tệp XLSX quá lớn", zh="XLSX 文件过大")
    import openpyxl

    try:  # a library's failure on a broken file is the uploader's problem: map it here
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            lines: Lines = []
            rows = wb.worksheets[0].iter_rows(min_row=1, max_col=100, values_only=True)
            for number, values in enumerate(rows, start=1):
                if not _keep(lines, number, [_cell(v) for v in values]):
                    break
            return lines
        finally:
            wb.close()
    except Exception as exc:
        raise _bad_file(f"not a readable XLSX file ({exc.__class__.__name__})",
                        "tệp XLSX không đọc được", "无法读取 XLSX 文件") from exc


def _header(line: list[str]) -> list[str]:
    names = [re.sub(r"[\s-]+", "_", c.strip().lower()) for c in line]
    if len(names) == 1 and ";" in names[0]:
        raise _bad_file("the header is one column containing ';': separate columns with commas",
                        "các cột phải phân cách bằng dấu phẩy", "列之间必须用逗号分隔")
    problems: list[BorderflowError] = []
    for name in sorted({n for n in names if n and n not in COLUMNS}):
        close = difflib.get_close_matches(name, COLUMNS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(InvalidInput(f"unknown column {name!r}{hint}", field=name,
                                     vi="cột không xác định", zh="未知列"))
    for name in sorted({n for n in names if n and names.count(n) > 1}):
        problems.append(InvalidInput(f"column {name!r} appears twice", field=name,
                                     vi="cột bị lặp", zh="列重复"))
    problems += [InvalidInput(f"missing column {name!r}", field=name, vi="thiếu cột bắt buộc",
                              zh="缺少必需的列") for name in REQUIRED_COLUMNS if name not in names]
    if problems:
        raise ValidationFailed(problems)
    return names


def read_rows(data: bytes, kind: str) -> list[Row]:
    """The file's non-empty data rows; raises for a wrong file, header or size."""
    numbered = _xlsx_lines(data) if kind == "xlsx" else _csv_lines(data)
    if not numbered:
        raise _bad_file("the file is empty", "tệp rỗng", "文件为空")
    (_, head), body = numbered[0], numbered[1:]
    names = _header(head)
    if not body:
        raise _bad_file("the file has a header but no rows", "tệp không có dòng dữ liệu",
                        "文件没有数据行")
    if len(body) > MAX_ROWS:
        raise FileTooLarge(f"more than {MAX_ROWS} rows: split the file", field="file",
                           vi=f"quá {MAX_ROWS} dòng: hãy chia nhỏ tệp",
                           zh=f"超过 {MAX_ROWS} 行：请拆分文件")
    rows = []
    for number, line in body:
        row = Row(number, {})
        for i, value in enumerate(line):
            if not value:
                continue
            if i < len(names) and names[i]:
                row.cells[names[i]] = value
            else:
                row.problems.append(BulkError(
                    row=number, ref=None, field=f"column {i + 1}",
                    reason="a value in a column without a header",
                    reason_vi="giá trị nằm ở cột không có tiêu đề", reason_zh="数值位于无标题的列"))
        rows.append(row)
    return rows


def _hs(value: str) -> str:
    """Put back the leading zero a spreadsheet strips (chapters 01–09): HS codes have 6, 8, 10
    or 13 digits, so a code of 5, 7, 9 or 12 digits lost one."""
    lost = value.isdigit() and not value.startswith("0") and len(value) in (5, 7, 9, 12)
    return "0" + value if lost else value


def group_rows(rows: list[Row]) -> tuple[list[Group], list[Row]]:
    """Shipments by ref (in order of first appearance), and the rows without a usable ref."""
    groups: dict[str, Group] = {}
    loose: list[Row] = []
    for row in rows:
        ref = row.cells.get("ref")
        if ref is None or len(ref) > MAX_REF:
            loose.append(row)
            row.problems.insert(0, BulkError(
                row=row.number, ref=ref, field="ref",
                reason="each row needs a ref (≤ 100 characters): rows with the same ref form "
                "one shipment", reason_vi="mỗi dòng cần mã tham chiếu (ref)",
                reason_zh="每行都需要参考号（ref）"))
            continue
        group = groups.setdefault(ref, Group(ref, []))
        if group.rows:
            first = group.rows[0]
            for col in _PER_SHIPMENT:
                value = row.cells.get(col)
                if value is not None and value != first.cells.get(col):
                    row.problems.append(BulkError(
                        row=row.number, ref=ref, field=col,
                        reason=f"differs from row {first.number} of the same shipment (ref "
                        f"{ref!r}): repeat the value or leave the cell empty",
                        reason_vi=f"khác với dòng {first.number} của cùng lô hàng",
                        reason_zh=f"与同一票货物的第 {first.number} 行不一致"))
        group.rows.append(row)
    return list(groups.values()), loose


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [p.strip() for p in value.split(";") if p.strip()]


def _body(group: Group) -> dict[str, Any]:
    first = group.rows[0].cells
    plain = ("regime", "direction", "arrival_from", "arrival_to", *TRAILING_COLUMNS)
    body: dict[str, Any] = {k: first[k] for k in plain if k in first}
    if "crossings" in first:
        body["crossings"] = _split(first["crossings"])
    body["vehicle"] = {k: v for k, v in (
        ("plate", first.get("plate")), ("trailer_plate", first.get("trailer_plate")),
        ("gms_permit", first.get("gms_permit")), ("containers", _split(first.get("containers"))),
    ) if v is not None}
    body["driver"] = {k: first[f"driver_{k}"] for k in ("name", "id_number", "phone",
                                                        "nationality") if f"driver_{k}" in first}
    body["goods"] = [
        {k: (_hs(r.cells[k]) if k == "hs_code" else r.cells[k]) for k in GOODS_COLUMNS
         if k in r.cells}
        for r in group.rows
    ]
    return body


def _locate(loc: list[str | int]) -> tuple[int, str]:
    """(goods line index, column) for a schema or service location such as goods[1].hs_code."""
    head, sub = (str(loc[0]) if loc else "ref"), (str(loc[1]) if len(loc) > 1 else None)
    if head == "goods" and len(loc) > 2 and isinstance(loc[1], int):
        return loc[1], str(loc[2])
    if head == "vehicle":
        return 0, sub or "plate"
    if head == "driver":
        return 0, f"driver_{sub or 'name'}"
    # the goods list itself (more than 200 lines), or a key conflict: the shipment's ref
    return 0, "ref" if head in ("goods", "Idempotency-Key", "vehicle_id", "driver_id") else head


def _error(group: Group, loc: list[str | int], problem: dict[str, Any]) -> BulkError:
    line, column = _locate(loc)
    row = group.rows[min(line, len(group.rows) - 1)]
    return BulkError(row=row.number, ref=group.ref, field=column, reason=problem["reason"],
                     reason_vi=problem.get("reason_vi"), reason_zh=problem.get("reason_zh"))


def _schema_errors(group: Group, exc: ValidationError) -> list[BulkError]:

    out = []
    for err in exc.errors():
        problem = pydantic_problem(dict(err))
        if err["type"] == "missing":
            problem.update(reason="this column needs a value", reason_vi="cột này cần có giá trị",
                           reason_zh="此列必须填写")
        elif err["type"] == "timezone_aware":
            problem["reason"] += (" — give an offset, e.g. 2026-11-25T06:00:00+07:00 (in Excel, "
                                  "type it as text: a date cell has no time zone)")
        out.append(_error(group, list(err["loc"]), problem))
    return out


def _service_errors(group: Group, exc: BorderflowError) -> list[BulkError]:
    problems = exc.problems if isinstance(exc, ValidationFailed) else [exc]
    out = []
    for p in problems:
        loc: list[str | int] = [int(t) if t.isdigit() else t
                                for t in re.findall(r"[^.\[\]]+", p.field or "ref")]
        out.append(_error(group, loc, p.as_problem()))
    return out


def import_shipments(
    session: Session, *, data: bytes, filename: str | None, content_type: str | None,
    mode: BulkMode, principal: Principal, clock: Clock, network: Network, hs_country: str = "VN",
) -> BulkReport:
    """Read the file and declare its shipments; never commits. In `all_or_nothing` mode with
    any error, everything this call wrote is rolled back and the report lists every error."""
    kind = file_kind(filename, content_type)
    if len(data) > MAX_BYTES:
        raise FileTooLarge(f"the file is larger than {MAX_BYTES // 2**20} MB: split it",
                           field="file", vi="tệp quá lớn: hãy chia nhỏ", zh="文件过大：请拆分")
    rows = read_rows(data, kind)
    digest = hashlib.sha256(data).hexdigest()
    groups, loose = group_rows(rows)
    errors = [p for r in loose for p in r.problems]
    failed = len(loose)  # a row without a ref is a shipment of its own that failed
    created: list[BulkCreated] = []
    outer = session.begin_nested()
    try:
        for group in groups:
            problems = [p for r in group.rows for p in r.problems]
            try:
                shipment_in = ShipmentCreate.model_validate(_body(group))
            except ValidationError as exc:
                problems += _schema_errors(group, exc)
            if problems:
                errors += problems
                failed += 1
                continue
            try:
                with session.begin_nested():
                    shipment, replayed = service.create_shipment(
                        session, shipment_in=shipment_in, principal=principal, clock=clock,
                        network=network, hs_country=hs_country,
                        idempotency_key=f"bulk:{digest}:{group.ref}")
                    created.append(BulkCreated(ref=group.ref, shipment_id=shipment.id,
                                               replayed=replayed))
            except BorderflowError as exc:
                errors += _service_errors(group, exc)
                failed += 1
    except BaseException:
        outer.rollback()
        raise
    if errors and mode is BulkMode.all_or_nothing:
        outer.rollback()
        created = []
    else:
        outer.commit()
    errors.sort(key=lambda e: e.row)
    return BulkReport(mode=mode, rows=len(rows), shipments_created=len(created),
                      shipments_failed=failed, created=created, errors=errors)


def template_csv(now: datetime | None = None) -> str:
    """The header and one example row (fresh durian for export). Its arrival window is the day
    after tomorrow (Vietnam time) from `now`, so the template uploads as is; without `now`, the
    fixed example date 2026-11-25."""
    ict = timezone(timedelta(hours=7))
    day = (now.astimezone(ict) + timedelta(days=2)).date() if now else date(2026, 11, 25)
    example = {
        "ref": "LAN-0001", "regime": "export", "crossings": "huu-nghi;chi-ma",
        "arrival_from": datetime.combine(day, time(6), ict).isoformat(),
        "arrival_to": datetime.combine(day, time(18), ict).isoformat(),
        "plate": "63C-123.45", "trailer_plate": "63R-012.34", "containers": "CSQU3054383",
        "driver_name": "Nguyen Van Tuan", "driver_id_number": "001099012345",
        "driver_phone": "0912345678", "driver_nationality": "VN", "hs_code": "08106000",
        "description": "Fresh durian (Ri6)", "quantity": "18000", "unit": "KGM",
        "gross_weight_kg": "19500", "value": "54000", "currency": "USD",
        "cargo_class": "fresh_fruit", "shelf_life_hours": "216",
        "phytosanitary_certificate": "VN-PC-2026-118822", "origin": "Tien Giang",
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow([example.get(c, "") for c in COLUMNS])
    return out.getvalue()
