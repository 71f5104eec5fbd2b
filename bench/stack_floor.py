"""The shared bare bid endpoint rewritten on the exchange's fixed stack: what FastAPI and SQLAlchemy cost alone.

``../shared/bench/bare_bid_server.py`` is the practical limit of a bid: Starlette, the raw driver, one
conditional UPDATE and one INSERT. This server does exactly that work (its schema, its statement, its seed,
its tokens file for ``bidstorm.lua``) the way an ordinary application on the design card's stack writes it:

- a FastAPI route, the body validated by a pydantic model, the bearer token resolved by a dependency (looked up
  in memory, as the bare endpoint does), the session given by a ``yield`` dependency;
- an ``AsyncSession`` from ``async_sessionmaker``, ``async with session.begin()``, ``text()`` statements;
- SQLite through aiosqlite with ``BEGIN IMMEDIATE`` and one pooled connection (SQLAlchemy's documented
  recipe), PostgreSQL through asyncpg;
- served by uvicorn exactly as the bare endpoint is.

No authentication beyond the token lookup, no audit, no events, no idempotency, no logging, no middleware:
whatever it loses against the bare endpoint, the stack costs, and the product cannot get back without leaving
the stack. ``bench/floorpair.sh`` runs it against the bare endpoint, pinned, with the same wrk driver.

  python bench/stack_floor.py --db sqlite:///floor.db --port 8802 --auctions 1 --bidders 16 --out floor.json
  python bench/stack_floor.py --db postgresql://user@127.0.0.1:5432/db ...

``PERF_YARDSTICK`` names the yardstick's directory (default: ``shared/bench`` beside the checkout).
"""

import argparse
import importlib.util
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
YARDSTICK = Path(os.environ.get("PERF_YARDSTICK", ROOT.parent / "shared" / "bench"))


def _bare() -> Any:
    path = YARDSTICK / "bare_bid_server.py"
    if not path.exists():
        raise SystemExit(f"the shared yardstick is missing: {path} (set PERF_YARDSTICK)")
    spec = importlib.util.spec_from_file_location("yardstick_bare_bid_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BidIn(BaseModel):
    amount: Decimal


def build(db: str, tokens: dict[str, str], bid_update: str) -> FastAPI:
    if db.startswith("postgresql"):
        engine = create_async_engine(db.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=16)
    else:
        engine = create_async_engine(
            db.replace("sqlite://", "sqlite+aiosqlite://", 1), pool_size=1, max_overflow=0
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the "begin" listener emits BEGIN IMMEDIATE
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    update = text(bid_update.format(a=":a", b=":b", t=":t", i=":i"))
    insert = text("INSERT INTO bids VALUES (:id, :auction_id, :bidder, :amount, :placed_at)")

    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as s:
            yield s

    def bidder(authorization: Annotated[str, Header()] = "") -> str:
        who = tokens.get(authorization.removeprefix("Bearer "))
        if who is None:
            raise HTTPException(401, "unauthorized")
        return who

    app = FastAPI()

    @app.post("/api/v1/auctions/{aid}/bids", status_code=201)
    async def post_bid(
        aid: str,
        body: BidIn,
        who: Annotated[str, Depends(bidder)],
        s: Annotated[AsyncSession, Depends(session)],
    ) -> Any:
        amount, now = int(body.amount * 100), time.time()
        async with s.begin():
            row = (await s.execute(update, {"a": amount, "b": who, "t": now, "i": aid})).first()
            if row is None:
                return JSONResponse({"code": "bid_too_low"}, 409)
            bid_id = uuid.uuid4().hex
            params = {"id": bid_id, "auction_id": aid, "bidder": who, "amount": amount, "placed_at": now}
            await s.execute(insert, params)
        return {"id": bid_id, "amount": str(body.amount), "ends_at": row.ends_at}

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--port", type=int, default=8802)
    ap.add_argument("--auctions", type=int, default=1)
    ap.add_argument("--bidders", type=int, default=16)
    ap.add_argument("--out", default="floor_tokens.json")
    args = ap.parse_args()
    bare = _bare()
    ids = bare.seed(args.db, args.auctions)
    tokens = {uuid.uuid4().hex: f"bidder-{i}" for i in range(args.bidders)}
    Path(args.out).write_text(json.dumps({"auctions": ids, "tokens": list(tokens)}))
    Path(args.out + ".wrk").write_text(",".join(ids) + "\n" + ",".join(tokens) + "\n")  # for bidstorm.lua
    print(args.out, flush=True)
    uvicorn.run(
        build(args.db, tokens, bare.BID_UPDATE), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
