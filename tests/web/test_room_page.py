"""The bidding room's server-rendered state (SPEC §19.5) over HTTP on both databases: the room's data for
room.js (auction id, latest event number, business clock), status and phase labels, prices in figures, the
leader and bid rows by bidder code (您 for the viewer, never a company), the end with seconds in Shanghai
time, and why a viewer cannot bid."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from app.web.room import countdown
from app.web.templating import money, shanghai
from tests.auctions import helpers as a
from tests.web import helpers as w


def test_the_countdown_reads_hours_or_days() -> None:
    now = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert countdown(now + timedelta(seconds=3599.2), now) == "01:00:00"  # whole seconds, rounded up
    assert countdown(now + timedelta(hours=23, minutes=59, seconds=59), now) == "23:59:59"
    assert countdown(now + timedelta(days=2, seconds=61), now) == "2天 00:01:01"
    assert countdown(now - timedelta(seconds=5), now) == "00:00:00"
    assert countdown(None, now) == "—"


def _testid(html: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no {name}"
    return found.group(1).strip()


async def test_the_room_renders_the_auction_state(client: httpx.AsyncClient, db) -> None:
    case = await a.open_auction(client, db, price="100000.00")
    r = await a.bid(client, case, case.bidders[0], "100000.00")
    assert r.status_code == 201, r.text
    r = await a.bid(client, case, case.bidders[1], "101000.00")
    assert r.status_code == 201, r.text
    auction = await a.state(client, case)

    r = await client.get(f"/auctions/{case.id}")  # anyone watches
    assert r.status_code == 200
    html = r.text
    room = re.search(r'<section data-testid="room"[^>]*>', html)
    assert room, html
    assert f'data-auction-id="{case.id}"' in room.group(0)
    events = auction["bid_count"] + auction["extensions"]  # a bid event each, an extended event each
    assert f'data-last-event-id="{events}"' in room.group(0)
    server_now = re.search(r'data-server-now="([^"]+)"', room.group(0))
    assert server_now and server_now.group(1).endswith("Z")
    assert _testid(html, "auction-status") == "竞价中"
    assert _testid(html, "phase") == "限时报价期"
    assert _testid(html, "start-price") == "¥100,000.00"
    assert _testid(html, "current-price") == "¥101,000.00"
    assert _testid(html, "leader") == case.codes[1]
    assert str(shanghai(datetime.fromisoformat(auction["ends_at"]), seconds=True)) in html
    assert re.fullmatch(r"00:0[45]:[0-9]{2}", _testid(html, "countdown"))
    rows = re.findall(
        r'data-testid="bid-row" data-id="[^"]+"[^>]*>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', html
    )
    assert rows == [(case.codes[1], money("101000.00")), (case.codes[0], money("100000.00"))]
    assert '<div aria-live="polite"' in html
    login = f'<p data-testid="bid-unavailable"><a href="/login?next=/auctions/{case.id}">请先登录</a></p>'
    assert login in html

    # The outbid bidder sees its code as 您 in the history and the form, the leader sees 您 as leader.
    await w.sign_in(client, case.bidders[0].email)
    html = (await client.get(f"/auctions/{case.id}")).text
    assert 'data-testid="bid-amount"' in html and "出价金额（元）" in html
    assert f'data-my-code="{case.codes[0]}"' in html
    rows = re.findall(r'data-testid="bid-row" data-id="[^"]+"[^>]*>\s*<td>([^<]+)</td>', html)
    assert rows == [case.codes[1], "您"]
    for org in ("宁波", "有限公司", "大学"):
        assert org not in _testid(html, "bid-history")
    await client.post("/logout", data={"csrf_token": w.csrf_of(html)})
    await w.sign_in(client, case.bidders[1].email)
    html = (await client.get(f"/auctions/{case.id}")).text
    assert _testid(html, "leader") == "您"


async def test_why_a_viewer_cannot_bid(client: httpx.AsyncClient, db) -> None:
    case = await a.open_auction(client, db, bidders=1, extra_unqualified=1)
    await w.sign_in(client, case.seller.email)
    html = (await client.get(f"/auctions/{case.id}")).text
    assert _testid(html, "bid-unavailable") == "卖方不能出价"
    assert 'data-testid="bid-amount"' not in html
    await client.post("/logout", data={"csrf_token": w.csrf_of(html)})
    await w.sign_in(client, case.bidders[1].email)  # registered, pending review
    html = (await client.get(f"/auctions/{case.id}")).text
    assert _testid(html, "bid-unavailable") == "资格审核中"
    await client.post("/logout", data={"csrf_token": w.csrf_of(html)})
    await w.sign_in(client, case.op.email)
    html = (await client.get(f"/auctions/{case.id}")).text
    assert _testid(html, "bid-unavailable") == "未报名"


async def test_a_closed_room_and_an_unknown_one(client: httpx.AsyncClient, db) -> None:
    case = await a.open_auction(client, db, bidders=1)
    assert (await a.bid(client, case, case.bidders[0], "100000.00")).status_code == 201
    await a.move_clock_only(db, 400)  # past the end: the room closes it as the API would
    html = (await client.get(f"/auctions/{case.id}")).text
    assert _testid(html, "auction-status") == f"已成交（{case.codes[0]}，¥100,000.00）"
    assert _testid(html, "phase") == "已结束"
    assert _testid(html, "countdown") == "00:00:00"
    assert 'data-testid="contract-link"' not in html  # the winner's alone
    await w.sign_in(client, case.bidders[0].email)
    html = (await client.get(f"/auctions/{case.id}")).text
    assert _testid(html, "auction-status") == "已成交（您，¥100,000.00）"
    deal = (
        await client.get(
            f"/api/v1/deals/{(await a.state(client, case))['deal_id']}", headers=case.bidders[0].headers
        )
    ).json()
    assert f'<a href="/contracts/{deal["contract_id"]}" data-testid="contract-link">' in html
    r = await client.get("/auctions/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "<html" in r.text
