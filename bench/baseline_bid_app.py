"""The baseline of ``bid_storm.py``: a bare Starlette app doing exactly the bid's SQL (DESIGN.md "The bid").

    BENCH_DATABASE_URL=... python -m uvicorn baseline_bid_app:app --app-dir bench --workers 2

Same engines as the app (``app.kit.db.create_database``: the same pool size; on SQLite WAL, the same pragmas
and ``BEGIN IMMEDIATE`` for the write transaction, a deferred ``BEGIN`` for reads), same schema and data.
Statements are SQLAlchemy ``text()`` with typed binds, so values are stored exactly as the ORM stores them.

``POST /auctions/{id}/bids`` ``{"amount", "registration_id", "bidder_code"}``: in one transaction the
conditional ``UPDATE auctions … RETURNING`` with every rule of the English bid in its WHERE clause (the
app's ``_english_update``: the countdown moves ``ends_at``) and the ``INSERT`` of the bid with
``seq = version``; zero rows → one re-read of the row to say why (409 with the app's codes), as the app does.
No authentication (the bidder's registration comes in the body), no validation layer beyond parsing, no
idempotency keys, audit chain, live events or problem details. The countdown of each auction is read once
and cached (it never changes).

``GET /auctions/{id}``: the auction's price, increment, status and leading bidder code (one SELECT).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, Uuid, bindparam, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.kit.db import create_database
from app.kit.types import UTCDateTime

db = create_database(os.environ["BENCH_DATABASE_URL"])
MAX_ATTEMPTS = 3
_countdown: dict[uuid.UUID, int] = {}

BID = (
    text(
        """
        UPDATE auctions
           SET current_price = :amount,
               leader_registration_id = :reg,
               bid_count = bid_count + 1,
               version = version + 1,
               ends_at = CASE WHEN :new_end >= ends_at THEN :new_end ELSE ends_at END,
               extensions = extensions + CASE WHEN :new_end >= ends_at THEN 1 ELSE 0 END,
               updated_at = :now
         WHERE id = :id AND status = 'open' AND format = 'english'
           AND starts_at <= :now AND ends_at > :now
           AND :amount >= COALESCE(current_price + increment, start_price)
           AND (:amount - COALESCE(current_price, start_price)) % increment = 0
           AND (leader_registration_id IS NULL OR leader_registration_id <> :reg)
        RETURNING version, ends_at
        """
    )
    .bindparams(
        bindparam("amount", type_=BigInteger()),
        bindparam("reg", type_=Uuid()),
        bindparam("id", type_=Uuid()),
        bindparam("now", type_=UTCDateTime()),
        bindparam("new_end", type_=UTCDateTime()),
    )
    .columns(version=Integer(), ends_at=UTCDateTime())
)

INSERT_BID = text(
    """
    INSERT INTO bids (id, auction_id, registration_id, bidder_code, amount, placed_at, seq, sealed)
    VALUES (:bid, :id, :reg, :code, :amount, :now, :seq, :sealed)
    """
).bindparams(
    bindparam("bid", type_=Uuid()),
    bindparam("id", type_=Uuid()),
    bindparam("reg", type_=Uuid()),
    bindparam("code", type_=String()),
    bindparam("amount", type_=BigInteger()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("seq", type_=Integer()),
    bindparam("sealed", type_=Boolean()),
)

REREAD = (
    text(
        """
        SELECT status, starts_at, ends_at, current_price, start_price, increment, leader_registration_id
          FROM auctions WHERE id = :id
        """
    )
    .bindparams(bindparam("id", type_=Uuid()))
    .columns(
        starts_at=UTCDateTime(),
        ends_at=UTCDateTime(),
        current_price=BigInteger(),
        start_price=BigInteger(),
        increment=BigInteger(),
        leader_registration_id=Uuid(),
    )
)

COUNTDOWN = text("SELECT countdown_seconds FROM auctions WHERE id = :id").bindparams(
    bindparam("id", type_=Uuid())
)

STATE = (
    text(
        """
        SELECT a.status, a.current_price, a.start_price, a.increment, a.ends_at, a.bid_count, r.bidder_code
          FROM auctions a LEFT JOIN registrations r ON r.id = a.leader_registration_id
         WHERE a.id = :id
        """
    )
    .bindparams(bindparam("id", type_=Uuid()))
    .columns(
        current_price=BigInteger(), start_price=BigInteger(), increment=BigInteger(), ends_at=UTCDateTime()
    )
)


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else f"{fen // 100}.{fen % 100:02d}"


def _fen(value: str) -> int:
    whole, _, cents = value.partition(".")
    if len(cents) > 2 or not whole.isdigit() or (cents and not cents.isdigit()):
        raise ValueError(value)
    return int(whole) * 100 + int((cents + "00")[:2])


def _conflict(code: str) -> JSONResponse:
    return JSONResponse({"code": code}, status_code=409)


def _refusal(row: Any, reg: uuid.UUID, amount: int, now: datetime) -> str | None:
    if row is None:
        return "not_found"
    if row.status != "open" or row.starts_at is None or row.starts_at > now or row.ends_at <= now:
        return "auction_not_open"
    if row.leader_registration_id == reg:
        return "already_leading"
    base = row.start_price if row.current_price is None else row.current_price
    minimum = row.start_price if row.current_price is None else row.current_price + row.increment
    if amount < minimum:
        return "bid_too_low"
    if (amount - base) % row.increment:
        return "bid_not_increment_multiple"
    return None


async def place_bid(request: Request) -> Response:
    try:
        auction_id = uuid.UUID(request.path_params["auction_id"])
        body = json.loads(await request.body())
        amount, reg, code = _fen(body["amount"]), uuid.UUID(body["registration_id"]), str(body["bidder_code"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"code": "validation_error"}, status_code=422)
    now = datetime.now(UTC)
    async with db.write_engine.begin() as conn:
        countdown = _countdown.get(auction_id)
        if countdown is None:
            countdown = await conn.scalar(COUNTDOWN, {"id": auction_id})
            if countdown is None:
                return JSONResponse({"code": "not_found"}, status_code=404)
            _countdown[auction_id] = countdown
        params = {"amount": amount, "reg": reg, "id": auction_id, "now": now}
        params["new_end"] = now + timedelta(seconds=countdown)
        for _ in range(MAX_ATTEMPTS):
            state = (await conn.execute(BID, params)).first()
            if state is not None:
                break
            refusal = _refusal((await conn.execute(REREAD, {"id": auction_id})).first(), reg, amount, now)
            if refusal is not None:
                return _conflict(refusal)
        else:
            return _conflict("auction_changed")
        bid_id = uuid.uuid4()
        await conn.execute(
            INSERT_BID,
            {
                "bid": bid_id,
                "id": auction_id,
                "reg": reg,
                "code": code,
                "amount": amount,
                "now": now,
                "seq": state.version,
                "sealed": False,
            },
        )
    return JSONResponse(
        {
            "id": str(bid_id),
            "amount": _yuan(amount),
            "bidder_code": code,
            "placed_at": now.isoformat(),
            "ends_at": state.ends_at.isoformat(),
        },
        status_code=201,
    )


async def get_auction(request: Request) -> Response:
    try:
        auction_id = uuid.UUID(request.path_params["auction_id"])
    except ValueError:
        return JSONResponse({"code": "not_found"}, status_code=404)
    async with db.read_engine.begin() as conn:
        row = (await conn.execute(STATE, {"id": auction_id})).first()
    if row is None:
        return JSONResponse({"code": "not_found"}, status_code=404)
    return JSONResponse(
        {
            "id": str(auction_id),
            "status": row.status,
            "start_price": _yuan(row.start_price),
            "increment": _yuan(row.increment),
            "current_price": _yuan(row.current_price),
            "leading_bidder_code": row.bidder_code,
            "bid_count": row.bid_count,
            "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        }
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await db.dispose()


async def ready(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/api/v1/auctions/{auction_id}/bids", place_bid, methods=["POST"]),
        Route("/api/v1/auctions/{auction_id}", get_auction, methods=["GET"]),
        Route("/readyz", ready, methods=["GET"]),
    ],
    lifespan=lifespan,
)
