"""Invariants checked after every scenario (SPEC §6, §15, §17.7): the books balance, no organization balance is
negative, each deposit hold is resolved at most once (and exactly once when ``all_resolved``), every audit
chain verifies, and every English auction's bids follow the ordering guarantee of §17.2 with no automatic bid
above its holder's maximum and the auction's price and leader (the deal's price after the close) those of
its last bid."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import verify_all
from app.deals.fees import load_schedule
from app.kit.db import Database
from app.ledger.service import trial_balance
from app.models.ledger import EntryKind, JournalEntry, LedgerAccount
from app.models.listings import AuctionFormat
from app.models.royalties import RoyaltyReport
from app.models.trading import Auction, AuctionStatus, Bid, Deal, DepositStatus, ProxyBid, Registration
from app.royalties import rules as royalty_rules

RESOLUTIONS = (EntryKind.deposit_refund, EntryKind.deposit_apply, EntryKind.deposit_forfeit)


async def assert_invariants(db: Database, *, all_resolved: bool = False) -> None:
    async with db.read() as session:
        tb = await trial_balance(session)
        assert tb.total == 0, f"the books do not balance: {tb.total}"
        assert tb.lines_match_balances, "an account's balance differs from the sum of its journal lines"
        negative = (
            await session.scalars(
                select(LedgerAccount).where(LedgerAccount.balance < 0, LedgerAccount.kind != "bank_clearing")
            )
        ).all()
        assert not negative, f"negative balances: {[(a.kind, a.balance) for a in negative]}"

        holds = dict(
            (
                await session.execute(
                    select(JournalEntry.registration_id, func.count())
                    .where(JournalEntry.kind == EntryKind.deposit_hold)
                    .group_by(JournalEntry.registration_id)
                )
            ).all()
        )
        resolved = dict(
            (
                await session.execute(
                    select(JournalEntry.registration_id, func.count())
                    .where(JournalEntry.kind.in_(RESOLUTIONS))
                    .group_by(JournalEntry.registration_id)
                )
            ).all()
        )
        assert all(n == 1 for n in holds.values()), "a registration was held twice"
        assert all(n == 1 for n in resolved.values()), "a deposit was resolved twice"
        assert set(resolved) <= set(holds), "a deposit was resolved without a hold"
        registrations = (await session.scalars(select(Registration))).all()
        for reg in registrations:
            assert (reg.deposit_status != DepositStatus.held) == (reg.id in resolved), reg.id
            if all_resolved:
                assert reg.deposit_status != DepositStatus.held, f"deposit of {reg.id} still held"

        report = await verify_all(session)
        assert report.ok, report.broken
        await _english_bids(session)
        await _royalty_reports(session)


async def _english_bids(session: AsyncSession) -> None:
    maxima = {
        (p.auction_id, p.registration_id): p.max_amount for p in await session.scalars(select(ProxyBid))
    }
    bids: dict[Any, list[Bid]] = defaultdict(list)
    for bid in await session.scalars(
        select(Bid).where(Bid.sealed.is_(False)).order_by(Bid.auction_id, Bid.seq)
    ):
        bids[bid.auction_id].append(bid)
    for auction in await session.scalars(select(Auction).where(Auction.format == AuctionFormat.english)):
        rows = bids[auction.id]
        assert [b.seq for b in rows] == list(range(1, len(rows) + 1)), f"gaps in the bids of {auction.id}"
        for before, after in pairwise(rows):
            assert after.amount >= before.amount, f"a bid fell in {auction.id}"
            assert after.registration_id != before.registration_id, f"a bid kept the leader in {auction.id}"
            if after.amount == before.amount:
                outranks = after.priority_rank is not None and (
                    before.priority_rank is None or after.priority_rank < before.priority_rank
                )
                assert outranks or after.auto, f"an equal bid without the right to it in {auction.id}"
        for b in rows:
            if b.auto:
                assert b.amount <= maxima[(auction.id, b.registration_id)], (
                    f"a proxy bid above its maximum {b.id}"
                )
        if rows and auction.status in (AuctionStatus.open, AuctionStatus.closed):
            assert (
                auction.current_price == rows[-1].amount
                and auction.leader_registration_id == rows[-1].registration_id
            )
        if auction.deal_id is not None and rows:
            price = await session.scalar(select(Deal.price).where(Deal.id == auction.deal_id))
            assert price == rows[-1].amount, f"the deal of {auction.id} is not at the last bid"


async def _royalty_reports(session: AsyncSession) -> None:
    """SPEC §18.8: a royalty is base × rate rounded half-up, with the figures that follow from it; each report is
    paid and settled at most once (one payment and one settlement entry each) and a settled report's escrow is
    empty."""
    fees = load_schedule()
    entries = dict(
        (
            await session.execute(
                select(JournalEntry.reference, func.count())
                .where(JournalEntry.kind.in_([EntryKind.royalty_payment, EntryKind.royalty_settlement]))
                .group_by(JournalEntry.reference, JournalEntry.kind)
                .having(func.count() > 1)
            )
        ).all()
    )
    assert not entries, f"a royalty report paid or settled twice: {entries}"
    escrows = dict(
        (
            await session.execute(
                select(LedgerAccount.owner_id, LedgerAccount.balance).where(LedgerAccount.kind == "escrow")
            )
        ).all()
    )
    for report in await session.scalars(select(RoyaltyReport)):
        if report.base_amount is not None:
            expected = royalty_rules.figures(report.base_amount, Decimal(report.royalty_rate), fees)
            got = (report.royalty, report.licensee_fee, report.licensor_fee, report.amount_due)
            assert got == (
                expected.royalty,
                expected.licensee_fee,
                expected.licensor_fee,
                expected.amount_due,
            ), f"royalty figures of {report.id}: {got}"
        if report.status == "settled":
            assert escrows.get(report.id, 0) == 0, f"the escrow of settled royalty report {report.id}"
