"""Proxy bidding under load on two server processes (SPEC §17.1, §17.2): 40 bidders storm one English auction,
10 of them with proxies they raise during the storm. Afterwards: the ordering guarantee over the whole bid list,
no automatic bid above its holder's maximum, the winner and price those of the last bid, and before the close no
maximum in any response, live event or audit event."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.live import LiveServer, live_server
from tests.test_multiprocess import Api

pytestmark = pytest.mark.slow

ROUNDS = 12
START = Decimal("100000.00")
STEP = Decimal("100.00")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(request.param, tmp_path_factory.mktemp("proxies"), workers=2) as s:
        yield s


async def _all_bids(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{url}/bids", params=params)).json()
        listed += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(listed, key=lambda b: b["seq"])


async def test_forty_bidders_ten_proxies_on_two_processes(server: LiveServer) -> None:
    async with httpx.AsyncClient(
        base_url=server.base, timeout=60, limits=httpx.Limits(max_connections=64)
    ) as client:
        api = Api(client, server)
        seller = await api.org()
        bidders = await asyncio.gather(*[api.org() for _ in range(40)])
        await asyncio.gather(*[api.fund(b, "5000.00") for b in bidders])
        listing = await api.english_auction(seller, bidders)
        url = f"/api/v1/auctions/{listing['auction_id']}"
        rng = random.Random(11)
        holders, manual = bidders[:10], bidders[10:]
        seen: list[httpx.Response] = []

        async def current() -> Decimal:
            r = await client.get(url)
            seen.append(r)
            price = r.json()["current_price"]
            return START if price is None else Decimal(price)

        async def bid_manually(b: dict[str, Any]) -> list[httpx.Response]:
            out = []
            for _ in range(ROUNDS):
                amount = await current() + rng.randint(1, 3) * STEP
                out.append(
                    await client.post(f"{url}/bids", json={"amount": f"{amount:.2f}"}, headers=b["headers"])
                )
            return out

        async def raise_proxy(b: dict[str, Any]) -> list[httpx.Response]:
            out = []
            for _ in range(4):
                maximum = await current() + rng.randint(2, 40) * STEP
                out.append(
                    await client.put(
                        f"{url}/proxy", json={"max_amount": f"{maximum:.2f}"}, headers=b["headers"]
                    )
                )
                await asyncio.sleep(rng.random() / 5)
            return out

        results = await asyncio.gather(*[bid_manually(b) for b in manual], *[raise_proxy(b) for b in holders])
        responses = [r for rs in results for r in rs]
        assert all(r.status_code in (200, 201, 409) for r in responses), {r.status_code for r in responses}
        assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
            "bid_too_low",
            "bid_not_increment_multiple",
            "already_leading",
            "proxy_cannot_lower",
        }
        proxies_set = [r for r in responses if r.request.method == "PUT" and r.status_code in (200, 201)]
        assert proxies_set, "no proxy was set"

        # Before the close: no maximum anywhere but in its holder's own …/proxy.
        bids = await _all_bids(client, url)
        state = (await client.get(url)).json()
        public = [r.text for r in responses if r.request.method == "POST"] + [r.text for r in seen]
        public += [json.dumps(bids), json.dumps(state)]
        audit = (await client.get("/api/v1/audit-events", params={"limit": 100}, headers=api.ops)).json()
        assert not [e for e in audit["items"] if e["entity_type"] == "proxy_bid"]
        public.append(json.dumps(audit))
        assert not [text for text in public if "max_amount" in text]
        async with client.stream("GET", f"{url}/events", headers={"Last-Event-ID": "0"}) as stream:
            events_text = ""
            async for chunk in stream.aiter_text():
                events_text += chunk
                if f'"seq": {len(bids)}' in events_text or f'"seq":{len(bids)}' in events_text:
                    break
        assert "max_amount" not in events_text

        # The ordering guarantee over the whole list; automatic bids are there, each within its maximum.
        assert [b["seq"] for b in bids] == list(range(1, len(bids) + 1))
        for before, after in pairwise(bids):
            assert Decimal(after["amount"]) >= Decimal(before["amount"])
            assert after["bidder_code"] != before["bidder_code"]
            if after["amount"] == before["amount"]:
                assert after["auto"], (before, after)
        autos = [b for b in bids if b["auto"]]
        assert autos, "no proxy ever bid"
        assert Decimal(state["current_price"]) == Decimal(bids[-1]["amount"])
        assert state["leading_bidder_code"] == bids[-1]["bidder_code"]

        await api.advance_past(state["ends_at"])
        closed = (await client.get(url)).json()
        assert closed["status"] == "closed" and closed["winner_bidder_code"] == bids[-1]["bidder_code"]
        assert Decimal(closed["current_price"]) == Decimal(bids[-1]["amount"])
        maxima = {}
        for b in holders:
            r = await client.get(f"{url}/proxy", headers=b["headers"])
            if r.status_code == 200:
                assert r.json()["status"] == "ended"
                maxima[r.json()["bidder_code"]] = Decimal(r.json()["max_amount"])
        for b in autos:
            assert Decimal(b["amount"]) <= maxima[b["bidder_code"]], b
        await api.books_and_chains()
