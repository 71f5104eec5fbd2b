"""Payment and settlement of deals (SPEC §11, DOMAIN.md "Listing flow" settlement, DESIGN.md "The bid").

Both are a move of the deal (``app.deals.service.move``: one conditional UPDATE, ``WHERE status =
'awaiting_payment'`` / ``'paid'``) followed by the money as the move's effects, in the caller's transaction: on PostgreSQL a concurrent second payment or settlement waits for the
row, re-checks the guard against the committed row and matches nothing; on SQLite ``BEGIN IMMEDIATE``
serialises them. The loser gets 409 ``invalid_state`` and has no effect. Anything failing afterwards
(``insufficient_funds``, ``patent_pledged``) raises and the whole transaction, the guard included, rolls back.

``pay_deal`` and ``settle_deal`` take no principal: the open-licensing flow makes, pays and settles a deal in
its own transaction with them. ``pay`` and ``settle`` are the HTTP-facing checks around them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.contracts.service import end_deal
from app.deals import rules as deal_rules
from app.deals import service as deals
from app.deals.rules import By
from app.deals.service import get_deal
from app.equity import service as equity
from app.filings import service as filings
from app.kit.clock import Clock
from app.kit.db import dialect_name
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound
from app.kit.security import Principal
from app.ledger import deposits
from app.ledger.service import Line, account_id, exchange_account, post, transfer
from app.listings import service as listings
from app.models.accounts import Organization
from app.models.contracts import Contract
from app.models.ledger import AccountKind, EntryKind, LedgerAccount
from app.models.listings import EXCLUSIVE_KINDS, Listing, ListingPatent, ListingStatus
from app.models.owners import ConsentSubject
from app.models.patents import Patent
from app.models.settlement import Certificate, CertificateSequence, LicenceRecord
from app.models.trading import Deal, DealSource, DealStatus, DepositStatus, Registration
from app.owners import queries as owner_queries
from app.owners import service as owners
from app.pledges.service import unconsented_pledges_for_deal
from app.settlement import rules
from app.trials import queries as trials


class PatentPledged(Conflict):
    code = "patent_pledged"


class PatentNotTransferable(Conflict):
    code = "patent_not_transferable"


# --- payment ----------------------------------------------------------------------------------------------


async def pay(session: AsyncSession, principal: Principal, deal_id: uuid.UUID, clock: Clock) -> Deal:
    """``POST /deals/{id}/pay``: only a member of the buying organization pays (another party 403, anyone
    else 404)."""
    deal = await get_deal(session, principal, deal_id)
    if principal.organization_id != deal.buyer_org_id:
        raise Forbidden("Only the buyer pays for a deal.")
    return await pay_deal(session, deal, at=clock.now(), actor=principal.label)


async def pay_deal(session: AsyncSession, deal: Deal, *, at: datetime, actor: str) -> Deal:
    """Pay a deal in the caller's transaction (SPEC §11): ``awaiting_payment`` → ``paid`` before ``pay_by``;
    the held deposit (if any) is applied to the deal's escrow and ``amount_due`` (price − deposit + buyer fee,
    fixed when the deal was made) moves from the buyer's available balance into it. 409 ``invalid_state``
    when the deal is not awaiting payment (a concurrent payment won) or its deadline has passed; 409
    ``insufficient_funds`` when the buyer is short — the caller's transaction then rolls back, the deposit
    stays held."""

    async def pay_in() -> None:
        escrow = await account_id(session, AccountKind.escrow, deal.id)
        if deal.registration_id is not None:
            registration = await session.get(Registration, deal.registration_id)
            assert registration is not None
            applied = await deposits.apply_to_deal(session, registration, deal.id, at=at, actor=actor)
            if not applied and registration.deposit_status != DepositStatus.applied:
                raise InvalidState("The buyer's deposit for this deal is no longer held.")
        if deal.amount_due > 0:
            await transfer(
                session,
                EntryKind.deal_payment,
                await account_id(session, AccountKind.available, deal.buyer_org_id),
                escrow,
                deal.amount_due,
                at=at,
                actor=actor,
                organization_id=deal.buyer_org_id,
                deal_id=deal.id,
                memo="deal paid into escrow",
            )

    paid = await deals.move(
        session,
        deal,
        DealStatus.paid,
        by=By.buyer,
        actor=actor,
        at=at,
        action="paid",
        values={"paid_at": at},
        where=[or_(Deal.pay_by.is_(None), Deal.pay_by > at)],
        effects=pay_in,
        data={
            "status": DealStatus.paid,
            "amount_due": deal.amount_due,
            "deposit_applied": deal.deposit_applied if deal.registration_id else 0,
        },
        must_win=False,
    )
    if not paid:
        if deal.status == DealStatus.awaiting_payment:
            raise InvalidState("The payment deadline of this deal has passed.")
        raise InvalidState(f"A deal in {deal.status} cannot be paid.")
    return deal


async def default_unpaid_deal(session: AsyncSession, deal: Deal, *, at: datetime, actor: str) -> None:
    """The buyer did not pay by ``pay_by`` (SPEC §7, §11): the deal ``defaulted`` — the buyer's held deposit
    forfeited to the seller, an exclusive-kind listing held by the deal ``failed``, the contract void — through
    the one way a deal ends (``app.contracts.service.end_deal``). The caller holds the deal's row and has
    checked it is ``awaiting_payment``."""
    await end_deal(
        session,
        deal,
        DealStatus.defaulted,
        by=By.sweeper,
        reason="not paid by the payment deadline",
        action="defaulted",
        at=at,
        actor=actor,
    )


# --- settlement -------------------------------------------------------------------------------------------


async def settle(session: AsyncSession, principal: Principal, deal_id: uuid.UUID, clock: Clock) -> Deal:
    """``POST /deals/{id}/settle`` (operators; the router checks the role)."""
    deal = await get_deal(session, principal, deal_id)
    trial = await trials.conversion_terms(session, deal)  # a trial's conversion deal has no listing (§18.3)
    if trial is not None:
        terms = LicenceTerms(trial.term_months, trial.territory, trial.field_of_use, royalty=trial.royalty)
        return await settle_deal(
            session,
            deal,
            at=clock.now(),
            actor=principal.label,
            patent_ids=trial.patent_ids,
            licence_terms=terms,
        )
    return await settle_deal(session, deal, at=clock.now(), actor=principal.label)


@dataclass(frozen=True)
class LicenceTerms:
    """Licence terms for a deal without a listing (open licences, trial conversions); listing deals use the
    listing's. ``royalty``: the licence record's royalty terms (SPEC §18.4), if any."""

    term_months: int | None
    territory: str | None = None
    field_of_use: str | None = None
    royalty: dict[str, Any] | None = None


async def settle_deal(
    session: AsyncSession,
    deal: Deal,
    *,
    at: datetime,
    actor: str,
    patent_ids: Sequence[uuid.UUID] | None = None,
    licence_terms: LicenceTerms | None = None,
) -> Deal:
    """Settle a ``paid`` deal in the caller's transaction (SPEC §11, §14; DOMAIN.md "Listing flow"):

    1. the move ``paid`` → ``settled`` (``app.deals.service.move``: the guard ``UPDATE deals SET
       status='settled' … WHERE status='paid'``) — a second settlement, concurrent or late, gets 409
       ``invalid_state`` and moves no money; steps 2–5 are the move's effects, by the kind's row of
       ``app.deals.rules.KINDS``;
    2. pledges re-checked: 409 ``patent_pledged`` while a patent is under an active pledge without the
       pledgee's consent to the deal's listing or trial offer (§14, §18.3); then the co-owners' and use rights'
       consents to it (§18.5: 409 ``co_owner_consent_required``, ``use_right_conflict``);
    3. one balanced journal entry empties the deal's escrow by the kind's cash rule (today's kinds: seller ←
       price − seller fee, fee income ← both fees, as fixed when the deal was made; an applied deposit larger
       than the price goes back to the buyer);
    4. a transaction certificate (交易凭证) with a unique number;
    5. the kind's settlement effect: ``transfer`` — every patent's owner becomes the buyer and a
       transfer-registration task is recorded; ``licence`` — a licence record, filing due 3 months after
       settlement;
    6. an assignment/exclusive/sole listing held by the deal becomes ``sold``. A non-exclusive listing keeps
       its status: it can license further buyers.

    ``patent_ids`` and ``licence_terms`` are for deals without a listing (open licences); a listing deal takes
    both from its listing.
    """
    listing: Listing | None = None
    kind = deal_rules.kind_of(deal.transaction_kind)

    async def settle_effects() -> dict[str, Any]:
        nonlocal listing
        listing = await session.get(Listing, deal.listing_id) if deal.listing_id is not None else None
        ids = (
            list(patent_ids)
            if patent_ids is not None
            else await _listing_patent_ids(session, deal.listing_id)
        )
        blocked = await unconsented_pledges(session, deal)
        if blocked:
            raise PatentPledged("A patent of this deal is pledged and the pledgee has not consented.")
        # SPEC §18.5: co-owners' and use rights' consents to the deal's subject (its listing, or the offer a
        # trial's conversion deal was made under, §18.3), re-checked.
        offer_id = await trials.offer_of_deal(session, deal)
        subject = (
            (ConsentSubject.listing, deal.listing_id)
            if deal.listing_id is not None
            else (ConsentSubject.trial_offer, offer_id)
            if offer_id is not None
            else None
        )
        if subject is not None:
            await owners.require_consents(
                session,
                subject_type=subject[0],
                subject_id=subject[1],
                patent_ids=ids,
                restricted=deal.transaction_kind in EXCLUSIVE_KINDS,
                acting_org_id=deal.seller_org_id,
                today=rules.shanghai_date(at),
            )

        payout, parts = await _pay_out_escrow(session, deal, kind.cash, at=at, actor=actor, patent_ids=ids)
        number = await _allocate_certificate_number(session, rules.shanghai_date(at).year)
        deal.certificate_number = number
        await session.flush()

        patents = await _patents(session, ids)
        match kind.settlement:
            case deal_rules.SettlementEffect.transfer:
                await _transfer_ownership(session, deal, patents, at=at, actor=actor)
                if deal.transaction_kind == equity.KIND:  # SPEC §18.2: both completion steps due
                    await equity.start_completion(session, deal, at=at)
            case deal_rules.SettlementEffect.licence:
                terms = licence_terms or _listing_licence_terms(listing)
                await _record_licence(session, deal, patents, terms, at=at)

        content = await _certificate_content(session, deal, listing, patents, at=at)
        session.add(
            Certificate(id=uuid.uuid4(), number=number, deal_id=deal.id, issued_at=at, content=content)
        )
        await session.flush()
        return {
            "status": DealStatus.settled,
            "certificate_number": number,
            "seller_amount": payout.seller,
            "fee_income": payout.fee_income,
            "buyer_refund": payout.buyer_refund,
            "contract_sha256": content["contract_sha256"],
            **({"income_parts": owners.parts_data(parts)} if len(parts) > 1 else {}),
        }

    settled = await deals.move(
        session,
        deal,
        DealStatus.settled,
        by=By.open_licence if deal.source == DealSource.open_license else By.operator,
        actor=actor,
        at=at,
        action="settled",
        values={"settled_at": at},
        effects=settle_effects,
        must_win=False,
    )
    if not settled:
        raise InvalidState(f"A deal in {deal.status} cannot be settled.")
    if (
        listing is not None
        and deal.transaction_kind in EXCLUSIVE_KINDS
        and listing.status == ListingStatus.under_contract
    ):
        await listings.set_status(
            session, listing, ListingStatus.sold, actor=actor, action="sold", at=at, data={"deal_id": deal.id}
        )
    return deal


async def unconsented_pledges(session: AsyncSession, deal: Deal) -> Sequence[uuid.UUID]:
    """Patents of the deal under an active pledge without the pledgee's consent (SPEC §14: settlement
    re-checks it); the rule is the pledges package's."""
    return await unconsented_pledges_for_deal(session, deal)


async def _listing_patent_ids(session: AsyncSession, listing_id: uuid.UUID | None) -> list[uuid.UUID]:
    if listing_id is None:
        return []
    return list(
        (
            await session.scalars(
                select(ListingPatent.patent_id)
                .where(ListingPatent.listing_id == listing_id)
                .order_by(ListingPatent.position, ListingPatent.patent_id)
            )
        ).all()
    )


async def _patents(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Patent]:
    if not ids:
        return []
    rows = {p.id: p for p in (await session.scalars(select(Patent).where(Patent.id.in_(ids)))).all()}
    return [rows[i] for i in ids if i in rows]


async def _escrow_balance(session: AsyncSession, escrow_id: uuid.UUID) -> int:
    balance = await session.scalar(select(LedgerAccount.balance).where(LedgerAccount.id == escrow_id))
    return int(balance or 0)


async def _pay_out_escrow(
    session: AsyncSession,
    deal: Deal,
    cash: deal_rules.CashRule,
    *,
    at: datetime,
    actor: str,
    patent_ids: Sequence[uuid.UUID],
) -> tuple[rules.Payout, list[owners.Part]]:
    """Empty the deal's escrow by its kind's cash rule (SPEC §18.1) in one balanced entry; the seller's amount
    is split among the patents' owners by their shares (SPEC §18.5; one part when the seller owns alone)."""
    escrow = await account_id(session, AccountKind.escrow, deal.id)
    held = await _escrow_balance(session, escrow)
    try:
        match cash:
            case deal_rules.CashRule.price:
                payout = rules.payout(
                    escrow=held, price=deal.price, buyer_fee=deal.buyer_fee, seller_fee=deal.seller_fee
                )
            case deal_rules.CashRule.fees:
                payout = rules.payout_of_fees(
                    escrow=held, buyer_fee=deal.buyer_fee, seller_fee=deal.seller_fee
                )
    except ValueError as exc:
        raise InvalidState("The deal's escrow does not hold the price and the buyer's fee.") from exc
    if held == 0:
        return payout, []  # a free licence: nothing moves
    parts = await owners.split_income(
        session, patent_ids=patent_ids, seller_org_id=deal.seller_org_id, net_fen=payout.seller
    )
    lines = [
        Line(escrow, -held),
        *await owners.credit_parts(session, parts, at=at, deal_id=deal.id, source="deal"),
        Line(await exchange_account(session, AccountKind.fee_income), payout.fee_income),
    ]
    if payout.buyer_refund:
        lines.append(
            Line(await account_id(session, AccountKind.available, deal.buyer_org_id), payout.buyer_refund)
        )
    # The reference makes a second settlement entry for the same deal impossible at the database too.
    await post(
        session,
        EntryKind.settlement,
        lines,
        at=at,
        actor=actor,
        reference=f"deal:{deal.id}",
        organization_id=deal.seller_org_id,
        deal_id=deal.id,
        memo="deal settled: escrow to the seller and fee income",
    )
    return payout, parts


async def _allocate_certificate_number(session: AsyncSession, year: int) -> str:
    """The year's next serial, race-free: the sequence row is incremented in this transaction (see
    ``CertificateSequence``); the certificates' UNIQUE number backs it up."""
    dialect_insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    await session.execute(
        dialect_insert(CertificateSequence)
        .values(year=year, last=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    seq = await session.scalar(
        update(CertificateSequence)
        .where(CertificateSequence.year == year)
        .values(last=CertificateSequence.last + 1)
        .returning(CertificateSequence.last)
        .execution_options(synchronize_session=False)
    )
    assert seq is not None
    return rules.certificate_number(year, int(seq))


async def _transfer_ownership(
    session: AsyncSession, deal: Deal, patents: list[Patent], *, at: datetime, actor: str
) -> None:
    ids = [p.id for p in patents]
    if ids:
        moved = await session.execute(
            update(Patent)
            .where(Patent.id.in_(ids), owner_queries.org_owner(deal.seller_org_id))
            .values(owner_org_id=deal.buyer_org_id, updated_at=at)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != len(ids):  # type: ignore[attr-defined]
            raise PatentNotTransferable("A patent of this deal is no longer the seller's.")
        await owners.reset_owners(session, ids)  # SPEC §18.1: the buyer owns alone
    for patent in patents:
        await session.refresh(patent)
        await record(
            session,
            entity_type="patent",
            entity_id=patent.id,
            action="ownership_transferred",
            actor=actor,
            at=at,
            data={"deal_id": deal.id, "from": deal.seller_org_id, "to": deal.buyer_org_id},
        )
    await filings.create_transfer_task(session, deal=deal, at=at, patent_ids=ids)


def _listing_licence_terms(listing: Listing | None) -> LicenceTerms:
    raw = (listing.license_terms if listing is not None else None) or {}
    term = raw.get("term_months")
    return LicenceTerms(
        term_months=int(term) if term is not None else None,
        territory=raw.get("territory"),
        field_of_use=raw.get("field_of_use"),
    )


async def _record_licence(
    session: AsyncSession, deal: Deal, patents: list[Patent], terms: LicenceTerms, *, at: datetime
) -> LicenceRecord:
    period = rules.licence_period(at, terms.term_months, [p.expires_on for p in patents])
    return await filings.create_licence_record(
        session,
        deal_id=deal.id,
        trial_id=None,
        licensor_org_id=deal.seller_org_id,
        licensee_org_id=deal.buyer_org_id,
        patent_ids=[p.id for p in patents],
        kind=deal.transaction_kind,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        term_months=terms.term_months,
        territory=terms.territory,
        field_of_use=terms.field_of_use,
        royalty=terms.royalty,
        at=at,
    )


async def licence_of_deal(session: AsyncSession, deal_id: uuid.UUID) -> LicenceRecord | None:
    """The licence record a settled licence deal created (the open-licensing flow reads its dates)."""
    found: LicenceRecord | None = await session.scalar(
        select(LicenceRecord).where(LicenceRecord.deal_id == deal_id)
    )
    return found


async def contract_sha256(session: AsyncSession, deal: Deal) -> str | None:
    """The SHA-256 of the deal's contract text (what both parties signed)."""
    if deal.contract_id is None:
        return None
    value = await session.scalar(select(Contract.sha256).where(Contract.id == deal.contract_id))
    return str(value) if value is not None else None


def _party(org: Organization) -> dict[str, Any]:
    return {"id": str(org.id), "name": org.name, "credit_code": org.credit_code}


def patent_number(patent: Patent) -> str | None:
    """A granted patent's number is ``ZL`` + its application number (DOMAIN.md "Patent numbers")."""
    return f"ZL{patent.application_number}" if patent.grant_date is not None else None


async def _certificate_content(
    session: AsyncSession, deal: Deal, listing: Listing | None, patents: list[Patent], *, at: datetime
) -> dict[str, Any]:
    seller = await session.get(Organization, deal.seller_org_id)
    buyer = await session.get(Organization, deal.buyer_org_id)
    assert seller is not None and buyer is not None
    return {
        "deal_id": str(deal.id),
        "seller": _party(seller),
        "buyer": _party(buyer),
        "patents": [
            {
                "id": str(p.id),
                "application_number": p.application_number,
                "patent_number": patent_number(p),
                "title": p.title,
            }
            for p in patents
        ],
        "price": deal.price,
        "transaction_kind": deal.transaction_kind,
        "pricing_mode": listing.pricing_mode if listing is not None else None,
        "source": deal.source,
        "settled_at": at.isoformat(),
        "contract_sha256": await contract_sha256(session, deal),
    }


# --- reads ------------------------------------------------------------------------------------------------


async def get_certificate(session: AsyncSession, number: str) -> Certificate:
    found: Certificate | None = await session.scalar(select(Certificate).where(Certificate.number == number))
    if found is None:
        raise NotFound("No such certificate.")
    return found


def certificate_date(content: dict[str, Any]) -> date:
    return rules.shanghai_date(datetime.fromisoformat(str(content["settled_at"])))
