"""HTTP routes of decision records and the deal dossier (安心屋, SPEC §18.7)."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import Response, status

from app.deps import ClockDep, IdempotencyDep, PrincipalDep, SessionDep
from app.dossier import pdf, schemas, service
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["dossier"])


@router.post(
    "/deals/{deal_id:uuid}/decision-record",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DecisionRecordOut,
    responses=error_responses(
        401, 403, 404, codes={409: ["invalid_state"], 422: ["unsupported_character", "validation_error"]}
    ),
    summary="Record the seller's collective decision about a deal (the seller)",
    description="安心屋: the unit's collective decision (e.g. 校长办公会), its number and day (not after today) and "
    "the SHA-256 of the signed decision document. Each call appends a record and the deal chain's "
    "`decision_recorded` event; a cancelled or defaulted deal → 409 `invalid_state`. Send an `Idempotency-Key` "
    "to make a retry safe.",
)
async def record_decision(
    deal_id: uuid.UUID,
    body: schemas.DecisionRecordIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.DecisionRecordOut:
        return service.present_decision(
            await service.record_decision(session, principal, deal_id, body, clock)
        )

    return await idem.run(act, status_code=201)


@router.get(
    "/deals/{deal_id:uuid}/dossier",
    response_model=schemas.DossierOut,
    responses=error_responses(401, 404),
    summary="The deal's dossier (the seller's members, operators)",
    description="Every fact of SPEC §18.7's table, each citing the audit event that recorded it (its `hash` is "
    "that event's in `GET /audit-events`), in `at` order (ties in the table's order, then by entity type, id "
    "and seq); `digest` is the SHA-256 of the hashes joined with a line break; `chain_ok` says whether every "
    "chain cited re-verifies. The buyer and anyone else get 404.",
)
async def get_dossier(
    deal_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> schemas.DossierOut:
    return service.present(await service.dossier(session, principal, deal_id, clock))


@router.get(
    "/deals/{deal_id:uuid}/dossier/pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "description": "The dossier as a PDF (CJK font embedded)",
        },
        **error_responses(401, 404),
    },
    summary="The deal's dossier as a PDF (the seller's members, operators)",
)
async def get_dossier_pdf(
    deal_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Response:
    d = await service.dossier(session, principal, deal_id, clock)
    content = await asyncio.to_thread(
        pdf.dossier_pdf, str(d.deal_id), d.generated_at, d.items, d.digest, d.chain_ok
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="dossier-{d.deal_id}.pdf"'},
    )
