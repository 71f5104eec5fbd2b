"""A Hypothesis state machine drives random registrations, bids, offers, acceptances and clock advances
through the API against a simple model, and checks the invariants after every step (issue: trading).

Invariants after each step: the books balance, no organization balance is negative, each deposit is held
once and resolved at most once, every audit chain verifies, the organizations' money is conserved (no
payments or settlements happen here, so what they hold together is what the bank sent them), accepted bids
of the auction strictly increase and its price and leader are those of the highest accepted bid, and an
exclusive listing never has more than one deal.

The machine runs its own app on its own event loop (Hypothesis' stateful API is synchronous) against a fresh
database per backend; each example starts from empty tables.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from app.kit.db import create_database
from app.kit.migrate import upgrade
from app.kit.money import format_fen, parse_yuan
from app.main import create_app
from app.models.ledger import AccountKind, LedgerAccount
from app.models.trading import Deal
from tests import factories as f
from tests import sandbox
from tests import trading as t
from tests.conftest import BACKENDS, Backend, make_settings
from tests.invariants import assert_invariants
from tests.live import fresh_database

FUNDING = 60_000_00  # fen per buyer: enough for a few deposits, not for everything
BUYERS = 3


class TradingMachine(RuleBasedStateMachine):
    backend: Backend  # set by the test
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize()
    def setup(self) -> None:
        self.run(self.backend.reset())
        self.app = create_app(make_settings(self.backend.url), db=self.backend.db)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")
        sandbox.use_database(self.client, self.backend.db)
        self.run(self._setup())

    async def _setup(self) -> None:
        c = self.client
        self.op = await f.operator(c, self.backend.db)
        self.seller = await f.organization(c, kind="enterprise", verified_by=self.op)
        self.buyers = [await f.organization(c, verified_by=self.op) for _ in range(BUYERS)]
        for buyer in self.buyers:
            await t.fund(c, self.op, buyer, format_fen(FUNDING))
        common = {"listing_days": 5, "max_extensions": 1, "extension_days": 5}
        self.auction_listing = await t.published_listing(
            c,
            self.op,
            self.seller,
            pricing_mode="auction",
            price="100000.00",
            deposit="20000.00",
            auction={
                "format": "english",
                "increment": "1000.00",
                "free_bidding_minutes": 0,
                "countdown_seconds": 300,
            },
            **common,
        )
        self.listed = await t.published_listing(
            c, self.op, self.seller, pricing_mode="listed", price="50000.00", deposit="15000.00", **common
        )
        self.negotiated = await t.published_listing(c, self.op, self.seller, price="80000.00", **common)
        self.auction_id = self.auction_listing["auction_id"]
        self.registered: set[tuple[int, str]] = set()
        self.accepted_bids: list[int] = []
        self.open_offers: dict[str, int] = {}
        self.offer_threads: set[int] = set()

    def teardown(self) -> None:
        if hasattr(self, "client"):
            self.run(self.client.aclose())

    # --- rules --------------------------------------------------------------------------------------------

    @rule(buyer=st.integers(0, BUYERS - 1), which=st.sampled_from(["auction", "listed"]))
    def register(self, buyer: int, which: str) -> None:
        listing = self.auction_listing if which == "auction" else self.listed
        r = self.run(
            self.client.post(
                f"/api/v1/listings/{listing['id']}/registrations", headers=self.buyers[buyer].headers
            )
        )
        assert r.status_code in (201, 409), r.text
        if r.status_code == 201:
            assert (buyer, which) not in self.registered
            self.registered.add((buyer, which))
        elif (buyer, which) in self.registered:
            # After the period ends the listing's state answers first.
            assert r.json()["code"] in ("already_registered", "invalid_state")
        else:
            assert r.json()["code"] in ("insufficient_funds", "invalid_state")

    @rule(buyer=st.integers(0, BUYERS - 1), steps=st.integers(1, 3))
    def bid(self, buyer: int, steps: int) -> None:
        auction = self.run(self.client.get(f"/api/v1/auctions/{self.auction_id}")).json()
        current = auction["current_price"]
        amount = parse_yuan(current) + steps * 1000_00 if current else 100_000_00 + (steps - 1) * 1000_00
        r = self.run(
            self.client.post(
                f"/api/v1/auctions/{self.auction_id}/bids",
                json={"amount": format_fen(amount)},
                headers=self.buyers[buyer].headers,
            )
        )
        assert r.status_code in (201, 403, 409), r.text
        if r.status_code == 201:
            assert (buyer, "auction") in self.registered
            assert not self.accepted_bids or amount > self.accepted_bids[-1]
            self.accepted_bids.append(amount)
        elif r.status_code == 403:
            assert r.json()["code"] in ("not_qualified", "forbidden")
        else:
            assert r.json()["code"] in ("auction_not_open", "already_leading", "bid_too_low")

    @rule(buyer=st.integers(0, BUYERS - 1), price=st.integers(50_000, 120_000))
    def offer(self, buyer: int, price: int) -> None:
        r = self.run(
            self.client.post(
                f"/api/v1/listings/{self.negotiated['id']}/offers",
                json={"price": format_fen(price * 100)},
                headers=self.buyers[buyer].headers,
            )
        )
        assert r.status_code in (201, 409), r.text
        if r.status_code == 201:
            self.open_offers[r.json()["id"]] = buyer

    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        if not self.open_offers:
            return
        offer_id = data.draw(st.sampled_from(sorted(self.open_offers)))
        r = self.run(self.client.post(f"/api/v1/offers/{offer_id}/accept", headers=self.seller.headers))
        assert r.status_code in (200, 409), r.text
        self.open_offers.pop(offer_id)
        if r.status_code == 200:
            assert r.json()["deal_id"]

    @rule(seconds=st.sampled_from([120, 400, 3600, 86400, 3 * 86400, 8 * 86400]))
    def advance(self, seconds: int) -> None:
        self.run(t.advance(self.client, seconds))

    @rule(which=st.sampled_from(["auction", "listed", "negotiated"]))
    def advance_to_listing_end(self, which: str) -> None:
        """Land just after a listing period ends, when an auction opens and the bidding window is short."""
        listing = {"auction": self.auction_listing, "listed": self.listed, "negotiated": self.negotiated}[
            which
        ]
        current = self.run(self.client.get(f"/api/v1/listings/{listing['id']}")).json()
        if current["status"] == "published" and current["listing_ends_at"]:
            self.run(t.advance_past(self.client, current["listing_ends_at"]))

    # --- invariants ---------------------------------------------------------------------------------------

    @invariant()
    def books_and_chains(self) -> None:
        if hasattr(self, "client"):
            self.run(self._check())

    async def _check(self) -> None:
        await assert_invariants(self.backend.db)
        async with self.backend.db.read() as session:
            held_by_orgs = await session.scalar(
                select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(
                    LedgerAccount.kind.in_([AccountKind.available, AccountKind.held])
                )
            )
            assert held_by_orgs == FUNDING * BUYERS, "organizations' money is not conserved"
            per_listing = (
                await session.execute(select(Deal.listing_id, func.count()).group_by(Deal.listing_id))
            ).all()
            assert all(n == 1 for _, n in per_listing), "an exclusive listing has two deals"
        bids = (await self.client.get(f"/api/v1/auctions/{self.auction_id}/bids?limit=100")).json()["items"]
        amounts = [parse_yuan(b["amount"]) for b in reversed(bids)]
        assert amounts == sorted(set(amounts)), "accepted bids do not strictly increase"
        assert amounts == self.accepted_bids[-len(amounts) :] if amounts else not self.accepted_bids
        auction = (await self.client.get(f"/api/v1/auctions/{self.auction_id}")).json()
        if amounts and auction["status"] in ("open", "closed"):
            assert parse_yuan(auction["current_price"]) == amounts[-1]
            assert auction["leading_bidder_code"] == bids[0]["bidder_code"]


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_trading_state_machine(backend_name: str, tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        with fresh_database(backend_name, tmp_path) as url:
            upgrade(url)
            db = create_database(url)
            from app.models import Base

            backend = Backend(
                name=backend_name, url=url, db=db, tables=[x.name for x in Base.metadata.sorted_tables]
            )
            TradingMachine.backend = backend
            TradingMachine.loop = loop
            runner = TradingMachine.TestCase
            runner.settings = settings(
                max_examples=12,
                stateful_step_count=18,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            try:
                runner().runTest()
            finally:
                loop.run_until_complete(db.dispose())
    finally:
        loop.close()
