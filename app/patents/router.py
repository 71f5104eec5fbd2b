"""HTTP routes of SPEC §4 (patent registry and stock-taking import) and §14 (court preservation)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, File, Query, UploadFile, status

from app.deps import ClockDep, OperatorDep, PrincipalDep, SessionDep, VerifiedMemberDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.patents import LegalStatus, PatentKind
from app.patents import importer, schemas, service

router = ExchangeRouter(tags=["patents"])


def _out(view: service.PatentView) -> schemas.PatentOut:
    return schemas.PatentOut.model_validate(view)


@router.post(
    "/patents",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PatentOut,
    responses=error_responses(
        401,
        403,
        codes={
            409: ["patent_exists"],
            422: ["invalid_date", "invalid_ipc_code", "invalid_patent_number", "unsupported_character"],
        },
    ),
    summary="Register a patent of your organization",
)
async def create_patent(
    body: schemas.PatentCreate, session: SessionDep, principal: VerifiedMemberDep, clock: ClockDep
) -> schemas.PatentOut:
    return _out(await service.create_patent(session, principal, body, clock))


IMPORT_DESCRIPTION = f"""\
The file's columns are named by its header (any order; `application_number`, `title` and `filing_date` are
required, other columns are ignored); list cells (`ipc_codes`, `inventors`) are separated by `;`.

**Formats**, recognised by the content, not by the file name or content type:
- CSV in UTF-8 (with or without BOM) or in GB18030/GBK, what Chinese Excel's “CSV (逗号分隔)” writes; UTF-8 is
  tried first, on the whole file.
- An Excel workbook (`.xlsx`): the first sheet, its first non-empty row being the header; numbers and Excel
  date cells are read as typed.

**Dates**: `2019-01-02`, `2019/1/2`, `2019.1.2`, `20190102` or an Excel date cell (this endpoint only: the rest of
the API takes ISO dates).

At most {importer.MAX_ROWS:,} data rows per upload; `row` in `failed` is the 1-based data row (the header and
empty rows are not counted). Good rows are saved even when others fail; re-importing a file creates nothing new.

Errors: 401 `unauthorized`; 403 `forbidden`, `organization_not_verified`; 409 `patent_exists` (another request
changed the same patents meanwhile: retry); 413 `payload_too_large`; 422 `invalid_csv` (a file in neither
encoding — the detail says how to save it —, an unreadable or empty workbook, a missing required column, a
column named twice, more than {importer.MAX_ROWS:,} data rows; nothing is saved), `validation_error` (no
`file`). A row's failure codes: `invalid_patent_number`, `patent_exists`, `patent_locked`, `duplicate_in_file`,
`missing_value`, `invalid_date`, `invalid_ipc_code`, `invalid_value`, `invalid_row`, `value_too_long`,
`unsupported_character`.
"""


@router.post(
    "/patents/import",
    response_model=schemas.ImportResult,
    responses=error_responses(401, 403, 413, codes={409: ["patent_exists"], 422: ["invalid_csv"]}),
    summary="Import your organization's patents from a CSV file or an Excel workbook (stock-taking)",
    description=IMPORT_DESCRIPTION,
)
async def import_patents(
    file: Annotated[
        UploadFile,
        File(
            description="CSV (UTF-8, GB18030/GBK) or .xlsx with the header application_number,title,abstract,"
            "ipc_codes,inventors,filing_date,grant_date,annual_fee_paid_until; list cells separated by ';'"
        ),
    ],
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
) -> schemas.ImportResult:
    report = await importer.import_patents(session, principal, file.file, clock)
    return schemas.ImportResult(
        created=report.created,
        updated=report.updated,
        failed=[schemas.ImportFailure(row=f.row, code=f.code, detail=f.detail) for f in report.failed],
    )


@router.get(
    "/patents",
    response_model=Page[schemas.PatentOut],
    responses=error_responses(401, codes={422: ["invalid_ipc_code"]}),
    summary="List patents (operators: all; others: their organization's)",
)
async def list_patents(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
    owner_org_id: uuid.UUID | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Substring of title, abstract or number")
    ] = None,
    ipc: Annotated[
        str | None,
        Query(
            max_length=40,
            description="IPC prefix, e.g. `H01M` or `H01M 10/05`",
            json_schema_extra={"pattern": schemas.IPC_PREFIX_PATTERN},
        ),
    ] = None,
    kind: PatentKind | None = None,
    legal_status: LegalStatus | None = None,
) -> Page[schemas.PatentOut]:
    filters = service.PatentFilters(
        owner_org_id=owner_org_id, q=q, ipc=ipc, kind=kind, legal_status=legal_status
    )
    views, cursor = await service.list_patents(
        session, principal, filters, limit=page.limit, cursor=page.cursor, clock=clock
    )
    return Page(items=[_out(v) for v in views], next_cursor=cursor)


@router.get(
    "/patents/{patent_id:uuid}", response_model=schemas.PatentOut, responses=error_responses(401, 404)
)
async def get_patent(
    patent_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> schemas.PatentOut:
    return _out(await service.get_patent(session, principal, patent_id, clock))


@router.patch(
    "/patents/{patent_id:uuid}",
    response_model=schemas.PatentOut,
    responses=error_responses(
        401,
        403,
        404,
        codes={409: ["patent_locked"], 422: ["invalid_date", "invalid_ipc_code", "unsupported_character"]},
    ),
    summary="Edit a patent (owners: descriptive fields; operators: legal_status)",
    description="An owner's edit of a patent in an active listing, a live open-licence declaration or an "
    "unsettled deal → 409 `patent_locked` (operators may still set `legal_status`).",
)
async def update_patent(
    patent_id: uuid.UUID,
    body: schemas.PatentUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> schemas.PatentOut:
    return _out(await service.update_patent(session, principal, patent_id, body, clock))


@router.post(
    "/patents/{patent_id:uuid}/preservation",
    response_model=schemas.PatentOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Set or lift court preservation (operators)",
)
async def set_patent_preservation(
    patent_id: uuid.UUID,
    body: schemas.PreservationIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
) -> schemas.PatentOut:
    return _out(await service.set_preservation(session, principal, patent_id, body, clock))
