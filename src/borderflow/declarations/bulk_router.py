"""Bulk import HTTP API: upload a CSV or XLSX of shipments, download the template."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status

from borderflow.accounts.roles import Principal, Role
from borderflow.declarations import bulk, service
from borderflow.deps import ClockDep, NetworkDep, SessionDep, require

router = APIRouter(tags=["declarations"])
Enterprise = Annotated[Principal, require(Role.enterprise_user)]

@router.post(
    "/shipments/import", response_model=bulk.BulkReport,
    responses={
        status.HTTP_413_CONTENT_TOO_LARGE: {
            "description": f"Larger than {bulk.MAX_BYTES // 2**20} MB or more than "
            f"{bulk.MAX_ROWS} rows"},
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: {"description": "Not a .csv or .xlsx file"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {
            "model": bulk.BulkReport,
            "description": "all_or_nothing: some rows are invalid and nothing was created (the "
            "body is the report). A file whose columns are wrong, or that cannot be read, gets "
            "the usual error body naming the columns."},
    },
)
def import_shipments(
    file: Annotated[UploadFile, File(description="A .csv (UTF-8, comma separated) or .xlsx "
                                     "file: one row per goods line, grouped by `ref`")],
    principal: Enterprise, session: SessionDep, clock: ClockDep, network: NetworkDep,
    response: Response,
    mode: Annotated[bulk.BulkMode, Query(
        description="per_row: each shipment is created or rejected on its own; "
        "all_or_nothing: one invalid shipment and none is created")] = bulk.BulkMode.per_row,
) -> bulk.BulkReport:
    """Declare many shipments from one file; the reply lists each row's errors. Uploading the
    same file again creates nothing new (`replayed`). Columns: see the template."""
    bulk.file_kind(file.filename, file.content_type)  # 415 before reading the body
    data = file.file.read(bulk.MAX_BYTES + 1)
    report = bulk.import_shipments(
        session, data=data, filename=file.filename, content_type=file.content_type, mode=mode,
        principal=principal, clock=clock, network=network,
        hs_country=service.hs_country_for(session, principal),
    )
    if report.errors and mode is bulk.BulkMode.all_or_nothing:
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return report


@router.get(
    "/shipments/import/template.csv", response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Header and one example row"}},
)
def import_template(clock: ClockDep) -> Response:
    """The import file's columns and one example row, whose arrival window is two days ahead
    so it can be uploaded as is. Starts with a byte-order mark so Excel reads it as UTF-8."""
    return Response(
        content="\ufeff" + bulk.template_csv(clock.now()), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="shipments-import-template.csv"'},
    )
