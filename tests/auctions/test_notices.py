"""What auctions tell organizations (SPEC §17.4): auction_opening, auction_ending_soon (once), auction_closed
and outbid, to exactly the organizations the table names, with exactly its data."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.models.notifications import Notification
from tests import factories as f
from tests.auctions import helpers as h
from tests.sandbox import move_clock


async def notices(db: Any, kind: str) -> dict[str, list[dict[str, Any]]]:
    """Organization id → the data of its notifications of ``kind``, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.created_at)
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for n in rows:
            out.setdefault(str(n.organization_id), []).append(n.data)
        return out


async def test_opening_ending_soon_and_close_reach_registrants_watchers_and_the_seller(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.open_auction(client, db, bidders=2, extra_unqualified=1, opened=False)
    a, b, pending = case.bidders
    watcher = await f.organization(client, verified_by=case.op)
    r = await client.post(f"/api/v1/watchlist/{case.listing['id']}", headers=watcher.headers)
    assert r.status_code == 201, r.text
    bystander = await f.organization(client, verified_by=case.op)
    await h.start(client, db, case)
    view = await h.state(client, case)

    opening = await notices(db, "auction_opening")
    assert set(opening) == {a.org_id, b.org_id, watcher.org_id}
    [told] = opening[watcher.org_id]
    assert set(told) == {"auction_id", "listing_id", "format", "starts_at", "ends_at"}
    assert (told["auction_id"], told["listing_id"], told["format"]) == (
        case.id,
        case.listing["id"],
        "english",
    )
    for key in ("starts_at", "ends_at"):
        assert datetime.fromisoformat(told[key]) == datetime.fromisoformat(view[key])
    # The countdown is 300 s: less than ten minutes are left, so "ending soon" goes out at the opening, once.
    soon = await notices(db, "auction_ending_soon")
    assert set(soon) == {a.org_id, b.org_id, watcher.org_id}
    assert all(len(v) == 1 for v in soon.values())

    assert (await h.bid(client, case, a, "100000.00")).status_code == 201
    assert (await h.bid(client, case, b, "101000.00")).status_code == 201
    outbid = await notices(db, "outbid")
    assert set(outbid) == {a.org_id}
    assert outbid[a.org_id] == [
        {
            "auction_id": case.id,
            "listing_id": case.listing["id"],
            "bidder_code": case.codes[0],
            "current_price": "101000.00",
            "leading_bidder_code": case.codes[1],
        }
    ]
    assert (await move_clock(client, 400)).status_code == 200
    closed = await notices(db, "auction_closed")
    assert set(closed) == {a.org_id, b.org_id, pending.org_id, watcher.org_id, case.seller.org_id}
    assert closed[case.seller.org_id] == [
        {
            "auction_id": case.id,
            "listing_id": case.listing["id"],
            "status": "closed",
            "winner_bidder_code": case.codes[1],
            "price": "101000.00",
        }
    ]
    # The deal the close made (a university seller: public notice first, no signing yet) or, for other sellers,
    # its signing: both parties are told when it awaits signatures.
    deal = (
        await client.get(f"/api/v1/deals/{view_deal(await h.state(client, case))}", headers=b.headers)
    ).json()
    signing = await notices(db, "deal_signing_due")
    if deal["status"] == "awaiting_signatures":
        assert set(signing) == {b.org_id, case.seller.org_id}
        assert signing[b.org_id] == [{"deal_id": deal["id"], "sign_by": deal["sign_by"]}]
    else:
        assert signing == {}
    assert bystander.org_id not in set(opening) | set(soon) | set(closed)
    assert len(await notices(db, "auction_ending_soon")) == 3


def view_deal(view: dict[str, Any]) -> str:
    deal_id: str = view["deal_id"]
    return deal_id


async def test_a_deal_made_by_the_close_awaits_signatures_and_both_parties_are_told(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.open_auction(client, db, bidders=2, seller_kind="enterprise")
    a = case.bidders[0]
    assert (await h.bid(client, case, a, "100000.00")).status_code == 201
    assert (await move_clock(client, 400)).status_code == 200
    view = await h.state(client, case)
    deal = (await client.get(f"/api/v1/deals/{view_deal(view)}", headers=a.headers)).json()
    assert deal["status"] == "awaiting_signatures"
    signing = await notices(db, "deal_signing_due")
    assert set(signing) == {a.org_id, case.seller.org_id}
    assert signing[case.seller.org_id] == [{"deal_id": deal["id"], "sign_by": deal["sign_by"]}]


async def test_ending_soon_comes_once_from_the_sweeper(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=2, auction={"countdown_seconds": 1800})
    a, b = case.bidders
    assert await notices(db, "auction_ending_soon") == {}
    # Twenty minutes before the end: not yet; within ten: once, however often the clock moves or bids extend it.
    assert (await move_clock(client, 600)).status_code == 200
    assert await notices(db, "auction_ending_soon") == {}
    assert (await move_clock(client, 700)).status_code == 200
    soon = await notices(db, "auction_ending_soon")
    assert set(soon) == {a.org_id, b.org_id} and all(len(v) == 1 for v in soon.values())
    assert (await h.bid(client, case, a, "100000.00")).status_code == 201
    assert (await move_clock(client, 2000)).status_code == 200
    assert all(len(v) == 1 for v in (await notices(db, "auction_ending_soon")).values())
    [closed] = (await notices(db, "auction_closed"))[case.seller.org_id]
    assert closed["status"] == "closed" and closed["winner_bidder_code"] == case.codes[0]


async def test_a_failed_auction_is_announced_without_winner_or_price(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=1)
    assert (await move_clock(client, 400)).status_code == 200
    closed = await notices(db, "auction_closed")
    assert closed[case.seller.org_id][0]["status"] == "failed"
    assert closed[case.seller.org_id][0]["winner_bidder_code"] is None
    assert closed[case.seller.org_id][0]["price"] is None
    assert uuid.UUID(closed[case.bidders[0].org_id][0]["auction_id"]) == uuid.UUID(case.id)


async def test_the_close_tells_watchers_the_listings_new_status_and_starts_the_relist_window(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.open_auction(client, db, bidders=1)
    watcher = await f.organization(client, verified_by=case.op)
    assert (
        await client.post(f"/api/v1/watchlist/{case.listing['id']}", headers=watcher.headers)
    ).status_code == 201
    assert (await move_clock(client, 400)).status_code == 200
    view = await h.state(client, case)
    assert view["status"] == "failed"
    updated = (await notices(db, "listing_updated"))[watcher.org_id]
    assert updated[-1] == {"listing_id": case.listing["id"], "status": "failed"}
    listing = (await client.get(f"/api/v1/listings/{case.listing['id']}", headers=case.seller.headers)).json()
    assert listing["status"] == "failed"
    ended = datetime.fromisoformat(view["ends_at"])
    assert datetime.fromisoformat(listing["relist_by"]) == ended + timedelta(days=30)
