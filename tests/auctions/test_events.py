"""Live events (SPEC §10): SSE ``bid`` | ``extended`` | ``closed`` | ``failed`` numbered per auction from 1,
replay after ``Last-Event-ID``, live delivery of a new bid, the end of the stream at the close, and sealed
streams without amounts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests import trading as t
from tests.auctions import helpers as h
from tests.conftest import BACKENDS
from tests.invariants import assert_invariants


async def _closed_english(client: httpx.AsyncClient, db) -> h.AuctionCase:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 10})
    b1, b2 = case.bidders
    await h.bid(client, case, b1, "100000.00")  # free bidding: no extension
    await h.bid(client, case, b2, "101000.00")
    await t.advance_past(client, (await h.state(client, case))["free_bidding_ends_at"], margin=200)
    await h.bid(client, case, b1, "103000.00")  # in the countdown: moves the close
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    return case


async def test_replay_from_zero_and_from_n(client: httpx.AsyncClient, db) -> None:
    case = await _closed_english(client, db)
    r = await client.get(f"{case.url}/events", headers={"Last-Event-ID": "0"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = await h.read_events(r)
    assert [(e["id"], e["event"]) for e in events] == [
        ("1", "bid"),
        ("2", "bid"),
        ("3", "bid"),
        ("4", "extended"),
        ("5", "closed"),
    ]
    assert (
        events[0]["data"]["current_price"] == "100000.00"
        and events[0]["data"]["leading_bidder_code"] == "B01"
    )
    assert events[3]["data"]["extensions"] == 1
    assert events[4]["data"]["status"] == "closed" and events[4]["data"]["winner_bidder_code"] == "B01"
    assert all("reserve_price" not in e["data"] for e in events)
    # Without the header: everything as well.
    assert len(await h.read_events(await client.get(f"{case.url}/events"))) == 5
    r = await client.get(f"{case.url}/events", headers={"Last-Event-ID": "3"})
    assert [e["id"] for e in await h.read_events(r)] == ["4", "5"]
    r = await client.get(f"{case.url}/events", headers={"Last-Event-ID": "5"})
    assert await h.read_events(r) == []
    r = await client.get(f"{case.url}/events", headers={"Last-Event-ID": "x"})
    assert r.status_code == 400
    await assert_invariants(db)


BAD_EVENT_IDS = [
    "99999999999999999999999",
    "9223372036854775808",  # 2**63
    "-1",
    "abc",
    "1.5",
    "1e3",
    "+1",
    "0x10",
    "١٢",  # Arabic-Indic digits: int() reads them, the header means ASCII
    "",
    "   ",
    "\t",
]


async def test_malformed_last_event_id_is_400_before_the_stream(client: httpx.AsyncClient, db) -> None:
    """SPEC §20, §19.3: a Last-Event-ID (header or ``?last_event_id=``) that is not an integer in 0 … 2^63−1
    → 400 ``invalid_last_event_id`` as problem+json, before the stream starts; the header wins over the query
    parameter, and a malformed value of either is refused."""
    case = await _closed_english(client, db)
    url = f"{case.url}/events"
    for value in BAD_EVENT_IDS:
        for request in (
            {"headers": {"Last-Event-ID": value.encode()}},
            {"params": {"last_event_id": value}},
            {"headers": {"Last-Event-ID": "3"}, "params": {"last_event_id": value}},
            {"headers": {"Last-Event-ID": value.encode()}, "params": {"last_event_id": "3"}},
        ):
            r = await client.get(url, **request)  # type: ignore[arg-type]
            assert r.status_code == 400, (request, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), r.headers
            assert r.json()["code"] == "invalid_last_event_id", r.text
    ids = [
        ({"headers": {"Last-Event-ID": "0"}}, ["1", "2", "3", "4", "5"]),
        ({"params": {"last_event_id": "0"}}, ["1", "2", "3", "4", "5"]),
        ({"params": {"last_event_id": "3"}}, ["4", "5"]),
        (
            {"headers": {"Last-Event-ID": "3"}, "params": {"last_event_id": "1"}},
            ["4", "5"],
        ),  # the header wins
        ({"headers": {"Last-Event-ID": "9223372036854775807"}}, []),
    ]
    for request, expected in ids:
        r = await client.get(url, **request)  # type: ignore[arg-type]
        assert r.status_code == 200, (request, r.text)
        assert [e["id"] for e in await h.read_events(r)] == expected, request


async def test_live_event_after_a_new_bid(client: httpx.AsyncClient, db, app) -> None:
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 10})
    b1, b2 = case.bidders
    await h.bid(client, case, b1, "100000.00")
    live = httpx.AsyncClient(transport=h.StreamingASGITransport(app), base_url="http://test")
    async with live, live.stream("GET", f"{case.url}/events", headers={"Last-Event-ID": "0"}) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        first = await _next_event(lines)
        assert first["id"] == "1" and first["event"] == "bid"
        r = await h.bid(client, case, b2, "102000.00")
        assert r.status_code == 201
        second = await _next_event(lines)
        assert second["id"] == "2" and second["event"] == "bid"
        assert (
            second["data"]["current_price"] == "102000.00" and second["data"]["leading_bidder_code"] == "B02"
        )
        # The close arrives live and ends the stream.
        await t.advance_past(client, (await h.state(client, case))["ends_at"])
        last = await _next_event(lines)
        assert last["id"] == "3" and last["event"] == "closed"
        assert last["data"]["winner_bidder_code"] == "B02"
        rest = [line async for line in lines if line and not line.startswith(":")]
        assert rest == []
    await assert_invariants(db)


async def _next_event(lines, within: float = 15):  # type: ignore[no-untyped-def]
    import json

    async def read():  # type: ignore[no-untyped-def]
        event: dict = {}
        async for line in lines:
            if not line:
                if event:
                    event["data"] = json.loads(event["data"])
                    return event
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            event[name] = value[1:] if value.startswith(" ") else value
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(read(), within)


async def test_sealed_stream_carries_no_amounts(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction={"format": "sealed", "free_bidding_minutes": 60})
    await h.bid(client, case, case.bidders[0], "123400.00")
    await h.bid(client, case, case.bidders[1], "156700.00")
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    r = await client.get(f"{case.url}/events")
    assert "123400" not in r.text and "156700" not in r.text
    events = await h.read_events(r)
    assert [e["event"] for e in events] == ["bid", "bid", "closed"]
    assert set(events[0]["data"]) == {"id", "format", "status", "starts_at", "ends_at", "now"}
    await assert_invariants(db)


async def test_failed_event_ends_the_stream(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db)
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    events = await h.read_events(await client.get(f"{case.url}/events"))
    assert [(e["id"], e["event"]) for e in events] == [("1", "failed")]
    assert events[0]["data"]["status"] == "failed"


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_postgres_listener_wakes_on_commit(backend, db) -> None:  # type: ignore[no-untyped-def]
    """One LISTEN connection per process: a notification sent in a writing transaction wakes the streams
    of that auction when (and only when) the transaction commits."""
    import uuid

    from sqlalchemy import func, select

    from app.auctions import events

    hub = events.hub_for(db)
    await hub.ensure_listening()
    assert events.hub_for(db) is hub
    auction_id = uuid.uuid4()
    wake, other = hub.subscribe(auction_id), hub.subscribe(uuid.uuid4())
    try:
        async with db.transaction() as session:
            await session.execute(select(func.pg_notify(events.CHANNEL, f"{auction_id}:1")))
            await asyncio.sleep(0.2)
            assert not wake.is_set()  # not before the commit
        await asyncio.wait_for(wake.wait(), 5)
        assert not other.is_set()
    finally:
        hub.unsubscribe(auction_id, wake)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_a_bid_wakes_the_listener_through_the_table_trigger(client: httpx.AsyncClient, db) -> None:  # type: ignore[no-untyped-def]
    """The writing transaction no longer calls pg_notify itself: the AFTER INSERT trigger on auction_events
    does, so every writer of events (bids, closes) wakes the streams of every process."""
    import uuid

    from app.auctions import events

    case = await h.open_auction(client, db)
    hub = events.hub_for(db)
    await hub.ensure_listening()
    wake = hub.subscribe(uuid.UUID(case.id))
    try:
        assert (await h.bid(client, case, case.bidders[0], "100000.00")).status_code == 201
        await asyncio.wait_for(wake.wait(), 5)
    finally:
        hub.unsubscribe(uuid.UUID(case.id), wake)


async def test_a_listener_that_cannot_start_is_not_retried_by_every_stream() -> None:
    from app.auctions import events

    hub = events.Hub("postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    await hub.ensure_listening()
    assert hub._conn is None and hub._retry_at > 0
    retry_at = hub._retry_at
    await hub.ensure_listening()  # within the retry interval: no new attempt
    assert hub._retry_at == retry_at


async def test_each_event_carries_the_business_clock_when_sent(client: httpx.AsyncClient, db) -> None:
    """SPEC §19.3: each event's ``data`` carries ``now``, the business clock when the event is sent (a page
    corrects its countdown with it): a replay later sends the later clock, not the time of the bid."""
    from datetime import datetime, timedelta

    case = await _closed_english(client, db)

    async def business_now() -> datetime:
        return datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])

    before = await business_now()
    events = await h.read_events(await client.get(f"{case.url}/events"))
    after = await business_now()
    assert len(events) == 5
    for e in events:
        now = datetime.fromisoformat(e["data"]["now"])
        assert now.utcoffset() == timedelta(0), e["data"]["now"]
        assert before - timedelta(seconds=1) <= now <= after + timedelta(seconds=1), (e, before, after)
    await t.advance(client, 7 * 86400)
    later = await h.read_events(await client.get(f"{case.url}/events", params={"last_event_id": "4"}))
    assert datetime.fromisoformat(later[0]["data"]["now"]) >= after + timedelta(days=7)
