"""Sealed auctions (SPEC §10 一次报价): one bid per bidder, amounts invisible to everyone (operators included)
until the close, first and second price, ties, the reserve."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants

SEALED = {"format": "sealed", "free_bidding_minutes": 60}


async def _everything_visible(
    client: httpx.AsyncClient, case: h.AuctionCase, viewers: list[f.Actor | None]
) -> str:
    """Every response a viewer can get about the auction, concatenated (its state, its bids, its events, and
    for operators the audit trail)."""
    texts = []
    for who in viewers:
        headers = who.headers if who else None
        texts.append((await client.get(case.url, headers=headers)).text)
        texts.append((await client.get(f"{case.url}/bids", headers=headers)).text)
        if who is not None and who.org_id is None:  # an operator
            r = await client.get(
                "/api/v1/audit-events",
                params={"entity_type": "auction", "entity_id": case.id},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            texts.append(r.text)
    return "\n".join(texts)


async def test_sealed_first_price_invisible_until_close(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, auction=SEALED)
    b1, b2, b3 = case.bidders
    assert h.code_of(await h.bid(client, case, b1, "99999.00")) == "bid_too_low"
    r = await h.bid(client, case, b1, "123400.00")
    assert r.status_code == 201, r.text
    original_end = (await h.state(client, case))["ends_at"]
    assert r.json()["ends_at"] == original_end
    assert h.code_of(await h.bid(client, case, b1, "130000.00")) == "already_bid"
    assert (await h.bid(client, case, b2, "156700.00")).status_code == 201
    assert (await h.bid(client, case, b3, "100000.50")).status_code == 201  # no increment rule in sealed
    # Nobody reads amounts before the close: not the public, the seller, other bidders or operators.
    seen = await _everything_visible(client, case, [None, case.seller, case.op, b2, b3])
    assert "123400.00" not in seen and "12340000" not in seen
    view = await h.state(client, case, case.op)
    assert view["current_price"] is None and view["leading_bidder_code"] is None and view["bid_count"] == 3
    # A bidder sees its own bid only.
    mine = await h.all_bids(client, case, b1)
    assert [(b["bidder_code"], b["amount"]) for b in mine] == [("B01", "123400.00")]
    assert await h.all_bids(client, case) == [] and await h.all_bids(client, case, case.op) == []
    # The close reveals everything; first price: the winner pays its bid. No extension in sealed.
    assert (await h.state(client, case))["ends_at"] == original_end
    await t.advance_past(client, original_end)
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["winner_bidder_code"] == "B02"
    assert view["current_price"] == "156700.00" and view["reserve_met"] is True
    assert [b["amount"] for b in await h.all_bids(client, case)] == ["100000.50", "156700.00", "123400.00"]
    deal = (await client.get(f"/api/v1/deals/{view['deal_id']}", headers=b2.headers)).json()
    assert deal["price"] == "156700.00"
    r = await h.bid(client, case, b3, "200000.00")
    assert r.status_code == 409 and h.code_of(r) == "auction_not_open"
    await assert_invariants(db)


async def test_sealed_second_price(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, auction={**SEALED, "sealed_pricing": "second_price"})
    b1, b2, b3 = case.bidders
    await h.bid(client, case, b1, "150000.00")
    await h.bid(client, case, b2, "120000.00")
    await h.bid(client, case, b3, "110000.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    view = await h.state(client, case)
    assert view["winner_bidder_code"] == "B01" and view["current_price"] == "120000.00"
    deal = (await client.get(f"/api/v1/deals/{view['deal_id']}", headers=b1.headers)).json()
    assert deal["price"] == "120000.00"
    await assert_invariants(db)


async def test_sealed_second_price_single_bid_pays_start_price(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction={**SEALED, "sealed_pricing": "second_price"})
    await h.bid(client, case, case.bidders[1], "180000.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    view = await h.state(client, case)
    assert view["winner_bidder_code"] == "B02" and view["current_price"] == "100000.00"
    await assert_invariants(db)


async def test_sealed_tie_goes_to_the_earliest(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, auction=SEALED)
    b1, b2, b3 = case.bidders
    await h.bid(client, case, b2, "130000.00")
    await t.advance(client, 1)
    await h.bid(client, case, b1, "130000.00")
    await h.bid(client, case, b3, "120000.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    view = await h.state(client, case)
    assert view["winner_bidder_code"] == "B02" and view["current_price"] == "130000.00"
    await assert_invariants(db)


async def test_sealed_reserve_not_met_and_no_bid(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction={**SEALED, "reserve_price": "200000.00"})
    await h.bid(client, case, case.bidders[0], "150000.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "failed" and view["reserve_met"] is False and view["winner_bidder_code"] is None
    assert "200000.00" not in (await client.get(case.url)).text

    empty = await h.open_auction(client, db, auction=SEALED)
    await t.advance_past(client, (await h.state(client, empty))["ends_at"])
    assert (await h.state(client, empty))["status"] == "failed"
    await assert_invariants(db, all_resolved=True)


async def test_sealed_window(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction=SEALED, opened=False)
    r = await h.bid(client, case, case.bidders[0], "120000.00")
    assert r.status_code == 409 and h.code_of(r) == "auction_not_open"
    await h.start(client, db, case)
    view = await h.state(client, case)
    assert datetime.fromisoformat(view["ends_at"]) > datetime.fromisoformat(view["starts_at"])
    assert view["free_bidding_ends_at"] is None
    await h.move_clock_only(db, 3601)
    r = await h.bid(client, case, case.bidders[0], "120000.00")
    assert r.status_code == 409 and h.code_of(r) == "auction_not_open"
    await assert_invariants(db)
