"""Test steps for auctions: an open auction built directly (ORM registrations with held deposits, then
``lifecycle.open_auction``), bids, and a streaming ASGI transport for Server-Sent Events.

The auction is built without the registrations API on purpose, so these tests depend only on listings, the
ledger and the auction lifecycle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.kit.db import Database
from app.kit.money import parse_yuan
from app.ledger import deposits
from app.listings import service as listings
from app.models.listings import Listing, ListingStatus
from app.models.trading import Auction, DepositStatus, Registration, RegistrationStatus
from tests import factories as f
from tests import trading as t
from tests.world import build, org, orgs


@dataclass
class AuctionCase:
    id: str
    listing: dict[str, Any]
    op: f.Actor
    seller: f.Actor
    bidders: list[f.Actor]
    codes: list[str]
    registration_ids: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/api/v1/auctions/{self.id}"


async def open_auction(
    client: httpx.AsyncClient,
    db: Database,
    *,
    bidders: int = 2,
    price: str = "100000.00",
    deposit: str = "10000.00",
    auction: dict[str, Any] | None = None,
    transaction_kind: str = "assignment",
    from_listed_trading: bool = False,
    opened: bool = True,
    extra_unqualified: int = 0,
    license: dict[str, Any] | None = None,
    seller_kind: str = "university",
) -> AuctionCase:
    """A published auction-mode listing with ``bidders`` qualified registrants (deposits held), opened now
    (business clock) unless ``opened=False``. ``extra_unqualified`` registrants stay ``pending_review``."""
    terms = {"format": "english", "increment": "1000.00", "free_bidding_minutes": 0, "countdown_seconds": 300}
    terms.update(auction or {})
    op, seller, buyers = await build(
        client, db, seller=org(seller_kind), buyers=orgs(bidders + extra_unqualified, funds=deposit)
    )
    listing = await t.published_listing(
        client,
        op,
        seller,
        pricing_mode="auction",
        price=price,
        deposit=deposit,
        transaction_kind=transaction_kind,
        auction=terms,
        license=license,
    )
    auction_id = uuid.UUID(listing["auction_id"])
    now = await t.now(client)
    codes, reg_ids = [], []
    async with db.transaction() as session:
        for i, buyer in enumerate(buyers):
            reg = Registration(
                id=uuid.uuid4(),
                listing_id=uuid.UUID(listing["id"]),
                organization_id=uuid.UUID(buyer.org_id or ""),
                status=RegistrationStatus.qualified if i < bidders else RegistrationStatus.pending_review,
                bidder_code=f"B{i + 1:02d}",
                deposit=parse_yuan(deposit),
                deposit_status=DepositStatus.held,
                created_at=now,
                updated_at=now,
            )
            session.add(reg)
            await session.flush()
            await deposits.hold(session, reg, at=now, actor="system")
            codes.append(reg.bidder_code)
            reg_ids.append(str(reg.id))
    case = AuctionCase(str(auction_id), listing, op, seller, buyers, codes, reg_ids)
    if opened:
        await start(client, db, case, from_listed_trading=from_listed_trading)
    return case


async def start(
    client: httpx.AsyncClient, db: Database, case: AuctionCase, *, from_listed_trading: bool = False
) -> None:
    """Open the auction now (business clock) and put its listing ``in_auction``."""
    from app.auctions import lifecycle

    now = await t.now(client)
    async with db.transaction() as session:
        auction = await session.get(Auction, uuid.UUID(case.id))
        assert auction is not None
        auction.from_listed_trading = from_listed_trading
        await lifecycle.open_auction(session, auction, starts_at=now, actor="system")
        listing = await session.get(Listing, auction.listing_id)
        assert listing is not None
        await listings.set_status(
            session, listing, ListingStatus.in_auction, actor="system", action="auction_opened", at=now
        )


async def bid(
    client: httpx.AsyncClient, case: AuctionCase, who: f.Actor, amount: str, **headers: str
) -> httpx.Response:
    return await client.post(f"{case.url}/bids", json={"amount": amount}, headers={**who.headers, **headers})


async def state(client: httpx.AsyncClient, case: AuctionCase, who: f.Actor | None = None) -> dict[str, Any]:
    r = await client.get(case.url, headers=who.headers if who else None)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def all_bids(
    client: httpx.AsyncClient, case: AuctionCase, who: f.Actor | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(f"{case.url}/bids", params=params, headers=who.headers if who else None)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def move_clock_only(db: Database, seconds: float) -> None:
    """Move the sandbox clock without processing any deadline (as if no sweeper had run yet)."""
    from app.models.platform import SandboxClock

    async with db.transaction() as session:
        row = await session.get(SandboxClock, 1)
        if row is None:
            session.add(SandboxClock(id=1, offset_seconds=seconds))
        else:
            row.offset_seconds += seconds


def code_of(r: httpx.Response) -> str:
    body: dict[str, Any] = r.json()
    return str(body.get("code"))


# --- a streaming ASGI transport -------------------------------------------------------------------------------


class _QueueStream(httpx.AsyncByteStream):
    def __init__(
        self, queue: asyncio.Queue[bytes | None], task: asyncio.Task[None], done: asyncio.Event
    ) -> None:
        self.queue, self.task, self.done = queue, task, done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.queue.get()
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        self.done.set()  # the client went away: the app sees http.disconnect
        try:
            await asyncio.wait_for(self.task, 5)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Like httpx.ASGITransport, but the response body streams while the app runs (httpx's transport
    collects the whole body first, which an endless SSE stream never finishes)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for (k, v) in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 123),
            "root_path": "",
        }
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        done = asyncio.Event()
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], message.get("headers", [])))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await queue.put(message["body"])
                if not message.get("more_body", False):
                    await queue.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                if not started.done():
                    started.set_result((500, []))
                await queue.put(None)

        task = asyncio.create_task(run())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_QueueStream(queue, task, done))


async def read_events(
    response: httpx.Response, count: int | None = None, within: float = 20
) -> list[dict[str, Any]]:
    """Parse SSE events (``event``, ``id``, ``data``) from a streaming response, until ``count`` events (or the
    end of the stream). Comments (pings) are skipped."""
    import json

    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    async def pump() -> None:
        nonlocal current
        async for line in response.aiter_lines():
            line = line.rstrip("\r")
            if not line:
                if "event" in current or "data" in current:
                    if "data" in current:
                        current["data"] = json.loads(current["data"])
                    events.append(current)
                    current = {}
                    if count is not None and len(events) >= count:
                        return
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in current:
                current["data"] += "\n" + value
            else:
                current[name] = value

    await asyncio.wait_for(pump(), within)
    return events
