"""Deals (SPEC §11, §18.1): made by an accepted offer, a one-registrant listed listing, an auction win or an open
licence. Fees and ``amount_due`` are fixed when the deal is made and used unchanged at settlement.

``move`` is the one way a deal's status changes: the table of ``app.deals.rules`` (409 ``invalid_state``), one
conditional UPDATE that bumps ``version``, the audit event, and the notification the new status implies.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.contracts.generation import generate_contract, generate_contract_of_patents
from app.deals import rules
from app.deals.fees import FeeSchedule
from app.equity import rules as equity_rules
from app.equity.rules import KIND
from app.kit.errors import InvalidState, NotFound
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.kit.workdays import WorkdayCalendar
from app.listings import service as listings
from app.models.accounts import Organization
from app.models.listings import EXCLUSIVE_KINDS, Listing, ListingStatus
from app.models.trading import Deal, DealSource, DealStatus, Registration
from app.notifications import service as notifications

PUBLIC_NOTICE = timedelta(days=15)  # SPEC §8, 浙江条例 art. 17: ≥ 15 days
SIGNING_WORKING_DAYS = 5  # SPEC §11
PAYMENT_WORKING_DAYS = 5


def deal_values(
    *,
    listing_id: uuid.UUID | None,
    seller_org_id: uuid.UUID,
    seller_is_public_institution: bool,
    transaction_kind: str,
    buyer_org_id: uuid.UUID,
    price: int,
    source: DealSource,
    at: datetime,
    calendar: WorkdayCalendar,
    fees: FeeSchedule,
    investee: equity_rules.Investee | None = None,
    registration_id: uuid.UUID | None = None,
    deposit: int = 0,
    offer_id: uuid.UUID | None = None,
    auction_id: uuid.UUID | None = None,
    public_since: datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new deal (a fresh id included): the rules of ``create_deal`` without the I/O, so a
    batch of closing auctions builds its rows the same way (``app.auctions.closing``). ``public_since``: when
    the deal's terms were published (a trial offer's approval, SPEC §18.3): its notice, if it still needs one,
    ends 15 days after that."""
    buyer_fee, seller_fee = fees.fees(price)
    status = rules.initial_status(
        source,
        seller_is_public_institution=seller_is_public_institution,
        notice_served=public_since is not None and public_since + PUBLIC_NOTICE <= at,
    )
    notice = status == DealStatus.public_notice
    return {
        "id": uuid.uuid4(),
        "listing_id": listing_id,
        "buyer_org_id": buyer_org_id,
        "seller_org_id": seller_org_id,
        "source": source,
        "transaction_kind": transaction_kind,
        "status": status,
        "price": price,
        "cash_price": rules.cash_price(transaction_kind, price),
        "buyer_fee": buyer_fee,
        "seller_fee": seller_fee,
        "deposit_applied": deposit,
        "amount_due": rules.amount_due(
            transaction_kind, price=price, deposit=deposit, buyer_fee=buyer_fee, seller_fee=seller_fee
        ),
        "registration_id": registration_id,
        "offer_id": offer_id,
        "auction_id": auction_id,
        "related_party": False,
        "contract_id": None,
        "notice_ends_at": (public_since or at) + PUBLIC_NOTICE if notice else None,
        "sign_by": None if notice else calendar.add_working_days(at, SIGNING_WORKING_DAYS),
        "pay_by": None,
        "paid_at": None,
        "settled_at": None,
        "certificate_number": None,
        "status_reason": None,
        "completed_at": None,
        # SPEC §18.2: an equity contribution's investee is the buyer as it is when the deal is made
        "equity": equity_rules.initial(investee) if investee and transaction_kind == KIND else None,
        "trial_id": None,
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }


def created_audit_data(
    deal: Mapping[str, Any], contract_id: uuid.UUID, contract_sha256: str
) -> dict[str, Any]:
    """The data of a deal's ``created`` audit event (``deal`` as ``deal_values`` returns it): the facts of its
    pricing and its public notice that the deal's dossier cites (SPEC §18.7)."""
    return {
        "listing_id": deal["listing_id"],
        "buyer_org_id": deal["buyer_org_id"],
        "seller_org_id": deal["seller_org_id"],
        "source": deal["source"],
        "offer_id": deal["offer_id"],
        "auction_id": deal["auction_id"],
        "trial_id": deal.get("trial_id"),
        "notice_ends_at": deal["notice_ends_at"],
        "price": deal["price"],
        "buyer_fee": deal["buyer_fee"],
        "seller_fee": deal["seller_fee"],
        "amount_due": deal["amount_due"],
        "status": deal["status"],
        "contract_id": contract_id,
        "contract_sha256": contract_sha256,
    }


async def create_deal(
    session: AsyncSession,
    *,
    listing: Listing,
    buyer_org_id: uuid.UUID,
    price: int,
    source: DealSource,
    at: datetime,
    actor: str,
    calendar: WorkdayCalendar,
    fees: FeeSchedule,
    registration: Registration | None = None,
    offer_id: uuid.UUID | None = None,
    auction_id: uuid.UUID | None = None,
) -> Deal:
    """Make a deal in the caller's transaction. An offer deal with a public-institution seller first spends
    15 days in ``public_notice`` (SPEC §8); every other deal starts ``awaiting_signatures`` with ``sign_by``
    5 working days on. An exclusive-kind listing becomes ``under_contract``.

    The caller holds the listing (row lock or conditional UPDATE) so only one deal is made per exclusive
    listing. The winner's deposit stays held until payment applies it; ``amount_due`` already counts it.
    """
    seller = await session.get(Organization, listing.seller_org_id)
    buyer = await session.get(Organization, buyer_org_id)
    assert seller is not None and buyer is not None
    values = deal_values(
        listing_id=listing.id,
        seller_org_id=listing.seller_org_id,
        seller_is_public_institution=seller.is_public_institution,
        transaction_kind=listing.transaction_kind,
        buyer_org_id=buyer_org_id,
        price=price,
        source=source,
        at=at,
        calendar=calendar,
        fees=fees,
        investee=equity_rules.Investee(str(buyer.id), buyer.name, buyer.credit_code),
        registration_id=registration.id if registration is not None else None,
        deposit=registration.deposit if registration is not None else 0,
        offer_id=offer_id,
        auction_id=auction_id,
    )
    deal = Deal(**values)
    session.add(deal)
    await session.flush()
    # SPEC §11: the contract exists from the start (contract_id set), generated in this transaction.
    contract = await generate_contract(session, deal, listing, at=at)
    if listing.transaction_kind in EXCLUSIVE_KINDS and listing.status != ListingStatus.under_contract:
        await listings.set_status(
            session,
            listing,
            ListingStatus.under_contract,
            actor=actor,
            action="deal_made",
            at=at,
            data={"deal_id": deal.id, "price": price, "source": source},
        )
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="created",
        actor=actor,
        at=at,
        data=created_audit_data(values, contract.id, contract.sha256),
    )
    await announce_entry(session, deal, at=at)
    return deal


async def create_deal_without_listing(
    session: AsyncSession,
    *,
    seller_org_id: uuid.UUID,
    buyer_org_id: uuid.UUID,
    transaction_kind: str,
    price: int,
    source: DealSource,
    patent_ids: Sequence[uuid.UUID],
    license_terms: dict[str, Any] | None,
    at: datetime,
    actor: str,
    calendar: WorkdayCalendar,
    fees: FeeSchedule,
    public_since: datetime | None = None,
    trial_id: uuid.UUID | None = None,
) -> Deal:
    """Make a deal that no listing holds (a trial's conversion, SPEC §18.3) in the caller's transaction, by the
    rules of ``create_deal``: fees from the schedule, the first status (``deal_values``), the contract from the
    kind's template naming ``patent_ids`` and ``license_terms``, the audit event and the notification."""
    seller = await session.get(Organization, seller_org_id)
    assert seller is not None
    values = deal_values(
        listing_id=None,
        seller_org_id=seller_org_id,
        seller_is_public_institution=seller.is_public_institution,
        transaction_kind=transaction_kind,
        buyer_org_id=buyer_org_id,
        price=price,
        source=source,
        at=at,
        calendar=calendar,
        fees=fees,
        public_since=public_since,
    )
    values["trial_id"] = trial_id
    deal = Deal(**values)
    session.add(deal)
    await session.flush()
    contract = await generate_contract_of_patents(session, deal, patent_ids, license_terms, at=at)
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="created",
        actor=actor,
        at=at,
        data=created_audit_data(values, contract.id, contract.sha256),
    )
    await announce_entry(session, deal, at=at)
    return deal


# --- moving a deal ------------------------------------------------------------------------------------------


async def announce_entry(session: AsyncSession, deal: Deal | Mapping[str, Any], *, at: datetime) -> None:
    """The notification a deal's (new) status implies (SPEC §17.4), in the transaction of the change:
    ``deal_signing_due`` to both parties on entering ``awaiting_signatures``, ``payment_due`` to the buyer on
    entering ``awaiting_payment``. ``deal``: the row, or its column values (a batch of deals made at once)."""
    status = deal["status"] if isinstance(deal, Mapping) else deal.status
    if status == DealStatus.awaiting_signatures:
        await notifications.deal_signing_due(session, deal, at=at)
    elif status == DealStatus.awaiting_payment:
        assert isinstance(deal, Deal)
        await notifications.payment_due(session, deal, at=at)


# Called in the transaction of every move once it is made (``hook(session, deal, at=, actor=)``); another domain
# registers one at import to follow its deals (a trial ends with its conversion deal, SPEC §18.3).
AfterMove = Callable[..., Awaitable[None]]
_AFTER_MOVE: list[AfterMove] = []


def after_move(hook: AfterMove) -> None:
    if hook not in _AFTER_MOVE:
        _AFTER_MOVE.append(hook)


async def move(
    session: AsyncSession,
    deal: Deal,
    to: DealStatus,
    *,
    by: rules.By,
    actor: str,
    at: datetime,
    action: str,
    data: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    where: Iterable[ColumnElement[bool]] = (),
    expect_version: int | None = None,
    effects: Callable[[], Awaitable[Mapping[str, Any] | None]] | None = None,
    must_win: bool = True,
) -> bool:
    """Move ``deal`` to ``to`` (SPEC §18.1), in the caller's transaction; the one place a deal's status is set.

    1. the table (``rules.check_move``): 409 ``invalid_state`` unless ``deal.status`` → ``to`` by ``by`` is
       allowed for the deal's kind;
    2. one conditional ``UPDATE deals SET status=:to, version=version+1, updated_at=:at, <values> WHERE id=:id
       AND status=<the status read> [AND version=:expect_version] AND <where>``: on PostgreSQL a concurrent
       move waits for the row and re-checks the guard against the committed row, on SQLite ``BEGIN IMMEDIATE``
       serialises them, so of two racing moves one wins. ``deal`` is refreshed from the row. The loser: 409
       ``invalid_state`` when ``must_win`` (callers that hold the row), else ``False`` and nothing else
       happens (the caller explains why, e.g. a deadline in ``where``);
    3. ``effects`` (money, certificate…) run after the guard is won; what they return joins the audit data;
    4. the audit event ``action`` on the deal's chain with ``data``;
    5. the notification the new status implies (``announce_entry``), then the hooks of ``after_move``.
    """
    current = DealStatus(deal.status)
    rules.check_move(current, to, by, deal.transaction_kind)
    guard: list[ColumnElement[bool]] = [Deal.id == deal.id, Deal.status == current, *where]
    if expect_version is not None:
        guard.append(Deal.version == expect_version)
    await session.flush()
    won = (
        await session.execute(
            update(Deal)
            .where(*guard)
            .values(status=to, updated_at=at, version=Deal.version + 1, **dict(values or {}))
            .returning(Deal.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    await session.refresh(deal)
    if won is None:
        if must_win:
            raise InvalidState(f"The deal changed meanwhile: it is {deal.status} now.")
        return False
    extra = await effects() if effects is not None else None
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action=action,
        actor=actor,
        at=at,
        data={**(data or {}), **(extra or {})},
    )
    await announce_entry(session, deal, at=at)
    for hook in _AFTER_MOVE:
        await hook(session, deal, at=at, actor=actor)
    return True


def _visible(principal: Principal, deal: Deal) -> bool:
    return principal.is_operator or principal.organization_id in (deal.buyer_org_id, deal.seller_org_id)


async def get_deal(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID, *, lock: bool = False
) -> Deal:
    deal = await session.get(Deal, deal_id, with_for_update=lock)
    if deal is None or not _visible(principal, deal):
        raise NotFound("No such deal.")
    return deal


async def list_deals(
    session: AsyncSession, principal: Principal, *, role: str | None, limit: int, cursor: str | None
) -> tuple[list[Deal], str | None]:
    query = select(Deal)
    if not principal.is_operator:
        org = principal.organization_id
        if role == "buyer":
            query = query.where(Deal.buyer_org_id == org)
        elif role == "seller":
            query = query.where(Deal.seller_org_id == org)
        else:
            query = query.where((Deal.buyer_org_id == org) | (Deal.seller_org_id == org))
    keys = [datetime_key(Deal.created_at, descending=True), SortKey(Deal.id, uuid.UUID, descending=True)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda d: (d.created_at, d.id))
