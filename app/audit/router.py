"""HTTP routes of the audit trail (SPEC §15)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Query

from app.audit import service
from app.audit.access import Concealed, operator_view, reader_view
from app.audit.schemas import AuditEventOut, VerifyOut
from app.deps import OperatorDep, PrincipalDep, SessionDep
from app.kit.errors import NotFound, error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.audit import AuditEvent

router = ExchangeRouter(tags=["audit"])


def _not_naming(concealed: Concealed, e: AuditEvent) -> bool:
    return not concealed.names(e.actor, e.data)


def _unsealed(shows: Callable[[str, str, Any], bool], e: AuditEvent) -> bool:
    return shows(e.entity_type, e.entity_id, e.data)


@router.get(
    "/audit-events",
    response_model=Page[AuditEventOut],
    responses=error_responses(401, 404, 422),
    summary="Audit events (operators: all; a party: one entity of its own)",
    description="A party reads one entity of its own at a time (`entity_type` and `entity_id`); events that "
    "name an organization hidden from it — a registrant (bidders are anonymous until a deal names the winner) "
    "or an objector — are readable by operators and by that organization only, and left out for others.",
)
async def list_audit_events(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    entity_type: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditEventOut]:
    ids: list[str] | None = [entity_id] if entity_id else None
    concealed: Concealed | None = None
    # Parties read one entity at a time, and only their own; events naming an organization hidden from
    # them (a registrant, an objector: SPEC §20) are left out.
    shows: Callable[[AuditEvent], bool] | None = None
    if not principal.is_operator:
        if entity_type and entity_id and principal.organization_id is not None:
            concealed = await reader_view(
                session, entity_type, entity_id, principal.organization_id, admin=principal.is_org_admin
            )
        if concealed is None:
            raise NotFound("No such entity among yours; give entity_type and entity_id of your own.")
        shows = partial(_not_naming, concealed)
    elif (operator_shows := await operator_view(session)) is not None:
        shows = partial(_unsealed, operator_shows)
    rows, cursor = await service.list_events(
        session,
        entity_type=entity_type,
        entity_ids=ids,
        limit=page.limit,
        cursor=page.cursor,
        shows=shows,
    )
    return Page(items=[AuditEventOut.model_validate(e) for e in rows], next_cursor=cursor)


@router.get(
    "/audit-events/verify",
    response_model=VerifyOut,
    responses=error_responses(401, 403),
    summary="Re-hash every chain (operators)",
)
async def verify_audit_events(session: SessionDep, _: OperatorDep) -> VerifyOut:
    report = await service.verify_all(session)
    return VerifyOut.model_validate(report)
