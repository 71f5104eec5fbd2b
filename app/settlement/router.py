"""HTTP routes of payment, settlement and certificates (SPEC §11); transfer tasks and licence records are
app.filings'."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Path, Response

from app.deals.schemas import DealOut
from app.deps import ClockDep, IdempotencyDep, OperatorDep, PrincipalDep, SessionDep, SettingsDep
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter
from app.models.settlement import Certificate
from app.settlement import schemas, service
from app.settlement.pdf import certificate_pdf

router = ExchangeRouter(tags=["settlement"])
certificates_router = ExchangeRouter(tags=["certificates"])

CertificateNumber = Annotated[str, Path(max_length=32, description="e.g. JZ2026-000123-7")]


@router.post(
    "/deals/{deal_id:uuid}/pay",
    response_model=DealOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["insufficient_funds", "invalid_state"]}),
    summary="Pay a deal (the buyer): the deposit is applied and the rest moves into escrow",
)
async def pay_deal(
    deal_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep, idem: IdempotencyDep
) -> Response:
    async def act() -> DealOut:
        return DealOut.model_validate(await service.pay(session, principal, deal_id, clock))

    return await idem.run(act, status_code=200)


@router.post(
    "/deals/{deal_id:uuid}/settle",
    response_model=DealOut,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "co_owner_consent_required",
                "invalid_state",
                "patent_not_transferable",
                "patent_pledged",
                "use_right_conflict",
            ]
        },
    ),
    summary="Settle a paid deal (operators): pay out escrow, issue the certificate, transfer or license",
)
async def settle_deal(
    deal_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep, idem: IdempotencyDep
) -> Response:
    async def act() -> DealOut:
        return DealOut.model_validate(await service.settle(session, principal, deal_id, clock))

    return await idem.run(act, status_code=200)


def _certificate_out(certificate: Certificate) -> schemas.CertificateOut:
    content = certificate.content
    return schemas.CertificateOut(
        number=certificate.number,
        deal_id=certificate.deal_id,
        issued_at=certificate.issued_at,
        seller=schemas.PartyOut.model_validate(content["seller"]),
        buyer=schemas.PartyOut.model_validate(content["buyer"]),
        patents=[schemas.CertificatePatentOut.model_validate(p) for p in content["patents"]],
        price=int(content["price"]),
        transaction_kind=str(content["transaction_kind"]),
        pricing_mode=content.get("pricing_mode"),
        settled_at=datetime.fromisoformat(str(content["settled_at"])),
        settled_on=service.certificate_date(content),
        contract_sha256=content.get("contract_sha256"),
    )


@certificates_router.get(
    "/certificates/{number}",
    response_model=schemas.CertificateOut,
    responses=error_responses(404, 422),
    summary="Verify a transaction certificate (public)",
)
async def get_certificate(number: CertificateNumber, session: SessionDep) -> schemas.CertificateOut:
    return _certificate_out(await service.get_certificate(session, number))


@certificates_router.get(
    "/certificates/{number}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The certificate as a PDF (Chinese)"},
        **error_responses(404, 422),
    },
    summary="A transaction certificate as a PDF (public)",
)
async def get_certificate_pdf(
    number: CertificateNumber, session: SessionDep, settings: SettingsDep
) -> Response:
    certificate = await service.get_certificate(session, number)
    # The verification URL is built from EXCHANGE_PUBLIC_URL, never from the request's Host (SPEC §21).
    content = await asyncio.to_thread(
        certificate_pdf,
        certificate.number,
        certificate.content,
        issued_at=certificate.issued_at,
        public_url=settings.public_url,
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{certificate.number}.pdf"'},
    )
