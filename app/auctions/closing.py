"""Closing auctions in batches: the sweeper's ``auction_close`` (SPEC §7, §10; DESIGN.md "Deadlines").

A thousand auctions may end in the same second (the close storm, ``bench/close_storm.py``). Closed one at a
time, each close cost ~27 statements and several ORM loads and flushes; here a batch of due auctions is
closed in ONE transaction with a fixed number of statements whatever its size: the claim, one read each of
the registrations, sealed bids, parties and patents, then one multi-row INSERT or UPDATE per table (deals,
contracts, listings, auctions, live events, audit events, deposit claims, journal entries and lines, and the
balances of the accounts touched). Every row is built in Python from what those reads returned.

The one home of the closing rules: the sweeper closes batches, a lazy close on read and a Dutch acceptance
(which sets ``ends_at`` to its own instant first) close batches of one (``tests/auctions/test_closing.py``
checks that both write the same rows for every kind of outcome):

* the winner: English and Dutch the leader at the current price, sealed ``rules.sealed_outcome``; the
  hidden reserve applies to every winner; no winner → ``failed`` (流拍);
* a winner gets a deal (``deals.deal_values``) with its contract (``contracts.contract_values``), the
  listing goes ``under_contract`` (an exclusive kind must be able to; a non-exclusive one does if it may), the
  losers' deposits are refunded and the winner's stays held until payment applies it;
* a failed auction refunds every held deposit, except that a listed-trading auction with no bid at all
  forfeits them to the seller (SPEC §7, 各意向受让方均不应价); its listing goes ``failed`` if it may;
* the ``closed``/``failed`` live event, and audit events on the auction's, the listing's and the deal's
  chains, all in the same transaction.

Correctness under two sweepers: the claim re-checks ``status = 'open' AND ends_at <= now`` and locks the
auction and listing rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: another process's batch is skipped, not
waited for; ``BEGIN IMMEDIATE`` on SQLite), so an auction is closed by exactly one transaction; each deposit
resolution is a compare-and-set on ``deposit_status = 'held'``. Locks are taken in one order: auctions and
listings (never waited for), registrations by (organization, id), ledger accounts by id, last, so the rows
every batch shares (the bidders' accounts) are held only from the end of the batch to its commit.

A batch is all or nothing: if anything in it fails, the sweeper closes its auctions again one per
transaction, so one bad auction never holds back the others (``app.deadlines.sweeper``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Boolean, Integer, String, Table, Uuid, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import events, notices, proxies, rules
from app.auctions.views import STATE_COLUMNS, event_data
from app.audit.batch import Event, record_many
from app.contracts.service import contract_values, patents_of
from app.contracts.templates import PartyFacts
from app.deals.fees import FeeSchedule
from app.deals.service import announce_entry, created_audit_data, deal_values
from app.equity.rules import Investee
from app.kit.types import UTCDateTime
from app.kit.workdays import WorkdayCalendar
from app.ledger import deposits
from app.ledger.deposits import Hold
from app.ledger.service import account_ids, post_many
from app.listings import rules as listing_rules
from app.listings.service import status_change_data
from app.models.accounts import Organization
from app.models.contracts import Contract
from app.models.ledger import AccountKind
from app.models.listings import EXCLUSIVE_KINDS, AuctionFormat, Listing, ListingStatus, SealedPricing
from app.models.trading import (
    Auction,
    AuctionEvent,
    AuctionStatus,
    Bid,
    Deal,
    DealSource,
    DepositStatus,
    Registration,
)
from app.notifications.service import listing_statuses_changed

# Auctions per transaction: bigger batches amortize their ~15 statements better, but a batch's length is
# how long a SQLite writer (a bid on another auction) may wait. Measured in-process on 1,000 closes: 25 per
# batch 1.6 s, 50 1.5 s (~75 ms a batch), 100 1.15 s, 200 1.0 s (~200 ms of write lock a batch).
CLOSE_BATCH = 50

_AUCTIONS = cast(Table, Auction.__table__)
_LISTINGS = cast(Table, Listing.__table__)
_ENDED = (ListingStatus.failed, ListingStatus.expired)

_CLAIM = (
    select(
        *STATE_COLUMNS,
        Auction.reserve_price,
        Auction.sealed_pricing,
        Auction.from_listed_trading,
        Auction.leader_registration_id,
        Listing.status.label("listing_status"),
        Listing.seller_org_id,
        Listing.transaction_kind,
        Listing.license_terms,
    )
    .join(Listing, Listing.id == Auction.listing_id)
    .where(
        Auction.id.in_(bindparam("p_ids", expanding=True, type_=Uuid())),
        Auction.status == AuctionStatus.open,
        Auction.ends_at <= bindparam("p_now", type_=UTCDateTime()),
    )
    .order_by(Auction.id)
    .with_for_update(skip_locked=True)
)
# Every registration of the claimed listings (the bidder codes of leaders and winners), the held ones to
# resolve; locked in the order every resolution of several deposits uses.
_REGISTRATIONS = (
    select(
        Registration.id,
        Registration.listing_id,
        Registration.organization_id,
        Registration.bidder_code,
        Registration.deposit,
        Registration.deposit_status,
    )
    .where(Registration.listing_id.in_(bindparam("p_listings", expanding=True, type_=Uuid())))
    .order_by(Registration.organization_id, Registration.id)
    .with_for_update()
)
_SEALED_BIDS = select(
    Bid.auction_id, Bid.registration_id, Bid.bidder_code, Bid.amount, Bid.placed_at, Bid.seq
).where(Bid.auction_id.in_(bindparam("p_auctions", expanding=True, type_=Uuid())))
_PARTIES = select(
    Organization.id, Organization.name, Organization.credit_code, Organization.is_public_institution
).where(Organization.id.in_(bindparam("p_orgs", expanding=True, type_=Uuid())))
# The claim holds these rows: no guard needed in the WHERE clauses.
_UPDATE_AUCTION = (
    update(_AUCTIONS)
    .where(_AUCTIONS.c.id == bindparam("b_id", type_=Uuid()))
    .values(
        status=bindparam("b_status", type_=String()),
        current_price=bindparam("b_current_price", type_=_AUCTIONS.c.current_price.type),
        leader_registration_id=bindparam("b_leader", type_=Uuid()),
        reserve_met=bindparam("b_reserve_met", type_=Boolean()),
        winner_registration_id=bindparam("b_winner", type_=Uuid()),
        final_price=bindparam("b_final_price", type_=_AUCTIONS.c.final_price.type),
        deal_id=bindparam("b_deal", type_=Uuid()),
        event_seq=bindparam("b_event_seq", type_=Integer()),
        closed_at=bindparam("b_at", type_=UTCDateTime()),
        updated_at=bindparam("b_at", type_=UTCDateTime()),
    )
)
_UPDATE_LISTING = (
    update(_LISTINGS)
    .where(_LISTINGS.c.id == bindparam("b_id", type_=Uuid()))
    .values(
        status=bindparam("b_status", type_=String()),
        version=_LISTINGS.c.version + 1,
        updated_at=bindparam("b_at", type_=UTCDateTime()),
        # The instant a listing ended failed or expired: its relisting window runs from here (SPEC §17.3).
        ended_at=func.coalesce(bindparam("b_ended", type_=UTCDateTime()), _LISTINGS.c.ended_at),
    )
)
_INSERT_DEALS = insert(cast(Table, Deal.__table__))
_INSERT_CONTRACTS = insert(cast(Table, Contract.__table__))
_INSERT_EVENTS = insert(cast(Table, AuctionEvent.__table__))  # its trigger notifies the streams (PostgreSQL)


@dataclass
class _Close:
    """One claimed auction and what its close decides."""

    row: Any
    at: datetime
    leader_id: uuid.UUID | None
    current_price: int | None
    met: bool | None = None
    winner_id: uuid.UUID | None = None
    price: int | None = None
    sealed_bids: list[dict[str, Any]] = field(default_factory=list)
    deal: dict[str, Any] | None = None
    listing_status: ListingStatus | None = None  # the listing's new status, if it moves


def _decide(row: Any, bids: Sequence[Any]) -> _Close:
    """The winner and price (SPEC §10): the leader at the current price (English; Dutch: the acceptance), or
    the sealed ranking; the reserve applies to every winner."""
    assert row.ends_at is not None
    close = _Close(row, row.ends_at, row.leader_registration_id, row.current_price)
    if row.format == AuctionFormat.sealed:
        sealed = [rules.SealedBid(b.registration_id, b.amount, b.placed_at, b.seq) for b in bids]
        outcome = rules.sealed_outcome(
            sealed,
            start_price=row.start_price,
            second_price=row.sealed_pricing == SealedPricing.second_price,
            reserve_price=row.reserve_price,
        )
        codes = {b.seq: b.bidder_code for b in bids}
        close.sealed_bids = [
            {"seq": b.seq, "bidder_code": codes[b.seq], "amount": b.amount, "placed_at": b.placed_at}
            for b in rules.sealed_ranking(sealed)
        ]
        if outcome.winner is not None:
            close.leader_id, close.current_price = outcome.winner.registration_id, outcome.price
            close.met = outcome.reserve_met
    elif close.leader_id is not None and close.current_price is not None:
        close.met = rules.reserve_met(close.current_price, row.reserve_price)
    if close.met:
        close.winner_id, close.price = close.leader_id, close.current_price
    return close


def _listing_target(current: ListingStatus, *, sold: bool, exclusive: bool) -> ListingStatus | None:
    """The listing's status after the close, or None if it stays. A deal on an exclusive kind must move it
    to ``under_contract`` (``InvalidState`` if it cannot: the batch fails and this auction is retried alone);
    a non-exclusive listing leaves ``in_auction`` the same way if it may; a failed auction fails it if it may."""
    if sold:
        if current == ListingStatus.under_contract:
            return None
        if exclusive:
            listing_rules.check_transition(current, ListingStatus.under_contract)
            return ListingStatus.under_contract
        target = ListingStatus.under_contract
    else:
        target = ListingStatus.failed
    return target if target in listing_rules.TRANSITIONS[current] else None


async def close_auctions(
    session: AsyncSession,
    auction_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    fees: FeeSchedule,
    calendar: WorkdayCalendar,
    actor: str,
) -> list[uuid.UUID]:
    """Close those of ``auction_ids`` that are open with ``ends_at <= now`` and not being closed by another
    transaction, each as of its own ``ends_at``, in the caller's transaction. Returns the ids it closed."""
    if not auction_ids:
        return []
    claimed = (await session.execute(_CLAIM, {"p_ids": list(auction_ids), "p_now": now})).all()
    if not claimed:
        return []
    registrations: dict[uuid.UUID, list[Any]] = defaultdict(list)
    code_of: dict[uuid.UUID, str] = {}
    for reg in await session.execute(_REGISTRATIONS, {"p_listings": [r.listing_id for r in claimed]}):
        registrations[reg.listing_id].append(reg)
        code_of[reg.id] = reg.bidder_code
    bids: dict[uuid.UUID, list[Any]] = defaultdict(list)
    sealed_ids = [r.id for r in claimed if r.format == AuctionFormat.sealed]
    if sealed_ids:
        for bid in await session.execute(_SEALED_BIDS, {"p_auctions": sealed_ids}):
            bids[bid.auction_id].append(bid)
    closes = [_decide(row, bids[row.id]) for row in claimed]

    won = [c for c in closes if c.winner_id is not None]
    registration_by_id = {reg.id: reg for regs in registrations.values() for reg in regs}
    parties: dict[uuid.UUID, Any] = {}
    if won:
        wanted = {c.row.seller_org_id for c in won} | {
            registration_by_id[c.winner_id].organization_id for c in won if c.winner_id is not None
        }
        parties = {o.id: o for o in await session.execute(_PARTIES, {"p_orgs": list(wanted)})}
    patents = await patents_of(session, [c.row.listing_id for c in won])

    deal_rows: list[dict[str, Any]] = []
    contract_rows: list[dict[str, Any]] = []
    audit: list[Event] = []
    refunds: list[tuple[Hold, datetime]] = []
    forfeits: list[tuple[Hold, uuid.UUID, datetime]] = []
    for close in closes:
        row, at = close.row, close.at
        held = [
            Hold(reg.id, reg.organization_id, reg.deposit)
            for reg in registrations[row.listing_id]
            if reg.deposit_status == DepositStatus.held
        ]
        if close.winner_id is not None and close.price is not None:
            winner = registration_by_id[close.winner_id]
            seller, buyer = parties[row.seller_org_id], parties[winner.organization_id]
            deal = deal_values(
                listing_id=row.listing_id,
                seller_org_id=row.seller_org_id,
                seller_is_public_institution=seller.is_public_institution,
                transaction_kind=row.transaction_kind,
                buyer_org_id=winner.organization_id,
                price=close.price,
                source=DealSource.auction,
                at=at,
                calendar=calendar,
                fees=fees,
                registration_id=winner.id,
                deposit=winner.deposit,
                auction_id=row.id,
                investee=Investee(str(winner.organization_id), buyer.name, buyer.credit_code),
            )
            contract = contract_values(
                deal,
                seller=PartyFacts(seller.name, seller.credit_code),
                buyer=PartyFacts(buyer.name, buyer.credit_code),
                patents=patents[row.listing_id],
                license_terms=row.license_terms,
                at=at,
            )
            deal["contract_id"] = contract["id"]
            deal_rows.append(deal)
            contract_rows.append(contract)
            close.deal = deal
            close.listing_status = _listing_target(
                ListingStatus(row.listing_status),
                sold=True,
                exclusive=row.transaction_kind in EXCLUSIVE_KINDS,
            )
            if close.listing_status is not None:
                audit.append(
                    Event(
                        "listing",
                        row.listing_id,
                        "deal_made",
                        actor,
                        at,
                        status_change_data(
                            row.listing_status,
                            close.listing_status,
                            {"deal_id": deal["id"], "price": close.price, "source": DealSource.auction},
                        ),
                    )
                )
            audit.append(
                Event(
                    "deal",
                    deal["id"],
                    "created",
                    actor,
                    at,
                    created_audit_data(deal, contract["id"], contract["sha256"]),
                    new=True,
                )
            )
            refunds += [(h, at) for h in held if h.registration_id != close.winner_id]
        else:
            if row.from_listed_trading and row.bid_count == 0:
                forfeits += [(h, row.seller_org_id, at) for h in held]
            else:
                refunds += [(h, at) for h in held]
            close.listing_status = _listing_target(
                ListingStatus(row.listing_status), sold=False, exclusive=False
            )
            if close.listing_status is not None:
                audit.append(
                    Event(
                        "listing",
                        row.listing_id,
                        "auction_failed",
                        actor,
                        at,
                        status_change_data(row.listing_status, close.listing_status, {"auction_id": row.id}),
                    )
                )

    auction_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for close in closes:
        row, at = close.row, close.at
        status = AuctionStatus.closed if close.deal is not None else AuctionStatus.failed
        deal_id = close.deal["id"] if close.deal is not None else None
        state = SimpleNamespace(**row._mapping)
        state.status, state.reserve_met, state.deal_id = status, close.met, deal_id
        state.current_price, state.event_seq = close.current_price, row.event_seq + 1
        winner_code = code_of.get(close.winner_id) if close.winner_id else None
        leading_code = code_of.get(close.leader_id) if close.leader_id else None
        auction_rows.append(
            {
                "b_id": row.id,
                "b_status": status,
                "b_current_price": close.current_price,
                "b_leader": close.leader_id,
                "b_reserve_met": close.met,
                "b_winner": close.winner_id,
                "b_final_price": close.price,
                "b_deal": deal_id,
                "b_event_seq": state.event_seq,
                "b_at": at,
            }
        )
        name = "closed" if status == AuctionStatus.closed else "failed"
        event_rows.append(
            {
                "auction_id": row.id,
                "seq": state.event_seq,
                "event": name,
                "at": at,
                "data": event_data(state, leading_code=leading_code, winner_code=winner_code, at=at),
            }
        )
        forfeited = close.deal is None and row.from_listed_trading and row.bid_count == 0
        data: dict[str, Any] = {
            "status": status,
            "bid_count": row.bid_count,
            "reserve_met": close.met,
            "winner_bidder_code": winner_code,
            "final_price": close.price,
            "deal_id": deal_id,
            "deposits": "forfeited" if forfeited else "refunded",
        }
        if row.format == AuctionFormat.sealed:
            data["bids"] = close.sealed_bids
        audit.append(Event("auction", row.id, name, actor, at, data))
        await notices.closed(
            session,
            row.id,
            row.listing_id,
            row.seller_org_id,
            status=status,
            winner_code=winner_code,
            price=close.price if close.deal is not None else None,
            registrants=registrations[row.listing_id],
            at=at,
        )

    await proxies.end_proxies(session, [c.row.id for c in closes], at=now)
    if deal_rows:
        await session.execute(_INSERT_DEALS, deal_rows)
        await session.execute(_INSERT_CONTRACTS, contract_rows)
        for close in closes:
            if close.deal is not None:
                await announce_entry(session, close.deal, at=close.at)
    listing_rows = [
        {
            "b_id": c.row.listing_id,
            "b_status": c.listing_status,
            "b_at": c.at,
            "b_ended": c.at if c.listing_status in _ENDED else None,
        }
        for c in closes
        if c.listing_status is not None
    ]
    if listing_rows:
        await session.execute(_UPDATE_LISTING, listing_rows)
        changed: dict[datetime, dict[uuid.UUID, str]] = defaultdict(dict)
        for c in closes:
            if c.listing_status is not None:
                changed[c.at][c.row.listing_id] = str(c.listing_status)
        for at, statuses in changed.items():
            await listing_statuses_changed(session, statuses, at=at)
    await session.execute(_UPDATE_AUCTION, auction_rows)
    await session.execute(_INSERT_EVENTS, event_rows)
    events.written(session, [c.row.id for c in closes])
    await record_many(session, audit)
    await _resolve_deposits(session, refunds, forfeits, actor=actor)
    return [c.row.id for c in closes]


async def _resolve_deposits(
    session: AsyncSession,
    refunds: list[tuple[Hold, datetime]],
    forfeits: list[tuple[Hold, uuid.UUID, datetime]],
    *,
    actor: str,
) -> None:
    """Every deposit outcome of the batch, each as of its auction's close: the compare-and-set claims (one
    UPDATE per outcome and close time), then one ``post_many`` of every journal entry (one per deposit),
    last, so the accounts that the batches of several processes share stay locked only until the commit."""
    groups: dict[tuple[DepositStatus, datetime], list[Hold]] = defaultdict(list)
    seller_of: dict[uuid.UUID, uuid.UUID] = {}
    for hold, at in refunds:
        groups[DepositStatus.refunded, at].append(hold)
    for hold, seller, at in forfeits:
        groups[DepositStatus.forfeited, at].append(hold)
        seller_of[hold.registration_id] = seller
    done: list[tuple[DepositStatus, datetime, Hold]] = []
    for (outcome, at), holds in groups.items():
        done += [(outcome, at, h) for h in await deposits.claim_many(session, holds, outcome, at=at)]
    if not done:
        return
    wanted = deposits.accounts_needed(h for _, _, h in done) | {
        (AccountKind.available, seller) for seller in seller_of.values()
    }
    accounts = await account_ids(session, wanted)
    entries = [
        replace(
            deposits.refund_entry(h, accounts)
            if outcome == DepositStatus.refunded
            else deposits.forfeit_entry(h, seller_of[h.registration_id], accounts),
            at=at,
        )
        for outcome, at, h in done
    ]
    await post_many(session, entries, at=done[0][1], actor=actor)
