"""One bad row never stops the deadlines of the whole exchange (SPEC §20 "State and money"; DESIGN.md
"Deadlines"). A row whose processing keeps raising — here an auction whose Dutch terms overflow the schedule,
planted in the database past the listing validation that now refuses such terms — is logged with its kind and
id, counted in ``exchange_sweeper_failures_total{kind=...}``, and left aside: the other due rows are processed,
the sandbox clock's run terminates, and the sweeper loop retries the row only after a growing pause."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy import update

from app.deadlines import sweeper
from app.models.listings import Listing
from app.models.trading import Auction
from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants

LISTING_END = "listing_end"
DUTCH = {"format": "dutch", "decrement": "5000.00", "step_seconds": 60, "floor_price": "80000.00"}


async def failures(client: httpx.AsyncClient, kind: str) -> float:
    """The sweeper's failure counter for ``kind``, read from ``/metrics``."""
    text = (await client.get("/metrics")).text
    match = re.search(rf'^exchange_sweeper_failures_total\{{kind="{kind}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def poisoned(client: httpx.AsyncClient, db) -> h.AuctionCase:  # type: ignore[no-untyped-def]
    """An auction listing with a qualified registrant (deposit held) whose scheduled auction's Dutch terms are
    rewritten in the database to 100,000,000.00 falling by 0.01 a day: opening it overflows."""
    case = await h.open_auction(client, db, bidders=1, auction=DUTCH, opened=False)
    async with db.transaction() as session:
        await session.execute(
            update(Auction)
            .where(Auction.id == uuid.UUID(case.id))
            .values(start_price=100_000_000_00, decrement=1, step_seconds=86_400, floor_price=0)
        )
    return case


async def advance(client: httpx.AsyncClient, op: f.Actor, seconds: float) -> None:
    """Move the sandbox clock (as an operator) and let every deadline now due be processed."""
    r = await client.post("/api/v1/sandbox/clock", json={"advance_seconds": seconds}, headers=op.headers)
    assert r.status_code == 200, r.text


async def advance_past(client: httpx.AsyncClient, op: f.Actor, *instants: str) -> None:
    gap = max(datetime.fromisoformat(i) for i in instants) - await t.now(client)
    await advance(client, op, max(gap.total_seconds(), 0) + 1)


async def listing_status(client: httpx.AsyncClient, case: h.AuctionCase) -> str:
    r = await client.get(f"/api/v1/listings/{case.listing['id']}", headers=case.seller.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def test_a_poisoned_row_is_isolated_counted_and_logged(
    client: httpx.AsyncClient, db, caplog: pytest.LogCaptureFixture
) -> None:
    bad = await poisoned(client, db)  # approved first: its listing end is due first
    good = await h.open_auction(client, db, bidders=1, opened=False)
    before = await failures(client, LISTING_END)

    with caplog.at_level(logging.ERROR, logger="app.deadlines.sweeper"):
        await advance_past(client, good.op, bad.listing["listing_ends_at"], good.listing["listing_ends_at"])

    # The normal deadline was processed; the run ended (the clock answered); the failure was counted.
    assert await listing_status(client, good) == "in_auction"
    assert (await h.state(client, good))["status"] == "open"
    assert await listing_status(client, bad) == "published"
    assert await failures(client, LISTING_END) == before + 1
    record = next(r for r in caplog.records if bad.listing["id"] in r.getMessage())
    assert LISTING_END in record.getMessage() and record.exc_info is not None
    # The buyer's deposit is still held (an operator has to look at this row), and the books balance.
    assert await t.balance(client, bad.bidders[0]) == {"available": "0.00", "held": "10000.00"}
    await assert_invariants(db)

    # Every later run tries it again, fails the same way, and still ends.
    await advance(client, good.op, 60)
    assert await failures(client, LISTING_END) == before + 2
    assert await listing_status(client, bad) == "published"


async def test_poisoned_rows_never_starve_the_rest_of_their_kind(
    client: httpx.AsyncClient, db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More bad rows than the sweeper reads at once, all due before a good one of the same kind."""
    monkeypatch.setattr(sweeper, "BATCH", 2)
    bad = [await poisoned(client, db) for _ in range(3)]
    good = await h.open_auction(client, db, bidders=1, opened=False)
    before = await failures(client, LISTING_END)

    await advance_past(client, good.op, good.listing["listing_ends_at"])

    assert await listing_status(client, good) == "in_auction"
    assert [await listing_status(client, case) for case in bad] == ["published"] * 3
    assert await failures(client, LISTING_END) == before + 3
    await assert_invariants(db)


async def test_the_loop_retries_a_failing_row_after_a_growing_pause(
    client: httpx.AsyncClient, db, app
) -> None:
    """The sweeper loop keeps one context: a row that failed is left out of its passes until its retry time
    (1 s, then doubling), and forgotten once it is no longer due."""
    bad = await poisoned(client, db)
    ends = datetime.fromisoformat(bad.listing["listing_ends_at"])
    await h.move_clock_only(db, (ends - await t.now(client)).total_seconds() + 1)  # no deadline processed
    now = await t.now(client)

    ticks = [1000.0]
    ctx = sweeper.sweep_context(app)
    ctx.quarantine = sweeper.Quarantine(clock=lambda: ticks[0])
    item = sweeper.Due(at=ends, kind=LISTING_END, id=uuid.UUID(bad.listing["id"]))
    before = await failures(client, LISTING_END)

    report = await sweeper.run_until_idle(ctx, now)
    assert report.failed == {item} and await failures(client, LISTING_END) == before + 1
    for _ in range(5):  # passes within the pause leave it alone
        report = await sweeper.run_until_idle(ctx, now)
        assert not report.failed and report.handled == 0
    assert await failures(client, LISTING_END) == before + 1

    ticks[0] += 1.0  # the first pause is over: tried (and failed) again, then a pause of 2 s
    assert (await sweeper.run_until_idle(ctx, now)).failed == {item}
    ticks[0] += 1.5
    assert not (await sweeper.run_until_idle(ctx, now)).failed
    ticks[0] += 0.5
    assert (await sweeper.run_until_idle(ctx, now)).failed == {item}
    assert await failures(client, LISTING_END) == before + 3
    assert ctx.quarantine.failures(item) == 3

    # Repaired (an operator withdrew the listing, say): no longer due, so no longer remembered.
    async with db.transaction() as session:
        await session.execute(
            update(Listing).where(Listing.id == uuid.UUID(bad.listing["id"])).values(status="terminated")
        )
    ticks[0] += 3600
    report = await sweeper.run_until_idle(ctx, now)
    assert not report.failed and ctx.quarantine.failures(item) == 0


async def test_a_read_of_a_poisoned_auction_is_not_an_error(client: httpx.AsyncClient, db) -> None:
    """The lazy close on read (an auction past its end is closed before it is shown) meets the same row: the
    read still answers, and the failure is counted like the sweeper's."""
    case = await h.open_auction(client, db, bidders=2)
    r = await h.bid(client, case, case.bidders[0], "100000.00")
    assert r.status_code == 201, r.text
    # An exclusive listing that can no longer go under contract: closing its auction raises.
    async with db.transaction() as session:
        await session.execute(
            update(Listing).where(Listing.id == uuid.UUID(case.listing["id"])).values(status="suspended")
        )
    view = await h.state(client, case)
    await h.move_clock_only(
        db, (datetime.fromisoformat(view["ends_at"]) - await t.now(client)).total_seconds() + 1
    )
    before = await failures(client, "auction_close")
    r = await client.get(case.url)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open"
    assert await failures(client, "auction_close") == before + 1
