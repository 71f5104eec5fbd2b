"""The README's screenshot of a live bidding room (``docs/screenshots/bidding-room.png``, 1000×700, PNG under
150 KB), overwritten on each run: an English auction of the browser world's university with two qualified
bidders and a few bids, seen by one of them (the room as in ``tests/web/test_room.py``: made through the
API, opened by one move of the sandbox clock past its listing period). The operator desk's screenshot is
taken by ``tests/web/test_operator_browser.py``."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import Site, Watch
from tests.web.test_browser import sign_in
from tests.web.test_operator_browser import SCREEN, _screenshot

BIDS = ("100000.00", "101000.00", "103000.00", "105000.00")


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def _live_room(site: Site) -> dict[str, Any]:
    from tests.web.world import _fund, _listing

    op, seller = site.data["op"], site.data["university"]
    bidders = [site.data["buyer"], site.data["maker"]]
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as client:
        listing = await _listing(
            client,
            op,
            seller,
            patent_title="一种固态锂电池电解质",
            abstract="高离子电导率的固态电解质。",
            title="固态锂电池电解质专利转让",
            summary="高离子电导率、可量产的固态电解质。",
            pricing_mode="auction",
            price="100000.00",
            deposit="10000.00",
            listing_days=5,
            auction={
                "format": "english",
                "increment": "1000.00",
                "free_bidding_minutes": 0,
                "countdown_seconds": 3600,
            },
        )
        codes = []
        for i, bidder in enumerate(bidders):
            await _fund(client, op, bidder, "10000.00", f"WEB-SCREEN-{run}-{i}")
            reg = await _ok(
                await client.post(f"/api/v1/listings/{listing['id']}/registrations", headers=bidder.headers),
                201,
            )
            codes.append(reg["bidder_code"])
        now = datetime.fromisoformat((await _ok(await client.get("/api/v1/sandbox/clock")))["now"])
        ends = datetime.fromisoformat(listing["listing_ends_at"])
        advance = {"advance_seconds": (ends - now).total_seconds() + 2}
        await _ok(await client.post("/api/v1/sandbox/clock", json=advance, headers=op.headers))
        auction_id = listing["auction_id"]
        assert (await _ok(await client.get(f"/api/v1/auctions/{auction_id}")))["status"] == "open"
        for i, amount in enumerate(BIDS):
            await _ok(
                await client.post(
                    f"/api/v1/auctions/{auction_id}/bids",
                    json={"amount": amount},
                    headers=bidders[i % 2].headers,
                ),
                201,
            )
        return {"id": auction_id, "codes": codes}


@pytest.fixture(scope="module")
def room(site: Site) -> dict[str, Any]:
    # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        made: dict[str, Any] = pool.submit(asyncio.run, _live_room(site)).result()
    return made


def test_the_bidding_room_screenshot(page: Any, site: Site, watch: Watch, room: dict[str, Any]) -> None:
    page.set_viewport_size(SCREEN)
    path = f"/auctions/{room['id']}"
    sign_in(page, site, site.data["buyer"].email, next_path=path)
    expect(page).to_have_url(site.url(path))
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("bid-row")).to_have_count(len(BIDS))
    expect(page.get_by_test_id("current-price")).to_have_text("¥105,000.00")
    expect(page.get_by_test_id("leader")).to_have_text(room["codes"][1])
    expect(page.get_by_test_id("bid-amount")).to_have_value("106000.00")
    # The whole room (title, state, countdown, bid form and the bids), at the 1000 px wide viewport.
    _screenshot(page, "bidding-room.png", full_page=True)
