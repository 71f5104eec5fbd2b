"""Closing auctions in batches (``app.auctions.closing``; the close storm of ``bench/close_storm.py``).

- One batch closes every kind of outcome exactly as a batch of one closes it (as a Dutch acceptance or a
  lazy close does): the same auction, listing, deposits, journal entries, deal, contract text, audit events
  and final live event, ids and times aside.
- A batch with an auction that cannot be closed: the batch rolls back, the sweeper closes the others one per
  transaction, and only the bad one is left (open, deposits held) for the next sweep.
- Two sweepers (two engines, as two server processes) racing over the same due auctions in small batches:
  every auction closed once, every deposit resolved once, one deal per winner, one final event each.
- PostgreSQL: the batch's live events wake the streams of every auction it closed (the table's trigger).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.auctions import closing, deadlines, events
from app.audit.service import SYSTEM_ACTOR
from app.contracts.rules import contract_hash
from app.deadlines import sweeper
from app.kit.db import create_database
from app.models.accounts import Organization
from app.models.audit import AuditEvent
from app.models.contracts import Contract
from app.models.ledger import JournalEntry
from app.models.listings import Listing, ListingPatent
from app.models.patents import Patent
from app.models.trading import Auction, AuctionEvent, Deal, Registration
from tests import trading as t
from tests.auctions import helpers as h
from tests.conftest import BACKENDS
from tests.invariants import assert_invariants

LICENSE = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}
DUTCH = {"format": "dutch", "decrement": "5000.00", "step_seconds": 60, "floor_price": "80000.00"}
SEALED = {"format": "sealed", "free_bidding_minutes": 60}


@dataclass(frozen=True)
class Scenario:
    options: dict[str, Any]
    bids: list[tuple[int, str]]  # (bidder index, amount)


SCENARIOS = {
    "english_winner": Scenario(
        {"bidders": 3, "auction": {"reserve_price": "101000.00"}}, [(0, "100000.00"), (1, "102000.00")]
    ),
    "reserve_not_met": Scenario(
        {"auction": {"reserve_price": "150000.00"}}, [(0, "100000.00"), (1, "120000.00")]
    ),
    "no_bid": Scenario({}, []),
    "listed_trading_no_bid": Scenario({"bidders": 3, "from_listed_trading": True}, []),
    "sealed_second_price": Scenario(
        {"bidders": 3, "auction": {**SEALED, "sealed_pricing": "second_price"}},
        [(0, "120000.00"), (1, "110000.00")],
    ),
    "licence_winner": Scenario(
        {"transaction_kind": "nonexclusive_license", "license": LICENSE}, [(1, "100000.00")]
    ),
    "dutch_no_acceptance": Scenario({"auction": DUTCH}, []),
}


async def _build(client: httpx.AsyncClient, db, scenario: Scenario) -> h.AuctionCase:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db, **scenario.options)
    for who, amount in scenario.bids:
        r = await h.bid(client, case, case.bidders[who], amount)
        assert r.status_code == 201, r.text
    return case


async def _past_every_end(client: httpx.AsyncClient, db, cases: list[h.AuctionCase]) -> datetime:  # type: ignore[no-untyped-def]
    """Move the business clock past the last ``ends_at`` without processing any deadline; the new now."""
    async with db.read() as session:
        last = await session.scalar(
            select(func.max(Auction.ends_at)).where(Auction.id.in_([uuid.UUID(c.id) for c in cases]))
        )
    assert last is not None
    await h.move_clock_only(db, (last - await t.now(client)).total_seconds() + 1)
    return await t.now(client)


def _due(case: h.AuctionCase, at: datetime) -> sweeper.Due:
    return sweeper.Due(at=at, kind=deadlines.AUCTION_CLOSE, id=uuid.UUID(case.id))


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


async def _trail(db, case: h.AuctionCase, app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything a close wrote for ``case``, with ids, hashes and times replaced by what they stand for."""
    async with db.read() as session:
        auction = await session.get(Auction, uuid.UUID(case.id))
        assert auction is not None and auction.ends_at is not None
        ends = auction.ends_at
        listing = await session.get(Listing, auction.listing_id)
        assert listing is not None
        regs = (
            await session.scalars(select(Registration).where(Registration.listing_id == listing.id))
        ).all()
        code = {r.id: r.bidder_code for r in regs}
        deal = await session.scalar(select(Deal).where(Deal.auction_id == auction.id))
        contract = await session.get(Contract, deal.contract_id) if deal and deal.contract_id else None
        entries = (
            await session.scalars(select(JournalEntry).where(JournalEntry.registration_id.in_(list(code))))
        ).all()
        entity_ids = [str(auction.id), str(listing.id)] + ([str(deal.id)] if deal else [])
        audit = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_id.in_(entity_ids), AuditEvent.at >= ends)
                .order_by(AuditEvent.entity_type, AuditEvent.seq)
            )
        ).all()
        final = await session.scalar(
            select(AuctionEvent)
            .where(AuctionEvent.auction_id == auction.id)
            .order_by(AuctionEvent.seq.desc())
            .limit(1)
        )
        orgs = {
            o.id: o
            for o in await session.scalars(
                select(Organization).where(
                    Organization.id.in_([listing.seller_org_id, *(r.organization_id for r in regs)])
                )
            )
        }
        patents = (
            await session.scalars(
                select(Patent)
                .join(ListingPatent, ListingPatent.patent_id == Patent.id)
                .where(ListingPatent.listing_id == listing.id)
            )
        ).all()
    tokens = {str(auction.id): "<auction>", str(listing.id): "<listing>"}
    tokens[str(listing.seller_org_id)] = "<seller>"
    for r in regs:
        tokens[str(r.organization_id)] = f"<org {r.bidder_code}>"
        tokens[str(r.id)] = f"<registration {r.bidder_code}>"
    if deal is not None and contract is not None:
        tokens |= {str(deal.id): "<deal>", str(contract.id): "<contract>", contract.sha256: "<sha256>"}

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, str):
            if value in tokens:
                return tokens[value]
            if _TIME.match(value):
                return "<time>"
        return value

    def words(text_: str) -> str:
        """The contract text with its deal id, parties and patents replaced by what they stand for."""
        assert deal is not None
        known = {str(deal.id): "<deal>"}
        for org_id, org in orgs.items():
            known |= {
                org.name: f"<name {tokens[str(org_id)]}>",
                org.credit_code: f"<code {tokens[str(org_id)]}>",
            }
        for p in patents:
            known |= {p.application_number: "<patent number>", p.title: "<patent title>"}
        for old in sorted(known, key=len, reverse=True):
            text_ = text_.replace(old, known[old])
        return re.sub(r"合同生成于 \d+年\d+月\d+日", "合同生成于 <date>", text_)

    return {
        "auction": {
            "status": auction.status,
            "current_price": auction.current_price,
            "reserve_met": auction.reserve_met,
            "final_price": auction.final_price,
            "bid_count": auction.bid_count,
            "version": auction.version,
            "event_seq": auction.event_seq,
            "leader": code.get(auction.leader_registration_id) if auction.leader_registration_id else None,
            "winner": code.get(auction.winner_registration_id) if auction.winner_registration_id else None,
            "deal": norm(auction.deal_id),
            "closed_at": auction.closed_at == ends and auction.updated_at == ends,
        },
        "listing": (listing.status, listing.version),
        "deposits": sorted(
            (
                r.bidder_code,
                r.deposit_status,
                r.deposit_resolved_at == ends if r.deposit_resolved_at else None,
            )
            for r in regs
        ),
        "entries": sorted(
            (
                code[e.registration_id] if e.registration_id else "",
                e.kind,
                e.amount,
                e.memo,
                e.actor,
                norm(e.organization_id),
                norm(e.deal_id),
                e.at == ends,
            )
            for e in entries
        ),
        "deal": None
        if deal is None or contract is None
        else {
            "columns": norm(
                {
                    c: getattr(deal, c)
                    for c in (
                        "listing_id",
                        "buyer_org_id",
                        "seller_org_id",
                        "source",
                        "transaction_kind",
                        "status",
                        "price",
                        "buyer_fee",
                        "seller_fee",
                        "deposit_applied",
                        "amount_due",
                        "registration_id",
                        "offer_id",
                        "related_party",
                        "contract_id",
                        "notice_ends_at",
                        "pay_by",
                        "version",
                    )
                }
            ),
            "times": (
                deal.created_at == ends,
                deal.sign_by == app.state.calendar.add_working_days(ends, 5),
            ),
            "contract": (
                contract.status,
                contract.transaction_kind,
                contract.sha256 == contract_hash(contract.text),
                contract.created_at == ends,
                words(contract.text),
            ),
        },
        "audit": [(e.entity_type, e.seq, e.action, e.actor, norm(e.data), e.at == ends) for e in audit],
        "final_event": None
        if final is None
        else (final.seq, final.event, norm(final.data), final.at == ends),
    }


async def test_one_batch_closes_every_outcome_as_one_close_does(client: httpx.AsyncClient, db, app) -> None:
    singles = {name: await _build(client, db, s) for name, s in SCENARIOS.items()}
    batched = {name: await _build(client, db, s) for name, s in SCENARIOS.items()}
    now = await _past_every_end(client, db, [*singles.values(), *batched.values()])
    ctx = sweeper.sweep_context(app)

    for case in singles.values():  # one per transaction (a Dutch acceptance, a lazy close on read)
        async with db.transaction() as session:
            closed = await closing.close_auctions(
                session,
                [uuid.UUID(case.id)],
                now=now,
                fees=ctx.fees,
                calendar=ctx.calendar,
                actor=SYSTEM_ACTOR,
            )
            assert closed == [uuid.UUID(case.id)]
    items = [_due(case, now) for case in batched.values()]
    outcomes = await deadlines.process_closes(ctx, items, now)  # ONE transaction
    assert set(outcomes.values()) == {sweeper.Outcome.handled}

    for name in SCENARIOS:
        assert await _trail(db, batched[name], app) == await _trail(db, singles[name], app), name

    # And the outcomes themselves (SPEC §7, §10).
    won = await h.state(client, batched["english_winner"])
    assert won["status"] == "closed" and won["winner_bidder_code"] == "B02" and won["deal_id"]
    deal = (
        await client.get(f"/api/v1/deals/{won['deal_id']}", headers=batched["english_winner"].op.headers)
    ).json()
    assert deal["status"] == "awaiting_signatures" and deal["contract_id"] and deal["sign_by"]
    assert deal["price"] == "102000.00" and deal["source"] == "auction"
    case = batched["english_winner"]
    assert await t.balance(client, case.bidders[0]) == {"available": "10000.00", "held": "0.00"}
    assert await t.balance(client, case.bidders[1]) == {"available": "0.00", "held": "10000.00"}
    sealed = await h.state(client, batched["sealed_second_price"])
    assert sealed["status"] == "closed" and sealed["current_price"] == "110000.00"
    licence = await h.state(client, batched["licence_winner"])
    assert licence["status"] == "closed" and licence["winner_bidder_code"] == "B02"
    listing = (await client.get(f"/api/v1/listings/{batched['licence_winner'].listing['id']}")).json()
    assert listing["status"] == "under_contract"
    for name in ("reserve_not_met", "no_bid", "listed_trading_no_bid", "dutch_no_acceptance"):
        assert (await h.state(client, batched[name]))["status"] == "failed", name
    forfeited = batched["listed_trading_no_bid"]
    assert (await t.balance(client, forfeited.seller))["available"] == "30000.00"
    await assert_invariants(db)


async def test_a_failing_auction_does_not_hold_back_its_batch(
    client: httpx.AsyncClient, db, app, caplog: pytest.LogCaptureFixture
) -> None:
    cases = [await _build(client, db, SCENARIOS["english_winner"]) for _ in range(3)]
    bad = cases[1]
    now = await _past_every_end(client, db, cases)
    # An exclusive listing that can no longer go under contract: its close raises InvalidState.
    async with db.transaction() as session:
        await session.execute(
            update(Listing).where(Listing.id == uuid.UUID(bad.listing["id"])).values(status="suspended")
        )
    ctx = sweeper.sweep_context(app)
    with caplog.at_level(logging.ERROR, logger="app.deadlines.sweeper"):
        report = await sweeper.run_until_idle(ctx, now)
    assert "a batch of 3 auction_close deadlines failed" in caplog.text
    assert report.handled == 2 and {item.id for item in report.failed} == {uuid.UUID(bad.id)}
    for case in (cases[0], cases[2]):
        view = await h.state(client, case)
        assert view["status"] == "closed" and view["deal_id"]
    async with db.read() as session:
        still = await session.get(Auction, uuid.UUID(bad.id))
        assert still is not None and still.status == "open" and still.deal_id is None
        held = await session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.listing_id == uuid.UUID(bad.listing["id"]), Registration.deposit_status == "held"
            )
        )
        assert held == 3
    await assert_invariants(db)

    # Once the listing is back in auction, the next sweep closes it (a fresh context, as the sandbox clock's:
    # the loop's own context would wait out the failed item's retry pause first).
    async with db.transaction() as session:
        await session.execute(
            update(Listing).where(Listing.id == uuid.UUID(bad.listing["id"])).values(status="in_auction")
        )
    report = await sweeper.run_until_idle(sweeper.sweep_context(app), now)
    assert report.handled == 1 and not report.failed
    assert (await h.state(client, bad))["status"] == "closed"
    await assert_invariants(db)


async def test_two_sweepers_race_over_the_same_batches(
    client: httpx.AsyncClient, db, app, backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = [SCENARIOS["english_winner"], SCENARIOS["reserve_not_met"], SCENARIOS["no_bid"]] * 4
    cases = [await _build(client, db, s) for s in plans]
    now = await _past_every_end(client, db, cases)
    # Small batches, so the two sweepers' batches overlap and interleave.
    monkeypatch.setattr(sweeper._KINDS[deadlines.AUCTION_CLOSE], "batch", 5)
    first = sweeper.sweep_context(app)
    other_db = create_database(backend.url)  # another engine: as another server process
    try:
        second = sweeper.SweepContext(db=other_db, calendar=first.calendar, fees=first.fees)
        reports = await asyncio.gather(
            sweeper.run_until_idle(first, now), sweeper.run_until_idle(second, now)
        )
    finally:
        await other_db.dispose()
    assert sum(r.handled for r in reports) == len(cases)
    assert not any(r.failed for r in reports)

    async with db.read() as session:
        ids = [uuid.UUID(c.id) for c in cases]
        statuses = dict(
            (await session.execute(select(Auction.id, Auction.status).where(Auction.id.in_(ids)))).all()
        )
        assert sorted(statuses.values()) == ["closed"] * 4 + ["failed"] * 8
        deals = (await session.execute(select(Deal.auction_id, func.count()).group_by(Deal.auction_id))).all()
        assert sorted(n for _, n in deals) == [1] * 4
        finals = (
            await session.execute(
                select(AuctionEvent.auction_id, func.count())
                .where(AuctionEvent.event.in_(["closed", "failed"]))
                .group_by(AuctionEvent.auction_id)
            )
        ).all()
        assert len(finals) == len(cases) and all(n == 1 for _, n in finals)
        closes = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity_type == "auction", AuditEvent.action.in_(["closed", "failed"]))
        )
        assert closes == len(cases)
    await assert_invariants(db)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_a_batch_wakes_the_streams_of_every_auction_it_closes(
    client: httpx.AsyncClient, db, app
) -> None:
    """PostgreSQL: one ``pg_notify`` per closed auction, sent by the batch's single NOTIFY statement."""
    cases = [
        await _build(client, db, SCENARIOS["english_winner"]),
        await _build(client, db, SCENARIOS["no_bid"]),
    ]
    now = await _past_every_end(client, db, cases)
    hub = events.hub_for(db)
    await hub.ensure_listening()
    wakes = {case.id: hub.subscribe(uuid.UUID(case.id)) for case in cases}
    try:
        ctx = sweeper.sweep_context(app)
        outcomes = await deadlines.process_closes(ctx, [_due(case, now) for case in cases], now)
        assert set(outcomes.values()) == {sweeper.Outcome.handled}
        await asyncio.wait_for(asyncio.gather(*(wake.wait() for wake in wakes.values())), 5)
    finally:
        for case_id, wake in wakes.items():
            hub.unsubscribe(uuid.UUID(case_id), wake)
