"""Set-up for ``bench/proxy_cost.sh``, through the public API and the sandbox clock, in two modes.

``setup BASE OUT``: one English auction like the shared yardstick's "hot" scenario (16 bidders, increment
1.00), plus 10 more registrants who leave proxies once it opens (one with a maximum no storm reaches, nine
with maxima just above the start price that the first bids spend), 50 organizations watching its listing, and
a webhook per bidder organization subscribed to ``outbid`` (pointing at ``RECEIVER``). Writes for each auction the two
lines the shared ``bidstorm.lua`` reads (auction id; the 16 bidders' tokens), to ``OUT<n>.wrk``.

``receive PORT``: a bare HTTP/1.1 server answering 204 to every request (the webhook receiver).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(
    0, os.environ.get("PERF_YARDSTICK", str(Path(__file__).resolve().parents[2] / "shared" / "bench"))
)
from bidstorm import Api, datetime_parse, patno

BIDDERS, HOLDERS, WATCHERS = 16, 10, 50


def setup(base: str, out: str, receiver: str, rounds: int) -> None:
    """``rounds`` such auctions (one per storm: the driver's amounts start again each run), with the same
    organizations, made before one move of the clock opens them all."""
    api = Api(base)
    op = api.login("ops@perf.test", "operator-pass-perf")
    _, seller = api.org(op, "university")
    listings = [_listing(api, op, seller) for _ in range(rounds)]

    def registrant() -> dict[str, str]:
        org_id, auth = api.org(op, "enterprise")
        api.call(
            "POST",
            "/ledger/payments",
            op,
            json={"organization_id": org_id, "amount": "1000000.00", "bank_reference": uuid.uuid4().hex},
        )
        for listing in listings:
            api.call("POST", f"/listings/{listing['id']}/registrations", auth, json={})
        return auth

    bidders = [registrant() for _ in range(BIDDERS)]
    holders = [registrant() for _ in range(HOLDERS)]
    for _ in range(WATCHERS):
        _, auth = api.org(op, "enterprise")
        for listing in listings:
            api.call("POST", f"/watchlist/{listing['id']}", auth)
    for auth in bidders:
        api.call("POST", "/webhooks", auth, json={"url": receiver, "event_kinds": ["outbid"]})
    now = api.call("GET", "/sandbox/clock", op)["now"]
    end = max(datetime_parse(listing["listing_ends_at"]) for listing in listings)
    api.call(
        "POST",
        "/sandbox/clock",
        op,
        json={"advance_seconds": (end - datetime_parse(now)).total_seconds() + 2},
    )
    tokens = ",".join(b["Authorization"].split()[1] for b in bidders)
    for n, listing in enumerate(listings, start=1):
        auction = listing["auction_id"]
        # Nine small maxima, each one above the last (each is then at least the minimum next bid), spent at
        # once; the tenth, set last, leads and answers every later bid.
        for i, auth in enumerate(holders[1:], start=1):
            api.call("PUT", f"/auctions/{auction}/proxy", auth, json={"max_amount": f"{10000 + i}.00"})
        api.call("PUT", f"/auctions/{auction}/proxy", holders[0], json={"max_amount": "100000000.00"})
        state = api.call("GET", f"/auctions/{auction}")
        print(
            f"proxied auction {auction}: {state['bid_count']} bids after the proxies, price {state['current_price']}"
        )
        with open(f"{out}{n}.wrk", "w") as w:
            w.write(auction + "\n" + tokens + "\n")


def _listing(api: Api, op: dict[str, str], seller: dict[str, str]) -> dict[str, Any]:
    patent = api.call(
        "POST",
        "/patents",
        seller,
        json={
            "application_number": patno(),
            "title": "基准测试专利",
            "abstract": "a",
            "ipc_codes": [],
            "inventors": ["x"],
            "filing_date": "2019-03-15",
            "grant_date": "2021-01-01",
            "annual_fee_paid_until": "2030-12-31",
        },
    )
    listing = api.call(
        "POST",
        "/listings",
        seller,
        json={
            "title": "基准",
            "summary": "s",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "auction",
            "price": "10000.00",
            "deposit": "1000.00",
            "auction": {
                "format": "english",
                "increment": "1.00",
                "free_bidding_minutes": 43200,
                "countdown_seconds": 300,
            },
        },
    )
    api.call("POST", f"/listings/{listing['id']}/submit", seller)
    api.call("POST", f"/listings/{listing['id']}/approve", op)
    result: dict[str, Any] = api.call("GET", f"/listings/{listing['id']}", seller)
    return result


async def receive(port: int) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        asyncio.run(receive(int(sys.argv[2])))
