"""The concurrency guarantees with two real server processes on one database (issue: trading): every request
goes over HTTP to a uvicorn server with two workers, so rows, locks and the sweeper are shared across
processes, as in production.

- 40 bidders × 25 bids at one English auction: every 201 is in the bid list, accepted amounts strictly
  increase, price and leader are the highest accepted bid, ends_at obeys the countdown rule, nothing is
  accepted after the close.
- 20 acceptances of different offers on one exclusive listing at once: exactly one deal.
- One company with money for 3 deposits registering for 10 listings at once: exactly 3 succeed.
- Afterwards: the books balance and every audit chain verifies.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.factories import PASSWORD, application_number, credit_code
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.slow
_n = itertools.count(900_000)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(request.param, tmp_path_factory.mktemp("multi"), workers=2) as s:
        yield s


class Api:
    def __init__(self, client: httpx.AsyncClient, server: LiveServer) -> None:
        self.c, self.ops = client, server.operator_headers

    async def org(self) -> dict[str, Any]:
        n = next(_n)
        email = f"org{n}@multi.example.cn"
        r = await self.c.post(
            "/api/v1/organizations",
            json={
                "name": f"多进程测试{n}",
                "kind": "enterprise",
                "credit_code": credit_code(n),
                "admin": {"email": email, "password": PASSWORD, "name": "管理员"},
            },
        )
        assert r.status_code == 201, r.text
        org_id = r.json()["id"]
        assert (
            await self.c.post(f"/api/v1/organizations/{org_id}/verify", headers=self.ops)
        ).status_code == 200
        token = (
            await self.c.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        ).json()
        return {"id": org_id, "headers": {"Authorization": f"Bearer {token['access_token']}"}}

    async def fund(self, org: dict[str, Any], amount: str) -> None:
        r = await self.c.post(
            "/api/v1/ledger/payments",
            headers=self.ops,
            json={
                "organization_id": org["id"],
                "amount": amount,
                "bank_reference": f"MP-{org['id']}-{amount}",
            },
        )
        assert r.status_code == 201, r.text

    async def listing(self, seller: dict[str, Any], **terms: Any) -> dict[str, Any]:
        r = await self.c.post(
            "/api/v1/patents",
            headers=seller["headers"],
            json={
                "application_number": application_number(next(_n)),
                "title": "一种多进程测试方法",
                "filing_date": "2020-03-15",
                "grant_date": "2022-06-01",
            },
        )
        assert r.status_code == 201, r.text
        body = {
            "title": "多进程测试",
            "summary": "并发",
            "patent_ids": [r.json()["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
            "price": "500000.00",
            **terms,
        }
        r = await self.c.post("/api/v1/listings", headers=seller["headers"], json=body)
        assert r.status_code == 201, r.text
        listing_id = r.json()["id"]
        assert (
            await self.c.post(f"/api/v1/listings/{listing_id}/submit", headers=seller["headers"])
        ).status_code == 200
        r = await self.c.post(f"/api/v1/listings/{listing_id}/approve", headers=self.ops)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    async def english_auction(self, seller: dict[str, Any], bidders: list[dict[str, Any]]) -> dict[str, Any]:
        """An open English auction (countdown 900 s from the first bid) with ``bidders`` registered; the
        listing, whose ``auction_id`` names it."""
        listing = await self.listing(
            seller,
            pricing_mode="auction",
            price="100000.00",
            deposit="1000.00",
            auction={
                "format": "english",
                "increment": "100.00",
                "free_bidding_minutes": 0,
                "countdown_seconds": 900,
            },
        )
        for b in bidders:
            r = await self.c.post(f"/api/v1/listings/{listing['id']}/registrations", headers=b["headers"])
            assert r.status_code == 201, r.text
        await self.advance_past(listing["listing_ends_at"])
        return listing

    async def advance_past(self, instant: str) -> None:
        now = datetime.fromisoformat((await self.c.get("/api/v1/sandbox/clock")).json()["now"])
        gap = (datetime.fromisoformat(instant) - now).total_seconds() + 1
        r = await self.c.post(
            "/api/v1/sandbox/clock", json={"advance_seconds": max(gap, 0.001)}, headers=self.ops
        )
        assert r.status_code == 200, r.text

    async def books_and_chains(self) -> None:
        tb = (await self.c.get("/api/v1/ledger/trial-balance", headers=self.ops)).json()
        assert tb["balanced"] is True, tb
        report = (await self.c.get("/api/v1/audit-events/verify", headers=self.ops)).json()
        assert report["ok"] is True, report["broken"][:5]


def _client(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base,
        timeout=60,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


async def test_forty_bidders_on_two_processes(server: LiveServer) -> None:
    async with _client(server) as client:
        api = Api(client, server)
        seller = await api.org()
        bidders = await asyncio.gather(*[api.org() for _ in range(40)])
        await asyncio.gather(*[api.fund(b, "5000.00") for b in bidders])
        listing = await api.english_auction(seller, bidders)
        url = f"/api/v1/auctions/{listing['auction_id']}"
        auction = (await client.get(url)).json()
        assert auction["status"] == "open", auction
        rng = random.Random(7)

        async def bidder(b: dict[str, Any]) -> list[httpx.Response]:
            out = []
            for _ in range(25):
                current = (await client.get(url)).json()["current_price"]
                amount = (
                    Decimal("100000.00") if current is None else Decimal(current) + rng.randint(1, 3) * 100
                )
                out.append(
                    await client.post(f"{url}/bids", json={"amount": f"{amount:.2f}"}, headers=b["headers"])
                )
            return out

        responses = [r for rs in await asyncio.gather(*[bidder(b) for b in bidders]) for r in rs]
        assert all(r.status_code in (201, 409) for r in responses), {r.status_code for r in responses}
        assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
            "bid_too_low",
            "bid_not_increment_multiple",
            "already_leading",
        }
        accepted = [r.json() for r in responses if r.status_code == 201]
        assert accepted

        listed, cursor = [], None
        while True:
            page = (
                await client.get(
                    f"{url}/bids", params={"limit": 100, **({"cursor": cursor} if cursor else {})}
                )
            ).json()
            listed += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert {b["id"] for b in listed} == {b["id"] for b in accepted}, "a 201 is missing from the bid list"
        # Acceptance order is ``seq`` (gap-free). ``placed_at`` is the receive time (SPEC §10), which may
        # precede that of the bid accepted just before it when the two raced for the auction row.
        in_order = sorted(listed, key=lambda b: b["seq"])
        assert [b["seq"] for b in in_order] == list(range(1, len(in_order) + 1))
        amounts = [Decimal(b["amount"]) for b in reversed(listed)]
        assert amounts == sorted(amounts) and len(set(amounts)) == len(amounts), (
            "amounts do not strictly increase"
        )
        assert [Decimal(b["amount"]) for b in in_order] == amounts
        state = (await client.get(url)).json()
        assert Decimal(state["current_price"]) == amounts[-1]
        assert state["leading_bidder_code"] == listed[0]["bidder_code"]
        last = max(datetime.fromisoformat(b["placed_at"]) for b in accepted)
        assert datetime.fromisoformat(state["ends_at"]) >= last + timedelta(seconds=900)

        await api.advance_past(state["ends_at"])
        late = await client.post(
            f"{url}/bids", headers=bidders[0]["headers"], json={"amount": f"{amounts[-1] + 1000:.2f}"}
        )
        assert late.status_code == 409 and late.json()["code"] == "auction_not_open"
        closed = (await client.get(url)).json()
        assert closed["status"] == "closed" and closed["winner_bidder_code"] == listed[0]["bidder_code"]
        await api.books_and_chains()


async def test_races_on_two_processes(server: LiveServer) -> None:
    async with _client(server) as client:
        api = Api(client, server)
        # 20 acceptances of different offers on one exclusive listing: exactly one deal.
        seller = await api.org()
        listing = await api.listing(seller)
        buyers = await asyncio.gather(*[api.org() for _ in range(20)])
        offers = []
        for i, b in enumerate(buyers):
            r = await client.post(
                f"/api/v1/listings/{listing['id']}/offers",
                headers=b["headers"],
                json={"price": f"{400000 + i}.00"},
            )
            assert r.status_code == 201, r.text
            offers.append(r.json()["id"])
        results = await asyncio.gather(
            *[client.post(f"/api/v1/offers/{o}/accept", headers=seller["headers"]) for o in offers]
        )
        assert sorted(r.status_code for r in results) == [200] + [409] * 19
        deals = (
            await client.get("/api/v1/deals", headers=seller["headers"], params={"role": "seller"})
        ).json()
        assert len(deals["items"]) == 1

        # One company with money for exactly 3 deposits registers for 10 listings at once: exactly 3.
        company = await api.org()
        await api.fund(company, "30000.00")
        listings = [
            await api.listing(seller, pricing_mode="listed", price="100000.00", deposit="10000.00")
            for _ in range(10)
        ]
        results = await asyncio.gather(
            *[
                client.post(f"/api/v1/listings/{x['id']}/registrations", headers=company["headers"])
                for x in listings
            ]
        )
        assert sorted(r.status_code for r in results) == [201] * 3 + [409] * 7
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"insufficient_funds"}
        account = (
            await client.get(f"/api/v1/organizations/{company['id']}/account", headers=company["headers"])
        ).json()
        assert account == {"available": "0.00", "held": "30000.00"}
        await api.books_and_chains()
