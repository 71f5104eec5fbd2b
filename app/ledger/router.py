"""HTTP routes of the ledger (SPEC §6)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response, status

from app.deps import ClockDep, IdempotencyDep, OperatorDep, PrincipalDep, SessionDep
from app.kit.errors import Forbidden, NotFound, error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.kit.security import Principal
from app.ledger import schemas, service
from app.models.accounts import Organization
from app.models.ledger import AccountKind

router = ExchangeRouter(tags=["ledger"])


def _payment_out(entry, organization_id: uuid.UUID) -> schemas.PaymentOut:  # type: ignore[no-untyped-def]
    return schemas.PaymentOut(
        id=entry.id,
        organization_id=organization_id,
        amount=entry.amount,
        bank_reference=entry.reference,
        at=entry.at,
    )


@router.post(
    "/ledger/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PaymentOut,
    responses={
        200: {
            "model": schemas.PaymentOut,
            "description": "The bank reference was recorded before: the first payment, unchanged",
        },
        **error_responses(401, 403, 404, 422, codes={409: ["payment_conflict"]}),
    },
    summary="Record a bank transfer received (operators)",
    description="A bank reference credits once: the same reference with the same organization and amount "
    "replays the first payment (200); with another organization or amount → 409 `payment_conflict`. "
    "An unknown organization → 404 `not_found`.",
)
async def record_payment(
    body: schemas.PaymentCreate,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    if await session.get(Organization, body.organization_id) is None:
        raise NotFound("No such organization.")

    created = True

    async def act() -> schemas.PaymentOut:
        nonlocal created
        entry, created = await service.record_bank_payment(
            session,
            organization_id=body.organization_id,
            amount=body.amount,
            bank_reference=body.bank_reference,
            at=clock.now(),
            actor=principal.label,
        )
        return _payment_out(entry, entry.organization_id or body.organization_id)

    response = await idem.run(act)
    if not created:
        response.status_code = status.HTTP_200_OK
    return response


@router.post(
    "/ledger/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.WithdrawalOut,
    responses=error_responses(401, 403, 422, codes={409: ["insufficient_funds"]}),
    summary="Withdraw available money to the bank (org admin)",
)
async def create_withdrawal(
    body: schemas.WithdrawalCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    if principal.organization_id is None or not principal.is_org_admin:
        raise Forbidden("Only an organization's admin may withdraw its money.")
    org_id = principal.organization_id

    async def act() -> schemas.WithdrawalOut:
        entry = await service.withdraw(
            session, organization_id=org_id, amount=body.amount, at=clock.now(), actor=principal.label
        )
        return schemas.WithdrawalOut(id=entry.id, organization_id=org_id, amount=entry.amount, at=entry.at)

    return await idem.run(act)


def _require_member_or_operator(principal: Principal, org_id: uuid.UUID) -> None:
    if not principal.is_operator and principal.organization_id != org_id:
        raise NotFound("No such organization.")


@router.get(
    "/organizations/{org_id:uuid}/account",
    response_model=schemas.AccountOut,
    response_model_exclude_none=True,
    responses=error_responses(401, 404),
    summary="An organization's available and held balances",
)
async def get_account(org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> schemas.AccountOut:
    _require_member_or_operator(principal, org_id)
    if await session.get(Organization, org_id) is None:
        raise NotFound("No such organization.")
    balances = await service.balances(session, org_id)
    return schemas.AccountOut(
        available=balances[AccountKind.available],
        held=balances[AccountKind.held],
        payable_to_inventors=balances.get(AccountKind.payable_to_inventors),
    )


@router.get(
    "/organizations/{org_id:uuid}/ledger",
    response_model=Page[schemas.LedgerEntryOut],
    responses=error_responses(401, 404, 422),
    summary="An organization's ledger entries, newest first",
)
async def get_organization_ledger(
    org_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[schemas.LedgerEntryOut]:
    _require_member_or_operator(principal, org_id)
    if await session.get(Organization, org_id) is None:
        raise NotFound("No such organization.")
    entries, cursor = await service.organization_history(
        session, org_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[schemas.LedgerEntryOut.model_validate(e) for e in entries], next_cursor=cursor)


@router.get(
    "/ledger/trial-balance",
    response_model=schemas.TrialBalanceOut,
    responses=error_responses(401, 403),
    summary="Every account's balance; the total must be zero (operators)",
)
async def get_trial_balance(session: SessionDep, _: OperatorDep) -> schemas.TrialBalanceOut:
    tb = await service.trial_balance(session)
    return schemas.TrialBalanceOut(
        balanced=tb.balanced,
        total=tb.total,
        accounts=[
            schemas.TrialAccountOut(kind=a.kind, owner_id=a.owner_id, balance=a.balance) for a in tb.accounts
        ],
    )
