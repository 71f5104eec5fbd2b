"""The end of a listed or auction listing's period (SPEC §9, §5), driven by the sandbox clock: extension,
expiry, a deal at the listed price, an English auction among the registrants, the scheduled auction opening."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from app.deals.fees import load_schedule
from app.kit.money import parse_yuan
from app.kit.workdays import WorkdayCalendar
from app.models.listings import AuctionFormat
from app.models.trading import AuctionStatus
from app.registrations.deadlines import Resolution, listed_resolution
from tests.invariants import assert_invariants
from tests.registrations import helpers as h
from tests.trading import advance_past, balance
from tests.world import org, orgs


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


pytestmark = pytest.mark.world(uni=org("university"), buyers=orgs(3, funds="10000.00"))


@pytest.mark.parametrize(
    ("qualified", "threshold", "expected"),
    [
        (0, 2, Resolution.no_buyer),
        (1, 2, Resolution.deal),
        (2, 2, Resolution.auction),
        (5, 2, Resolution.auction),
        (1, 3, Resolution.deal),
        (2, 3, Resolution.deal),
        (3, 3, Resolution.auction),
    ],
)
def test_listed_resolution_rule(qualified: int, threshold: int, expected: Resolution) -> None:
    assert listed_resolution(qualified, threshold) is expected


async def test_no_buyer_extends_then_expires(client: httpx.AsyncClient, db, world) -> None:
    """0 qualified → extended by extension_days working days while extensions remain, then expired. A
    registration still pending review at the end was not qualified in time: disqualified and refunded."""
    op, uni, (buyer, *_) = world
    listing = await h.listed(client, op, uni, requires_qualification_review=True, extension_days=5)
    reg = await h.registered(client, buyer, listing["id"])
    assert reg["status"] == "pending_review"

    await advance_past(client, listing["listing_ends_at"])
    extended = await h.listing(client, listing["id"])
    assert (extended["status"], extended["extensions_used"]) == ("published", 1)
    assert _at(extended["listing_ends_at"]) == WorkdayCalendar().add_working_days(
        _at(listing["listing_ends_at"]), 5
    )
    late = await h.registration(client, buyer, reg["id"])
    assert (late["status"], late["deposit_status"]) == ("disqualified", "refunded")
    assert await balance(client, buyer) == {"available": "10000.00", "held": "0.00"}
    r = await h.act(client, op, reg["id"], "qualify")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")

    await advance_past(client, extended["listing_ends_at"])
    expired = await h.listing(client, listing["id"])
    assert (expired["status"], expired["extensions_used"]) == ("expired", 1)
    assert await h.deals_of_listing(db, listing["id"]) == []
    await assert_invariants(db, all_resolved=True)


async def test_no_buyer_and_no_extension_left_expires(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _ = world
    listing = await h.listed(client, op, uni, max_extensions=0)
    await advance_past(client, listing["listing_ends_at"])
    assert (await h.listing(client, listing["id"]))["status"] == "expired"
    await assert_invariants(db, all_resolved=True)


async def test_one_registrant_gets_a_deal_at_the_listed_price(client: httpx.AsyncClient, db, world) -> None:
    op, uni, (buyer, *_) = world
    listing = await h.listed(client, op, uni)
    reg = await h.registered(client, buyer, listing["id"])
    await advance_past(client, listing["listing_ends_at"])

    assert (await h.listing(client, listing["id"]))["status"] == "under_contract"
    deals = (await client.get("/api/v1/deals", headers=buyer.headers)).json()["items"]
    assert len(deals) == 1
    deal = deals[0]
    price, deposit = parse_yuan(h.PRICE), parse_yuan(h.DEPOSIT)
    buyer_fee, _ = load_schedule().fees(price)
    assert (deal["listing_id"], deal["buyer_org_id"], deal["source"]) == (
        listing["id"],
        buyer.org_id,
        "listing",
    )
    assert deal["price"] == h.PRICE and parse_yuan(deal["buyer_fee"]) == buyer_fee
    assert parse_yuan(deal["amount_due"]) == price - deposit + buyer_fee
    assert deal["deposit_applied"] == h.DEPOSIT
    assert _at(deal["created_at"]) == _at(listing["listing_ends_at"])  # as of the period's end
    # The winner's deposit stays held for the deal (applied at payment).
    assert (await h.registration(client, buyer, reg["id"]))["deposit_status"] == "held"
    await assert_invariants(db)


async def test_nonexclusive_licence_deal_closes_the_listing(client: httpx.AsyncClient, db, world) -> None:
    op, uni, (buyer, *_) = world
    listing = await h.listed(client, op, uni, transaction_kind="nonexclusive_license", license=h.LICENSE)
    await h.registered(client, buyer, listing["id"])
    await advance_past(client, listing["listing_ends_at"])
    assert (await h.listing(client, listing["id"]))["status"] == "under_contract"
    assert len(await h.deals_of_listing(db, listing["id"])) == 1
    await assert_invariants(db)


async def test_two_registrants_bid_in_an_english_auction(client: httpx.AsyncClient, db, world) -> None:
    op, uni, (first, second, third) = world
    listing = await h.listed(client, op, uni)
    regs = [await h.registered(client, b, listing["id"]) for b in (first, second)]
    withdrawn = await h.registered(client, third, listing["id"])
    assert (await h.act(client, third, withdrawn["id"], "withdraw")).status_code == 200
    await advance_past(client, listing["listing_ends_at"])

    after = await h.listing(client, listing["id"])
    assert after["status"] == "in_auction" and after["auction_id"]
    auction = await h.auction_row(db, after["auction_id"])
    ends = _at(listing["listing_ends_at"])
    assert (auction.format, auction.status, auction.from_listed_trading) == (
        AuctionFormat.english,
        AuctionStatus.open,
        True,
    )
    assert auction.start_price == parse_yuan(h.PRICE)
    assert auction.increment == parse_yuan("1000.00")  # 1% of the price, in whole yuan
    assert auction.starts_at == ends and auction.free_bidding_ends_at == ends
    assert auction.ends_at == ends + timedelta(seconds=300)
    assert auction.reserve_price is None
    # Deposits carry over into the auction.
    for reg, buyer in zip(regs, (first, second), strict=True):
        assert (await h.registration(client, buyer, reg["id"]))["deposit_status"] == "held"
    assert await h.deals_of_listing(db, listing["id"]) == []
    await assert_invariants(db)


async def test_fewer_than_the_threshold_deal_with_the_earliest(client: httpx.AsyncClient, db, world) -> None:
    op, uni, (first, second, _) = world
    listing = await h.listed(client, op, uni, min_bidders_for_auction=3)
    earliest = await h.registered(client, first, listing["id"])
    later = await h.registered(client, second, listing["id"])
    await advance_past(client, listing["listing_ends_at"])

    assert (await h.listing(client, listing["id"]))["status"] == "under_contract"
    deals = await h.deals_of_listing(db, listing["id"])
    assert [str(d.buyer_org_id) for d in deals] == [first.org_id]
    assert deals[0].registration_id is not None and str(deals[0].registration_id) == earliest["id"]
    assert (await h.registration(client, first, earliest["id"]))["deposit_status"] == "held"
    loser = await h.registration(client, second, later["id"])
    assert (loser["status"], loser["deposit_status"]) == ("qualified", "refunded")
    assert await balance(client, second) == {"available": "10000.00", "held": "0.00"}
    await assert_invariants(db)


async def test_auction_mode_opens_its_scheduled_auction(client: httpx.AsyncClient, db, world) -> None:
    op, uni, (buyer, reviewed, _) = world
    listing = await h.auction_listing(client, op, uni, requires_qualification_review=True)
    reg = await h.registered(client, buyer, listing["id"])
    late = await h.registered(client, reviewed, listing["id"])
    assert (await h.act(client, op, reg["id"], "qualify")).status_code == 200
    scheduled = await h.auction_row(db, listing["auction_id"])
    assert scheduled.status == AuctionStatus.scheduled

    await advance_past(client, listing["listing_ends_at"])
    after = await h.listing(client, listing["id"])
    assert (after["status"], after["auction_id"]) == ("in_auction", listing["auction_id"])
    auction = await h.auction_row(db, listing["auction_id"])
    ends = _at(listing["listing_ends_at"])
    assert auction.status == AuctionStatus.open and auction.starts_at == ends
    assert auction.free_bidding_ends_at == ends + timedelta(minutes=1440)
    assert (await h.registration(client, buyer, reg["id"]))["deposit_status"] == "held"
    not_in_time = await h.registration(client, reviewed, late["id"])
    assert (not_in_time["status"], not_in_time["deposit_status"]) == ("disqualified", "refunded")
    await assert_invariants(db)


async def test_auction_mode_without_registrants_extends_then_expires(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, _ = world
    listing = await h.auction_listing(client, op, uni)
    await advance_past(client, listing["listing_ends_at"])

    extended = await h.listing(client, listing["id"])
    assert (extended["status"], extended["extensions_used"]) == ("published", 1)
    auction = await h.auction_row(db, listing["auction_id"])
    assert auction.status == AuctionStatus.scheduled
    assert auction.starts_at == _at(extended["listing_ends_at"]) > _at(listing["listing_ends_at"])

    await advance_past(client, extended["listing_ends_at"])
    assert (await h.listing(client, listing["id"]))["status"] == "expired"
    assert (await h.auction_row(db, listing["auction_id"])).status == AuctionStatus.cancelled
    await assert_invariants(db, all_resolved=True)


async def test_a_suspended_listing_is_not_resolved(client: httpx.AsyncClient, db, world) -> None:
    """A suspended listing's period is paused: its end is not processed, and the registrant may still
    withdraw (registering is refused meanwhile)."""
    op, uni, (buyer, *_) = world
    listing = await h.listed(client, op, uni)
    reg = await h.registered(client, buyer, listing["id"])
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/suspend", json={"reason": "核查"}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    await advance_past(client, listing["listing_ends_at"])
    assert (await h.listing(client, listing["id"]))["status"] == "suspended"
    assert await h.deals_of_listing(db, listing["id"]) == []
    r = await h.act(client, buyer, reg["id"], "withdraw")
    assert r.status_code == 200 and r.json()["deposit_status"] == "refunded"
    await assert_invariants(db, all_resolved=True)


async def test_listed_trading_auction_end_to_end(client: httpx.AsyncClient, db, world) -> None:
    """Registration → listing end → English auction among the registrants → the highest bid's deal; the
    loser's deposit refunded when the outcome is known, the winner's kept for the deal."""
    op, uni, (first, second, _) = world
    listing = await h.listed(client, op, uni)
    regs = {b.org_id: await h.registered(client, b, listing["id"]) for b in (first, second)}
    await advance_past(client, listing["listing_ends_at"])
    auction_id = (await h.listing(client, listing["id"]))["auction_id"]

    r = await client.post(
        f"/api/v1/auctions/{auction_id}/bids", json={"amount": h.PRICE}, headers=second.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["bidder_code"] == "B02"
    r = await client.post(
        f"/api/v1/auctions/{auction_id}/bids", json={"amount": h.PRICE}, headers=uni.headers
    )
    assert r.status_code in (403, 404)
    ends_at = (await client.get(f"/api/v1/auctions/{auction_id}")).json()["ends_at"]
    await advance_past(client, ends_at)

    auction = (await client.get(f"/api/v1/auctions/{auction_id}")).json()
    assert auction["status"] == "closed" and auction["winner_bidder_code"] == "B02"
    assert (await h.listing(client, listing["id"]))["status"] == "under_contract"
    deals = await h.deals_of_listing(db, listing["id"])
    assert [str(d.buyer_org_id) for d in deals] == [second.org_id]
    winner = await h.registration(client, second, regs[second.org_id]["id"])
    loser = await h.registration(client, first, regs[first.org_id]["id"])
    assert (winner["deposit_status"], loser["deposit_status"]) == ("held", "refunded")
    await assert_invariants(db)
