"""Proxy bidding and priority holders in English auctions, through the API (SPEC §17.1, §17.2, §17.7)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx
from sqlalchemy import func, select

from app.models.audit import AuditEvent
from app.models.listings import PriorityHolder
from app.models.notifications import Notification
from app.models.trading import AuctionEvent
from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants
from tests.sandbox import move_clock


async def put_proxy(
    client: httpx.AsyncClient, case: h.AuctionCase, who: f.Actor, amount: str
) -> httpx.Response:
    return await client.put(f"{case.url}/proxy", json={"max_amount": amount}, headers=who.headers)


async def events_of(db: Any, case: h.AuctionCase) -> list[AuctionEvent]:
    async with db.read() as session:
        rows = await session.scalars(
            select(AuctionEvent)
            .where(AuctionEvent.auction_id == uuid.UUID(case.id))
            .order_by(AuctionEvent.seq)
        )
        return list(rows)


async def inbox(db: Any, who: f.Actor, kind: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.organization_id == uuid.UUID(who.org_id or ""), Notification.kind == kind)
            .order_by(Notification.created_at)
        )
        return [n.data for n in rows]


def ordering_guarantee(bids: list[dict[str, Any]]) -> None:
    """SPEC §17.2 over a bid list (oldest first): amounts never fall, every bid changes the leader, equal
    neighbours only for a holder outranking the leader or an automatic bid."""
    for before, after in pairwise(bids):
        assert float(after["amount"]) >= float(before["amount"])
        assert after["bidder_code"] != before["bidder_code"]
        if after["amount"] == before["amount"]:
            r0, r1 = before["priority_rank"], after["priority_rank"]
            assert after["auto"] or (r1 is not None and (r0 is None or r1 < r0))


async def test_one_proxy_answers_a_manual_bid_and_its_maximum_stays_secret(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.open_auction(client, db, bidders=3)
    holder, rival, third = case.bidders
    r = await put_proxy(client, case, holder, "150000.00")
    assert r.status_code == 201, r.text
    proxy = r.json()
    # Alone before any bid, it opens at the start price.
    assert proxy["status"] == "active" and proxy["leading"] is True and proxy["current_price"] == "100000.00"
    assert proxy["max_amount"] == "150000.00" and proxy["bidder_code"] == case.codes[0]

    r = await h.bid(client, case, rival, "120000.00")
    assert r.status_code == 201, r.text
    placed = r.json()
    # Accepted, counted, and answered at once: one increment above it.
    assert placed["auto"] is False and placed["leading"] is False
    assert placed["current_price"] == "121000.00" and placed["leading_bidder_code"] == case.codes[0]
    view = await h.state(client, case)
    assert view["current_price"] == "121000.00" and view["bid_count"] == 3
    assert view["leading_bidder_code"] == case.codes[0] and view["leader_priority_rank"] is None

    bids = list(reversed(await h.all_bids(client, case)))
    assert [(b["amount"], b["bidder_code"], b["auto"]) for b in bids] == [
        ("100000.00", case.codes[0], True),
        ("120000.00", case.codes[1], False),
        ("121000.00", case.codes[0], True),
    ]
    ordering_guarantee(bids)
    # Each bid row has its own live event, in seq order, with the bid; the automatic one placed at the
    # instant of the manual bid that triggered it.
    events = [e for e in await events_of(db, case) if e.event == "bid"]
    assert [e.data["bid"]["seq"] for e in events] == [1, 2, 3]
    assert [e.data["bid"]["auto"] for e in events] == [True, False, True]
    assert bids[2]["placed_at"] == bids[1]["placed_at"]
    # Each live bid carries its own time (SPEC §19.5: the room's row shows it), the instant the API reads.
    assert [datetime.fromisoformat(e.data["bid"]["placed_at"]) for e in events] == [
        datetime.fromisoformat(b["placed_at"]) for b in bids
    ]

    # A bid at the maximum: the proxy was set earlier, so it matches and keeps the lead at that amount.
    r = await h.bid(client, case, third, "150000.00")
    assert r.status_code == 201 and r.json()["leading"] is False
    assert r.json()["current_price"] == "150000.00" and r.json()["leading_bidder_code"] == case.codes[0]
    proxy = (await client.get(f"{case.url}/proxy", headers=holder.headers)).json()
    assert proxy["status"] == "active" and proxy["leading"] is True
    # Above it: the proxy is spent.
    r = await h.bid(client, case, rival, "151000.00")
    assert r.status_code == 201 and r.json()["leading"] is True
    proxy = (await client.get(f"{case.url}/proxy", headers=holder.headers)).json()
    assert proxy["status"] == "exhausted" and proxy["leading"] is False

    # Nobody else reads the proxy, operators included; the maximum's first occurrence anywhere public was a
    # bid of that amount (step 1 or a match), never the maximum as such.
    for who in (rival, case.seller, case.op):
        assert (await client.get(f"{case.url}/proxy", headers=who.headers)).status_code == 404
    audit = (await client.get("/api/v1/audit-events", params={"limit": 100}, headers=case.op.headers)).json()
    assert not [e for e in audit["items"] if e["entity_type"] == "proxy_bid"]
    assert all("max_amount" not in json.dumps(e) for e in audit["items"])
    for e in await events_of(db, case):
        assert "max_amount" not in json.dumps(e.data)
    # The outbid organizations were told, each with its own code; the leader was not.
    told = await inbox(db, rival, "outbid")
    assert told and all(n["bidder_code"] == case.codes[1] for n in told)
    assert told[0]["current_price"] == "121000.00" and told[0]["leading_bidder_code"] == case.codes[0]
    assert all("150000" not in json.dumps(n) for n in told[:1])
    await assert_invariants(db)


async def test_two_proxies_and_equal_maxima(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3)
    a, b, c = case.bidders
    assert (await put_proxy(client, case, a, "130000.00")).status_code == 201
    assert (await put_proxy(client, case, b, "125000.00")).status_code == 201
    # The price stops one increment above the second maximum.
    view = await h.state(client, case)
    assert view["current_price"] == "126000.00" and view["leading_bidder_code"] == case.codes[0]
    # An equal maximum set later loses to the earlier one, at that amount.
    r = await put_proxy(client, case, c, "130000.00")
    assert r.status_code == 201 and r.json()["leading"] is False
    view = await h.state(client, case)
    assert view["current_price"] == "130000.00" and view["leading_bidder_code"] == case.codes[0]
    bids = list(reversed(await h.all_bids(client, case)))
    ordering_guarantee(bids)
    assert all(b["auto"] for b in bids)
    # Raising: a new set_at; lowering refused; the same maximum changes nothing.
    before = (await client.get(f"{case.url}/proxy", headers=b.headers)).json()
    assert before["status"] == "exhausted"
    assert h.code_of(await put_proxy(client, case, b, "124000.00")) == "proxy_cannot_lower"
    same = await put_proxy(client, case, b, "125000.00")
    assert same.status_code == 200 and same.json()["set_at"] == before["set_at"]
    raised = await put_proxy(client, case, b, "140000.00")
    assert raised.status_code == 200 and raised.json()["set_at"] > before["set_at"]
    assert raised.json()["leading"] is True and raised.json()["current_price"] == "131000.00"
    await assert_invariants(db)


async def test_a_proxy_set_before_the_opening_places_the_opening_bid(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=2, opened=False)
    holder, other = case.bidders
    r = await put_proxy(client, case, holder, "110000.00")
    assert r.status_code == 201, r.text
    assert r.json()["current_price"] is None and r.json()["leading"] is False
    await h.start(client, db, case)
    view = await h.state(client, case)
    assert view["current_price"] == "100000.00" and view["leading_bidder_code"] == case.codes[0]
    bids = await h.all_bids(client, case)
    assert len(bids) == 1 and bids[0]["auto"] is True
    assert datetime.fromisoformat(bids[0]["placed_at"]) == datetime.fromisoformat(view["starts_at"])
    assert (await h.bid(client, case, other, "101000.00")).json()["leading"] is False
    await assert_invariants(db)


async def test_who_may_set_a_proxy_and_what_it_may_be(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=1, extra_unqualified=1)
    holder, pending = case.bidders
    outsider = await f.organization(client, verified_by=case.op)
    for who in (pending, outsider, case.seller, case.op):
        assert h.code_of(await put_proxy(client, case, who, "120000.00")) == "not_qualified"
    assert h.code_of(await put_proxy(client, case, holder, "120500.00")) == "bid_not_increment_multiple"
    assert h.code_of(await put_proxy(client, case, holder, "99000.00")) == "bid_too_low"
    assert (await client.delete(f"{case.url}/proxy", headers=holder.headers)).status_code == 405
    assert (await put_proxy(client, case, holder, "120000.00")).status_code == 201
    # Idempotent by nature: the same PUT again is 200 with nothing changed.
    again = await put_proxy(client, case, holder, "120000.00")
    assert again.status_code == 200 and again.json()["current_price"] == "100000.00"
    bad = await client.put(f"{case.url}/proxy", json={"max_amount": "1e400"}, headers=holder.headers)
    assert bad.status_code == 422

    sealed = await h.open_auction(
        client, db, bidders=1, auction={"format": "sealed", "free_bidding_minutes": 60}
    )
    assert (
        h.code_of(await put_proxy(client, sealed, sealed.bidders[0], "120000.00")) == "format_not_supported"
    )


async def test_the_close_ends_every_proxy_and_opens_its_chain_to_operators(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.open_auction(client, db, bidders=2)
    a, b = case.bidders
    assert (await put_proxy(client, case, a, "130000.00")).status_code == 201
    assert (await h.bid(client, case, b, "110000.00")).status_code == 201
    assert (await move_clock(client, 400)).status_code == 200
    view = await h.state(client, case)
    assert view["status"] == "closed" and view["winner_bidder_code"] == case.codes[0]
    assert view["current_price"] == "111000.00"
    assert h.code_of(await put_proxy(client, case, a, "140000.00")) == "auction_not_open"
    proxy = (await client.get(f"{case.url}/proxy", headers=a.headers)).json()
    assert proxy["status"] == "ended"
    audit = (
        await client.get(
            "/api/v1/audit-events", params={"entity_type": "proxy_bid", "limit": 50}, headers=case.op.headers
        )
    ).json()["items"]
    assert [e["action"] for e in audit] == ["proxy_set", "ended"]
    assert audit[1]["data"]["max_amount"] == "130000.00"
    # The holder reads its own chain; the other bidder does not.
    own = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "proxy_bid", "entity_id": audit[0]["entity_id"]},
        headers=a.headers,
    )
    assert own.status_code == 200 and len(own.json()["items"]) == 2
    other = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "proxy_bid", "entity_id": audit[0]["entity_id"]},
        headers=b.headers,
    )
    assert other.status_code == 404
    await assert_invariants(db)


async def designate(client: httpx.AsyncClient, db: Any, case: h.AuctionCase, index: int, rank: int) -> None:
    now = await t.now(client)
    async with db.transaction() as session:
        session.add(
            PriorityHolder(
                listing_id=uuid.UUID(case.listing["id"]),
                registration_id=uuid.UUID(case.registration_ids[index]),
                rank=rank,
                basis="co_owner",
                created_at=now,
            )
        )


async def test_a_priority_holder_may_match_the_leader(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, opened=False)
    holder, other, second_holder = case.bidders
    await designate(client, db, case, 0, rank=2)
    await designate(client, db, case, 2, rank=1)
    await h.start(client, db, case)
    assert (await h.bid(client, case, other, "110000.00")).status_code == 201
    # A non-holder's equal bid is too low; a holder's takes the lead at that amount.
    assert h.code_of(await h.bid(client, case, other, "110000.00")) in ("already_leading", "bid_too_low")
    r = await h.bid(client, case, holder, "110000.00")
    assert r.status_code == 201 and r.json()["leading"] is True, r.text
    view = await h.state(client, case)
    assert view["leader_priority_rank"] == 2 and view["current_price"] == "110000.00"
    # A better rank matches in turn; a worse one may not match it back.
    assert (await h.bid(client, case, second_holder, "110000.00")).status_code == 201
    assert h.code_of(await h.bid(client, case, holder, "110000.00")) == "bid_too_low"
    assert h.code_of(await h.bid(client, case, other, "110000.00")) == "bid_too_low"
    bids = list(reversed(await h.all_bids(client, case)))
    assert [b["priority_rank"] for b in bids] == [None, 2, 1]
    ordering_guarantee(bids)
    # A holder's proxy matches a lower-priority amount instead of exceeding it.
    assert (await h.bid(client, case, other, "115000.00")).status_code == 201
    r = await put_proxy(client, case, holder, "130000.00")
    assert r.status_code == 200 or r.status_code == 201
    view = await h.state(client, case)
    assert view["current_price"] == "115000.00" and view["leading_bidder_code"] == case.codes[0]
    ordering_guarantee(list(reversed(await h.all_bids(client, case))))
    await assert_invariants(db)


async def test_a_refused_bid_leaves_no_bid_notification_or_event(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=2)
    a, b = case.bidders
    assert (await put_proxy(client, case, a, "120000.00")).status_code == 201
    async with db.read() as session:
        before = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Notification, AuctionEvent, AuditEvent)
        ]
    assert h.code_of(await h.bid(client, case, b, "101500.00")) == "bid_not_increment_multiple"
    assert h.code_of(await h.bid(client, case, a, "130000.00")) == "already_leading"
    async with db.read() as session:
        after = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Notification, AuctionEvent, AuditEvent)
        ]
    assert after == before


async def test_a_replayed_bid_places_no_automatic_bid_again(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=2)
    a, b = case.bidders
    assert (await put_proxy(client, case, a, "130000.00")).status_code == 201
    first = await h.bid(client, case, b, "110000.00", **{"Idempotency-Key": "replay-1"})
    assert first.status_code == 201 and first.json()["current_price"] == "111000.00"
    again = await h.bid(client, case, b, "110000.00", **{"Idempotency-Key": "replay-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert len(await h.all_bids(client, case)) == 3
    assert len(await inbox(db, b, "outbid")) == 1
