"""English auctions (SPEC §10 多次报价): increments, the leader rule, the countdown, the hidden reserve, the
close with its deal and deposits, lazy close on read."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event, update

from app.models.trading import Registration, RegistrationStatus
from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants


async def test_bidding_rules_and_codes(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=2, extra_unqualified=1)
    b1, b2, pending = case.bidders
    # First bid: at least the start price and a whole multiple of the increment above it.
    assert h.code_of(await h.bid(client, case, b1, "99000.00")) == "bid_too_low"
    assert h.code_of(await h.bid(client, case, b1, "100500.00")) == "bid_not_increment_multiple"
    r = await h.bid(client, case, b1, "100000.00")
    assert r.status_code == 201, r.text
    placed = r.json()
    assert set(placed) == {
        "id",
        "amount",
        "bidder_code",
        "placed_at",
        "ends_at",
        "auto",
        "leading",
        "current_price",
        "leading_bidder_code",
    }
    assert placed["amount"] == "100000.00" and placed["bidder_code"] == "B01"
    assert placed["auto"] is False and placed["leading"] is True
    assert placed["current_price"] == "100000.00" and placed["leading_bidder_code"] == "B01"
    # The leader may not bid again until outbid.
    assert h.code_of(await h.bid(client, case, b1, "101000.00")) == "already_leading"
    # Later bids exceed the current price by a positive whole multiple of the increment.
    assert h.code_of(await h.bid(client, case, b2, "100000.00")) == "bid_too_low"
    assert h.code_of(await h.bid(client, case, b2, "101500.00")) == "bid_not_increment_multiple"
    r = await h.bid(client, case, b2, "103000.00")
    assert r.status_code == 201, r.text
    assert (await h.bid(client, case, b1, "104000.00")).status_code == 201
    # Not qualified: a pending registrant, an unregistered company, the seller, an operator.
    outsider = await f.organization(client, verified_by=case.op)
    for who in (pending, outsider, case.seller, case.op):
        r = await h.bid(client, case, who, "110000.00")
        assert r.status_code == 403 and h.code_of(r) == "not_qualified", (who.email, r.text)
    assert (await client.post(f"{case.url}/bids", json={"amount": "110000.00"})).status_code == 401
    # Money format and unknown fields.
    assert (await h.bid(client, case, b2, "105000.001")).status_code == 422
    r = await client.post(f"{case.url}/bids", json={"amount": "105000.00", "x": 1}, headers=b2.headers)
    assert r.status_code == 422
    bids = await h.all_bids(client, case)
    assert [b["amount"] for b in bids] == ["104000.00", "103000.00", "100000.00"]
    assert [b["bidder_code"] for b in bids] == ["B01", "B02", "B01"]
    assert all("organization_id" not in b for b in bids)
    view = await h.state(client, case)
    assert view["current_price"] == "104000.00" and view["leading_bidder_code"] == "B01"
    assert view["bid_count"] == 3 and view["status"] == "open"
    assert "reserve_price" not in view
    await assert_invariants(db)


async def test_an_accepted_bid_writes_its_row_with_the_auction_s_update(
    client: httpx.AsyncClient, db
) -> None:
    """On PostgreSQL the conditional UPDATE and the bid's INSERT are one statement (a data-modifying CTE: one
    round trip fewer while the auction's row is locked); SQLite, which has no such CTE, runs them one after
    the other. Either way one bid row, numbered by the auction's version; a refused bid writes none."""
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    statements: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "INSERT INTO bids" in statement or statement.lstrip().upper().startswith("UPDATE AUCTIONS"):
            statements.append(" ".join(statement.split())[:40])

    event.listen(db.write_engine.sync_engine, "before_cursor_execute", listen)
    try:
        assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
        written = list(statements)
        assert h.code_of(await h.bid(client, case, b2, "100000.00")) == "bid_too_low"
    finally:
        event.remove(db.write_engine.sync_engine, "before_cursor_execute", listen)
    if db.write_engine.dialect.name == "postgresql":
        assert len(written) == 1 and written[0].startswith("WITH bid_state AS (UPDATE auctions"), written
    else:
        assert len(written) == 2 and written[1].startswith("INSERT INTO bids"), written
    assert [b["amount"] for b in await h.all_bids(client, case)] == ["100000.00"]
    await assert_invariants(db)


async def test_a_known_bidder_no_longer_qualified_is_refused(client: httpx.AsyncClient, db) -> None:
    """The bid path keeps what never changes about a bidder per process, so the registration's status is
    checked by the bid's own UPDATE: a registration disqualified elsewhere (another process, an operator)
    stops the next bid of a bidder this process already knows, and nothing changes."""
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    assert (await h.bid(client, case, b2, "101000.00")).status_code == 201
    async with db.transaction() as session:
        await session.execute(
            update(Registration)
            .where(Registration.id == uuid.UUID(case.registration_ids[0]))
            .values(status=RegistrationStatus.disqualified)
        )
    before = await h.state(client, case)
    r = await h.bid(client, case, b1, "102000.00")
    assert r.status_code == 403 and h.code_of(r) == "not_qualified", r.text
    after = await h.state(client, case)
    assert after == before and after["leading_bidder_code"] == "B02" and after["bid_count"] == 2
    assert (
        await h.bid(client, case, b2, "102000.00")
    ).status_code == 409  # b2 leads; still checked as before


async def test_not_open_before_start_and_after_close(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, opened=False)
    r = await h.bid(client, case, case.bidders[0], "100000.00")
    assert r.status_code == 409 and h.code_of(r) == "auction_not_open"
    assert (await h.state(client, case))["status"] == "scheduled"
    await h.start(client, db, case)
    assert (await h.bid(client, case, case.bidders[0], "100000.00")).status_code == 201
    view = await h.state(client, case)
    await t.advance_past(client, view["ends_at"])
    r = await h.bid(client, case, case.bidders[1], "101000.00")
    assert r.status_code == 409 and h.code_of(r) == "auction_not_open"
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["winner_bidder_code"] == "B01"
    await assert_invariants(db)


async def test_free_bidding_then_countdown_extensions(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 10, "countdown_seconds": 300})
    b1, b2 = case.bidders
    view = await h.state(client, case)
    starts = datetime.fromisoformat(view["starts_at"])
    free_end = datetime.fromisoformat(view["free_bidding_ends_at"])
    first_end = datetime.fromisoformat(view["ends_at"])
    assert free_end == starts + timedelta(minutes=10) and first_end == free_end + timedelta(seconds=300)
    # During free bidding a bid does not move the close.
    r = await h.bid(client, case, b1, "100000.00")
    assert datetime.fromisoformat(r.json()["ends_at"]) == first_end
    # In the countdown, a bid sets ends_at = max(ends_at, placed_at + countdown).
    await t.advance_past(client, free_end, margin=120)  # 3 minutes before the close: no move yet
    r = await h.bid(client, case, b2, "101000.00")
    placed = datetime.fromisoformat(r.json()["placed_at"])
    assert placed + timedelta(seconds=300) > first_end
    assert datetime.fromisoformat(r.json()["ends_at"]) == placed + timedelta(seconds=300)
    view = await h.state(client, case)
    assert view["extensions"] == 1
    await t.advance(client, 200)  # still open: the close moved
    r = await h.bid(client, case, b1, "102000.00")
    assert r.status_code == 201, r.text
    new_end = datetime.fromisoformat(r.json()["ends_at"])
    assert new_end == datetime.fromisoformat(r.json()["placed_at"]) + timedelta(seconds=300)
    assert (await h.state(client, case))["extensions"] == 2
    await t.advance_past(client, new_end)
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["current_price"] == "102000.00"
    await assert_invariants(db)


async def test_close_with_deal_and_deposits(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, auction={"reserve_price": "101000.00"})
    b1, b2, b3 = case.bidders
    await h.bid(client, case, b1, "100000.00")
    await h.bid(client, case, b2, "102000.00")
    view = await h.state(client, case)
    assert view["reserve_met"] is None  # never before the close
    await t.advance_past(client, view["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["reserve_met"] is True
    assert view["winner_bidder_code"] == "B02" and view["deal_id"]
    deal = (await client.get(f"/api/v1/deals/{view['deal_id']}", headers=b2.headers)).json()
    assert deal["price"] == "102000.00" and deal["source"] == "auction" and deal["buyer_org_id"] == b2.org_id
    # Losers are refunded at the close; the winner's deposit stays held until payment applies it.
    assert await t.balance(client, b1) == {"available": "10000.00", "held": "0.00"}
    assert await t.balance(client, b3) == {"available": "10000.00", "held": "0.00"}
    assert await t.balance(client, b2) == {"available": "0.00", "held": "10000.00"}
    listing = (await client.get(f"/api/v1/listings/{case.listing['id']}")).json()
    assert listing["status"] == "under_contract"
    await assert_invariants(db)


async def test_reserve_not_met_fails_and_refunds(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction={"reserve_price": "150000.00"})
    b1, b2 = case.bidders
    await h.bid(client, case, b1, "100000.00")
    await h.bid(client, case, b2, "120000.00")
    view = await h.state(client, case)
    await t.advance_past(client, view["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "failed" and view["reserve_met"] is False and view["deal_id"] is None
    assert view["winner_bidder_code"] is None
    for b in (b1, b2):
        assert await t.balance(client, b) == {"available": "10000.00", "held": "0.00"}
    listing = (await client.get(f"/api/v1/listings/{case.listing['id']}")).json()
    assert listing["status"] == "failed"
    await assert_invariants(db, all_resolved=True)


async def test_single_bidder_wins_but_reserve_applies(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction={"reserve_price": "100000.00"})
    await h.bid(client, case, case.bidders[0], "100000.00")
    view = await h.state(client, case)
    await t.advance_past(client, view["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["winner_bidder_code"] == "B01"
    assert view["current_price"] == "100000.00"

    case = await h.open_auction(client, db, auction={"reserve_price": "100001.00"})
    await h.bid(client, case, case.bidders[0], "100000.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "failed" and view["reserve_met"] is False
    await assert_invariants(db)


async def test_no_bid_fails_and_refunds_everyone(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db)
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "failed" and view["bid_count"] == 0 and view["reserve_met"] is None
    for b in case.bidders:
        assert await t.balance(client, b) == {"available": "10000.00", "held": "0.00"}
    await assert_invariants(db, all_resolved=True)


async def test_listed_trading_auction_without_bids_forfeits_deposits(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, from_listed_trading=True)
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    assert (await h.state(client, case))["status"] == "failed"
    for b in case.bidders:
        assert await t.balance(client, b) == {"available": "0.00", "held": "0.00"}
    assert (await t.balance(client, case.seller))["available"] == "30000.00"
    await assert_invariants(db, all_resolved=True)


async def test_listed_trading_auction_with_a_bid_below_nothing_refunds(client: httpx.AsyncClient, db) -> None:
    """A listed-trading auction with a bid closes normally: the winner keeps its hold, the others are refunded."""
    case = await h.open_auction(client, db, bidders=2, from_listed_trading=True)
    await h.bid(client, case, case.bidders[1], "100000.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    assert (await h.state(client, case))["winner_bidder_code"] == "B02"
    assert await t.balance(client, case.bidders[0]) == {"available": "10000.00", "held": "0.00"}
    await assert_invariants(db)


async def test_lazy_close_on_read(client: httpx.AsyncClient, db, app) -> None:
    """A GET of an open auction past its ends_at closes it first, even if no sweeper ran."""
    case = await h.open_auction(client, db)
    await h.bid(client, case, case.bidders[0], "100000.00")
    ends = datetime.fromisoformat((await h.state(client, case))["ends_at"])
    await h.move_clock_only(db, (ends - await t.now(client)).total_seconds() + 1)
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["winner_bidder_code"] == "B01" and view["deal_id"]
    await assert_invariants(db)


async def test_idempotent_bid(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db)
    b1 = case.bidders[0]
    r1 = await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "k1"})
    r2 = await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "k1"})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r2.headers.get("Idempotent-Replayed") == "true"
    r3 = await h.bid(client, case, b1, "101000.00", **{"Idempotency-Key": "k1"})
    assert r3.status_code == 422 and h.code_of(r3) == "idempotency_key_reused"
    assert (await h.state(client, case))["bid_count"] == 1
    await assert_invariants(db)


async def test_unknown_auction_is_404(client: httpx.AsyncClient, db) -> None:
    for path in ("", "/bids", "/events"):
        r = await client.get(f"/api/v1/auctions/00000000-0000-0000-0000-000000000000{path}")
        assert r.status_code == 404, (path, r.text)
