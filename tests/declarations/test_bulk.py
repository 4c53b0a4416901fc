"""Bulk import of shipments from CSV and XLSX files (issue 3, item 6)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from borderflow.declarations import bulk, bulk_router
from tests.fixtures.api import Cast, Persona

IMPORT = "/api/v1/shipments/import"
TEMPLATE = "/api/v1/shipments/import/template.csv"


@pytest.fixture(autouse=True)
def _bulk_routes(app: FastAPI) -> None:
    """Include the bulk router unless app.py already does."""
    if not any(getattr(r, "path", None) == IMPORT for r in app.routes):
        app.include_router(bulk_router.router, prefix="/api/v1")


@pytest.fixture
def cast(cast: Cast, session: Session) -> Cast:
    """The shared cast, committed (a savepoint of the test's transaction): the shared fixture
    only flushes, so a request that fails first would roll the people back with it."""
    session.commit()
    return cast


def line(ref: str, **overrides: Any) -> dict[str, Any]:
    """One goods line of a durian export (the durian example of tests/fixtures/api.py)."""
    row = {
        "ref": ref, "regime": "export", "crossings": "huu-nghi;chi-ma",
        "arrival_from": "2026-11-25T06:00:00+07:00", "arrival_to": "2026-11-25T18:00:00+07:00",
        "plate": "63C-123.45", "trailer_plate": "63R-012.34", "containers": "CSQU3054383",
        "driver_name": "Nguyen Van Tuan", "driver_id_number": "001099012345",
        "driver_phone": "0912345678", "driver_nationality": "VN", "hs_code": "08106000",
        "description": "Fresh durian (Ri6)", "quantity": "18000", "unit": "KGM",
        "gross_weight_kg": "19500", "value": "54000", "currency": "USD",
        "cargo_class": "fresh_fruit", "shelf_life_hours": "216",
        "phytosanitary_certificate": "VN-PC-2026-118822", "origin": "Tien Giang",
    }
    row.update(overrides)
    return row


def three_shipments() -> list[dict[str, Any]]:
    """Three shipments; LAN-1 has two goods lines."""
    return [
        line("LAN-1"),
        line("LAN-1", hs_code="08109000", description="Dragon fruit", quantity="2000",
             gross_weight_kg="2200", value="3000", shelf_life_hours=""),
        line("LAN-2", plate="12C-123.45", trailer_plate="12R-012.34", containers=""),
        line("LAN-3", plate="29C-123.45", crossings="chi-ma", trailer_plate=""),
    ]


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = bulk.COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode()


def to_xlsx(rows: list[dict[str, Any]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(bulk.COLUMNS))
    for row in rows:
        ws.append([row.get(c) or None for c in bulk.COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(client: TestClient, who: Persona, data: bytes, name: str = "shipments.csv",
           mode: str = "per_row", content_type: str = "text/csv") -> Any:
    return client.post(IMPORT, params={"mode": mode}, headers=who.headers,
                       files={"file": (name, data, content_type)})


def shipment_count(client: TestClient, who: Persona) -> int:
    r = client.get("/api/v1/shipments", headers=who.headers)
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


def test_creates_one_shipment_per_ref_from_csv(client: TestClient, cast: Cast) -> None:
    r = upload(client, cast.exporter_lan, to_csv(three_shipments()))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["errors"] == []
    assert (report["rows"], report["shipments_created"], report["shipments_failed"]) == (4, 3, 0)
    assert [c["ref"] for c in report["created"]] == ["LAN-1", "LAN-2", "LAN-3"]
    assert not any(c["replayed"] for c in report["created"])
    assert shipment_count(client, cast.exporter_lan) == 3
    first = client.get(f"/api/v1/shipments/{report['created'][0]['shipment_id']}",
                       headers=cast.exporter_lan.headers).json()
    assert [g["hs_code"] for g in first["goods"]] == ["08106000", "08109000"]
    assert first["crossings"] == ["huu-nghi", "chi-ma"]
    assert first["vehicle"]["containers"] == ["CSQU3054383"]


def test_creates_the_same_shipments_from_xlsx(client: TestClient, cast: Cast) -> None:
    r = upload(client, cast.exporter_lan, to_xlsx(three_shipments()), name="shipments.xlsx",
               content_type=XLSX_TYPE)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["errors"] == []
    assert (report["rows"], report["shipments_created"]) == (4, 3)
    assert shipment_count(client, cast.exporter_lan) == 3


def test_xlsx_number_cells_keep_the_hs_code_leading_zero(client: TestClient, cast: Cast) -> None:
    rows = [line("LAN-1", hs_code=8106000, quantity=18000, shelf_life_hours=216)]
    r = upload(client, cast.exporter_lan, to_xlsx(rows), name="s.xlsx", content_type=XLSX_TYPE)
    assert r.status_code == 200, r.text
    sid = r.json()["created"][0]["shipment_id"]
    goods = client.get(f"/api/v1/shipments/{sid}", headers=cast.exporter_lan.headers
                       ).json()["goods"]
    assert goods[0]["hs_code"] == "08106000"


def test_xlsx_date_cell_without_time_zone_is_reported(client: TestClient, cast: Cast) -> None:
    rows = [line("LAN-1", arrival_from=datetime(2026, 11, 25, 6))]
    r = upload(client, cast.exporter_lan, to_xlsx(rows), name="s.xlsx", content_type=XLSX_TYPE)
    assert r.status_code == 200, r.text
    [error] = r.json()["errors"]
    assert (error["row"], error["field"]) == (2, "arrival_from")
    assert "+07:00" in error["reason"]


def invalid_file() -> list[dict[str, Any]]:
    return [
        line("OK-1"),                                            # row 2
        line("BAD-PLATE", plate="XX-999"),                       # row 3
        line("BAD-HS", hs_code="99999999"),                      # row 4
        line("NAIVE", arrival_from="2026-11-25T06:00:00"),       # row 5
        line("NO-PHONE", driver_phone=""),                       # row 6
        line("LINE-2"),                                          # row 7
        line("LINE-2", hs_code="0810"),                          # row 8: bad second line
        line("MIXED"),                                           # row 9
        line("MIXED", plate="12C-123.45"),                       # row 10: differs from row 9
        line("", plate="12C-123.45"),                            # row 11: no ref
        line("OK-2", plate="12C-123.45", trailer_plate=""),      # row 12
    ]


def test_per_row_creates_valid_shipments_and_reports_invalid_rows(
    client: TestClient, cast: Cast
) -> None:
    r = upload(client, cast.exporter_lan, to_csv(invalid_file()))
    assert r.status_code == 200, r.text
    report = r.json()
    assert [c["ref"] for c in report["created"]] == ["OK-1", "OK-2"]
    assert (report["rows"], report["shipments_created"], report["shipments_failed"]) == (11, 2, 7)
    found = {(e["row"], e["ref"], e["field"]) for e in report["errors"]}
    assert found == {
        (3, "BAD-PLATE", "plate"), (4, "BAD-HS", "hs_code"), (5, "NAIVE", "arrival_from"),
        (6, "NO-PHONE", "driver_phone"), (8, "LINE-2", "hs_code"), (10, "MIXED", "plate"),
        (11, None, "ref"),
    }
    assert all(e["reason"] and e["reason_vi"] and e["reason_zh"] for e in report["errors"])
    assert [e["row"] for e in report["errors"]] == sorted(e["row"] for e in report["errors"])
    assert shipment_count(client, cast.exporter_lan) == 2


def test_all_or_nothing_creates_nothing_when_a_row_is_invalid(
    client: TestClient, cast: Cast
) -> None:
    r = upload(client, cast.exporter_lan, to_csv(invalid_file()), mode="all_or_nothing")
    assert r.status_code == 422, r.text
    report = r.json()
    assert report["mode"] == "all_or_nothing"
    assert (report["shipments_created"], report["created"]) == (0, [])
    assert {e["row"] for e in report["errors"]} == {3, 4, 5, 6, 8, 10, 11}
    assert shipment_count(client, cast.exporter_lan) == 0


def test_all_or_nothing_creates_everything_when_all_rows_are_valid(
    client: TestClient, cast: Cast
) -> None:
    r = upload(client, cast.exporter_lan, to_csv(three_shipments()), mode="all_or_nothing")
    assert r.status_code == 200, r.text
    assert r.json()["shipments_created"] == 3
    assert shipment_count(client, cast.exporter_lan) == 3


def test_uploading_the_same_file_again_creates_no_duplicates(
    client: TestClient, cast: Cast
) -> None:
    data = to_csv(three_shipments())
    first = upload(client, cast.exporter_lan, data).json()
    again = upload(client, cast.exporter_lan, data, mode="all_or_nothing")
    assert again.status_code == 200, again.text
    assert all(c["replayed"] for c in again.json()["created"])
    assert ([c["shipment_id"] for c in again.json()["created"]]
            == [c["shipment_id"] for c in first["created"]])
    assert shipment_count(client, cast.exporter_lan) == 3


def test_missing_and_unknown_columns_are_named(client: TestClient, cast: Cast) -> None:
    columns = tuple("hscode" if c == "hs_code" else c for c in bulk.COLUMNS if c != "unit")
    r = upload(client, cast.exporter_lan, to_csv([line("LAN-1")], columns))
    assert r.status_code == 422, r.text
    problems = {p["field"]: p["reason"] for p in r.json()["detail"]}
    assert set(problems) == {"hs_code", "unit", "hscode"}
    assert "missing" in problems["unit"]
    assert "did you mean 'hs_code'" in problems["hscode"]
    assert shipment_count(client, cast.exporter_lan) == 0


def test_blank_lines_keep_row_numbers_and_headers_are_forgiving(
    client: TestClient, cast: Cast
) -> None:
    header = ",".join(c.replace("_", " ").title() for c in bulk.COLUMNS)  # "Driver Name"
    rows = to_csv([line("OK"), line("BAD", plate="XX-999")]).decode().splitlines()[1:]
    data = "\r\n".join([header, "", rows[0], ",,,", rows[1]]).encode("utf-8-sig")
    r = upload(client, cast.exporter_lan, data)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 2
    assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(5, "plate")]


def test_semicolon_separated_csv_gets_a_clear_reason(client: TestClient, cast: Cast) -> None:
    r = upload(client, cast.exporter_lan, ";".join(bulk.COLUMNS).encode() + b"\r\nx;y\r\n")
    assert r.status_code == 422
    assert "commas" in r.json()["detail"][0]["reason"]


@pytest.mark.parametrize(("name", "content_type"), [
    ("shipments.xls", "application/vnd.ms-excel"),
    ("shipments.json", "application/json"),
    ("shipments", "application/pdf"),
])
def test_rejects_other_file_types(client: TestClient, cast: Cast, name: str,
                                  content_type: str) -> None:
    r = upload(client, cast.exporter_lan, to_csv(three_shipments()), name=name,
               content_type=content_type)
    assert r.status_code == 415, r.text
    assert ".xlsx" in r.json()["detail"][0]["reason"]


def test_rejects_a_file_over_the_size_limit(client: TestClient, cast: Cast) -> None:
    data = to_csv(three_shipments())
    data += b"\r\n" * (bulk.MAX_BYTES - len(data) + 1)
    r = upload(client, cast.exporter_lan, data)
    assert r.status_code == 413, r.text
    assert "MB" in r.json()["detail"][0]["reason"]


def test_rejects_a_file_over_the_row_limit(client: TestClient, cast: Cast,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "MAX_ROWS", 3)
    r = upload(client, cast.exporter_lan, to_csv(three_shipments()))
    assert r.status_code == 413, r.text
    assert "more than 3 rows" in r.json()["detail"][0]["reason"]
    assert shipment_count(client, cast.exporter_lan) == 0


def test_rejects_an_unreadable_xlsx(client: TestClient, cast: Cast) -> None:
    r = upload(client, cast.exporter_lan, b"not a zip", name="s.xlsx", content_type=XLSX_TYPE)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "file"


def test_only_enterprise_users_may_import(client: TestClient, cast: Cast) -> None:
    r = upload(client, cast.officer_hoa, to_csv(three_shipments()))
    assert r.status_code == 403, r.text
    assert upload(client, cast.camera_hn_gate_1, to_csv(three_shipments())).status_code == 403


def test_template_uploads_as_is(client: TestClient, cast: Cast) -> None:
    r = client.get(TEMPLATE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    header, example = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert tuple(header) == bulk.COLUMNS
    assert example[header.index("arrival_from")] == "2026-11-25T06:00:00+07:00"
    imported = upload(client, cast.exporter_lan, r.content, name="template.csv")
    assert imported.status_code == 200, imported.text
    assert imported.json()["errors"] == []
    assert imported.json()["shipments_created"] == 1
    assert shipment_count(client, cast.exporter_lan) == 1
