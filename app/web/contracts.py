"""The contract page (SPEC §19.4 ``/contracts/{id}``): a deal's contract for its two parties and operators
(others get the 404 page, as from ``GET /api/v1/contracts/{id}``), with the deal's summary, the text, its
SHA-256, the signatures and the deadlines; a party that may sign now signs the SHA-256 shown through a form
(the hidden CSRF token; ``contract.js`` opens the confirm dialog first), which calls the service of
``POST /api/v1/contracts/{id}/sign``. ``/contracts/{id}/pdf`` is the API's PDF with the cookie's session."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Form, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.contracts import pdf, schemas
from app.contracts import service as contracts
from app.deals.schemas import DealOut
from app.deps import CalendarDep, ClockDep, OptionalPrincipalDep, SessionDep
from app.kit.errors import ExchangeError
from app.kit.routing import ExchangeRouter
from app.kit.security import Principal
from app.models.accounts import Organization, User
from app.models.contracts import Contract, ContractSignature, Party
from app.models.trading import Deal, DealStatus
from app.web.pages import page, require_signed_in

router = ExchangeRouter()

# What a refused signature reads (SPEC §11, §18.2); the page then shows the contract as it is now.
SIGN_REFUSALS = {
    "contract_changed": "合同内容已变化，请刷新页面，阅读新的合同文本后再签署",
    "invalid_state": "当前交易状态不能签署合同，请刷新页面",
    "equity_terms_required": "尚未约定出资条款（注册资本、股权比例），暂不能签署",
    "valuation_required": "尚未提交资产评估报告或不评估的决定，暂不能签署",
    "valuation_expired": "资产评估报告已过有效期，暂不能签署",
    "forbidden": "只有合同双方可以签署合同",
    "validation_error": "签署信息有误，请刷新页面",
}
SIGNED = "签署成功"


@dataclass(frozen=True, slots=True)
class PartyView:
    party: Party
    name: str
    credit_code: str


@dataclass(frozen=True, slots=True)
class SignatureView:
    party: Party
    organization: str
    signer: str
    signed_at: datetime
    sha256: str


async def _names(
    session: AsyncSession, deal: Deal, signatures: list[ContractSignature]
) -> tuple[dict[Party, PartyView], list[SignatureView]]:
    """The parties' names and credit codes, and who signed for each: read after ``get_contract`` let the
    viewer see the contract."""
    orgs = {
        o.id: o
        for o in await session.scalars(
            select(Organization).where(Organization.id.in_((deal.buyer_org_id, deal.seller_org_id)))
        )
    }
    users: dict[uuid.UUID, str] = {}
    if signatures:
        rows = await session.execute(
            select(User.id, User.name).where(User.id.in_({s.user_id for s in signatures}))
        )
        users = {row.id: row.name for row in rows}
    parties = {
        party: PartyView(party, orgs[org_id].name, orgs[org_id].credit_code)
        for party, org_id in ((Party.seller, deal.seller_org_id), (Party.buyer, deal.buyer_org_id))
    }
    signed = [
        SignatureView(
            party=Party(s.party),
            organization=orgs[s.organization_id].name if s.organization_id in orgs else "—",
            signer=users.get(s.user_id, "—"),
            signed_at=s.signed_at,
            sha256=s.sha256,
        )
        for s in signatures
    ]
    return parties, signed


def own_party(principal: Principal, deal: Deal) -> Party | None:
    if principal.is_operator or principal.organization_id is None:
        return None
    if principal.organization_id == deal.buyer_org_id:
        return Party.buyer
    if principal.organization_id == deal.seller_org_id:
        return Party.seller
    return None


def may_sign_now(party: Party | None, deal: Deal, signatures: list[ContractSignature], now: datetime) -> bool:
    """Whether to offer the sign button: a party that has not signed, the deal awaiting signatures and its
    ``sign_by`` not passed. The service decides (and explains a refusal); this only spares a button that
    could never work."""
    return (
        party is not None
        and deal.status == DealStatus.awaiting_signatures
        and (deal.sign_by is None or now < deal.sign_by)
        and all(s.party != party for s in signatures)
    )


async def _contract_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    contract: Contract,
    deal: Deal,
    signatures: list[ContractSignature],
    *,
    now: datetime,
    status: int = 200,
    refusal: str | None = None,
    flash: str | None = None,
) -> HTMLResponse:
    parties, signed = await _names(session, deal, signatures)
    party = own_party(principal, deal)
    return page(
        request,
        "contract.html",
        status=status,
        contract=contract,
        contract_status=contracts.contract_status(contract, deal),
        deal=DealOut.model_validate(deal).model_dump(mode="json"),  # the API's form
        parties=parties,
        signatures=signed,
        my_party=party,
        # After a changed text the page asks for a reload instead of offering the new hash at once.
        may_sign=may_sign_now(party, deal, signatures, now) and refusal != "contract_changed",
        refusal=refusal,
        refusal_message=SIGN_REFUSALS.get(refusal or "", "签署失败，请刷新页面") if refusal else None,
        flash=flash,
    )


@router.get("/contracts/{contract_id:uuid}")
async def contract_page(
    request: Request,
    contract_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> HTMLResponse:
    who = require_signed_in(request, principal)
    contract, deal, signatures = await contracts.get_contract(session, who, contract_id)
    party = own_party(who, deal)
    just_signed = request.query_params.get("signed") == "1" and any(s.party == party for s in signatures)
    return await _contract_page(
        request,
        session,
        who,
        contract,
        deal,
        signatures,
        now=clock.now(),
        flash=SIGNED if just_signed else None,
    )


@router.post("/contracts/{contract_id:uuid}/sign")
async def sign_contract(
    request: Request,
    contract_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
    sha256: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """``POST /api/v1/contracts/{id}/sign``'s service with the SHA-256 the page showed (the form's hidden
    field); success goes back to the page (303), a refusal shows the page as it is now with the reason."""
    who = require_signed_in(request, principal)
    now = clock.now()
    refusal: str
    status: int
    try:
        body = schemas.SignIn(sha256=sha256)
    except ValidationError:
        refusal, status = "validation_error", 422
    else:
        try:
            async with session.begin_nested():  # a refusal leaves nothing behind
                await contracts.sign_contract(
                    session, who, contract_id, body.sha256, now=now, calendar=calendar
                )
        except ExchangeError as exc:
            if exc.status == 404:
                raise
            refusal, status = exc.code, exc.status
        else:
            return RedirectResponse(f"/contracts/{contract_id}?signed=1", status_code=303)
    contract, deal, signatures = await contracts.get_contract(session, who, contract_id)
    return await _contract_page(
        request, session, who, contract, deal, signatures, now=now, status=status, refusal=refusal
    )


@router.get("/contracts/{contract_id:uuid}/pdf")
async def contract_pdf(
    request: Request, contract_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipalDep
) -> Response:
    """The API's PDF (``GET /api/v1/contracts/{id}/pdf``): the same reader, the same rendering."""
    who = require_signed_in(request, principal)
    contract, _, _ = await contracts.get_contract(session, who, contract_id)
    content = await asyncio.to_thread(
        pdf.render_pdf, contract.text, contract.sha256, created=contract.created_at
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="contract-{contract.id}.pdf"'},
    )
