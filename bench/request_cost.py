"""CPU cost per request of the request path, in one process, against a bare Starlette endpoint in the same run.

Wall-clock throughput (wrk, ``bench/perfpair.sh``) needs a quiet machine; CPU time per request does not: a
process's own CPU time (``time.process_time()``) is disturbed far less by other load than its throughput.
This runs the application in-process (fresh database, its lifespan as a server runs it: frozen heap, pools)
and drives it through ASGI directly, one request after the other, with a driver that costs next to nothing:
a scope, a receive that hands over the body, a send that keeps the status. After a warm-up it measures
``process_time()`` over N requests, a few rounds, and keeps each route's best round (the least disturbed).

- bids: ``POST /api/v1/auctions/{id}/bids`` on one hot English auction, 16 bidders set up through the API as
  the shared ``bidstorm.py`` does (organizations verified, funded, registered, the sandbox clock moved past the
  listing period); each bid is accepted (one increment over the last, the bidders taking turns). The sandbox
  is on here, as in ``perfpair.sh`` (its offset is read in the principal's statement).
- refused: the same route, each bid refused (409 ``bid_too_low``, 1.00 yuan): most of ``perfpair.sh``'s hot
  scenario is refusals, its connections outbidding each other with the same amounts.
- reads: ``GET /api/v1/auctions/{id}``, ``GET /api/v1/listings?limit=20`` (25 listings),
  ``GET /api/v1/listings/{id}`` (the hot auction's listing), ``GET /healthz``, on
  a second app over the same database in production mode (sandbox off), as ``bench/perfread.sh`` serves them.
- baseline: the shared yardstick's bare endpoint (``bare_bid_server.py``: raw driver, conditional UPDATE and
  INSERT, tokens in memory) for the bid, the refusal and the auction read, plus a bare ``/healthz`` route, run
  the same way in the same process on a database of its own.

Prints one line per route: µs of CPU per request for the product and for the bare endpoint, and the ratio
bare ÷ product (comparable to perfpair's product req/s ÷ bare req/s on one core), then one JSON line.

  .venv/bin/python bench/request_cost.py                      # SQLite
  .venv/bin/python bench/request_cost.py --database-url "$(bash scripts/postgres.sh url)"
  .venv/bin/python bench/request_cost.py --only bid --requests 20000 --rounds 1 &  # then, for a profile:
  .venv/bin/py-spy record -p $! -r 250 -f speedscope -o bid.json   (or run the whole script under py-spy)
  .venv/bin/python bench/request_cost.py --only refused --no-bare --calls 2000 --profile-dir /tmp/prof
      # then python -m pstats /tmp/prof/product-refused.prof: where each request's Python calls go

``PERF_YARDSTICK`` names the yardstick's directory (default: ``shared/bench`` beside the checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.util
import json
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._setup import SECRET, _pg_admin, fresh_database  # noqa: E402

YARDSTICK = Path(os.environ.get("PERF_YARDSTICK", ROOT.parent / "shared" / "bench"))
PASSWORD = "bench-password-123"
OPERATOR_EMAIL = "ops@cost.example.cn"
ROUTES = ("healthz", "auction", "listings", "listing", "bid", "refused")

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _yardstick(name: str) -> Any:
    path = YARDSTICK / f"{name}.py"
    if not path.exists():
        raise SystemExit(f"the shared yardstick is missing: {path} (set PERF_YARDSTICK)")
    spec = importlib.util.spec_from_file_location(f"yardstick_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- a driver that costs next to nothing ---------------------------------------------------------------------


class Driver:
    """One HTTP request at a time straight into an ASGI app, the way a server hands it over."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        raw_path, _, query = path.partition("?")
        all_headers = [(b"host", b"127.0.0.1"), *(headers or [])]
        if body:
            all_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": all_headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status = 0
        chunks: list[bytes] = []
        done = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    """The ASGI lifespan protocol, as a server runs it: startup before the first request, shutdown after."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


# --- measuring -----------------------------------------------------------------------------------------------


async def measure(
    name: str,
    make_request: Callable[[int], Awaitable[int]],
    *,
    warmup: int,
    requests: int,
    rounds: int,
    expect: int,
    calls: int = 0,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Best round's µs of CPU (and of wall time) per request; every status must be ``expect``. With
    ``profile_dir``, the call count's profile is kept there as ``<name>.prof`` (``pstats``)."""
    counter = 0

    async def run(n: int) -> None:
        nonlocal counter
        for _ in range(n):
            status = await make_request(counter)
            counter += 1
            if status != expect:
                raise SystemExit(f"{name}: request {counter} answered {status}, expected {expect}")

    await run(warmup)
    cpus, walls = [], []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        await run(requests)
        cpus.append(round((time.process_time() - cpu) / requests * 1e6, 1))
        walls.append(round((time.perf_counter() - wall) / requests * 1e6, 1))
    result: dict[str, Any] = {"cpu_us": min(cpus), "wall_us": min(walls), "rounds_cpu_us": cpus}
    if calls:  # Python function calls per request: deterministic, whatever else the machine is doing
        profile = cProfile.Profile()
        profile.enable()
        await run(calls)
        profile.disable()
        result["calls"] = round(pstats.Stats(profile).total_calls / calls)  # type: ignore[attr-defined]
        if profile_dir is not None:
            profile.dump_stats(profile_dir / f"{name.replace(' ', '-')}.prof")
    return result


def _measure_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "warmup": args.warmup,
        "requests": args.requests,
        "rounds": args.rounds,
        "calls": args.calls,
        "profile_dir": args.profile_dir,
    }


# --- the product ----------------------------------------------------------------------------------------------


def _settings(url: str, *, sandbox: bool, log_file: Path) -> Any:
    from app.config import Environment, Settings

    common: dict[str, Any] = {
        "database_url": url,
        "secret_key": SECRET,
        "log_level": "INFO",  # one JSON line per request, as in production, to a file
        "log_json": True,
        # the sweeper and the webhook worker run beside requests in production; here their passes would
        # only blur the per-request figure
        "sweeper_interval_seconds": 3600.0,
        "webhook_worker": False,
        "access_token_minutes": 24 * 60,
    }
    if sandbox:  # the set-up moves the business clock: the test environment (production refuses it)
        return Settings(env=Environment.test, sandbox=True, fast_password_hashing=True, **common)
    return Settings(env=Environment.production, sandbox=False, public_url="https://ip.example.cn", **common)


def _product(url: str, *, sandbox: bool, log_file: Path) -> Any:
    from app.main import create_app

    app = create_app(_settings(url, sandbox=sandbox, log_file=log_file))
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(log_file, "a", encoding="utf-8"))  # noqa: SIM115 - lives with the app
    return app


async def _create_operator(app: Any) -> None:
    from app.accounts.service import create_operator
    from app.kit.clock import SystemClock

    async with app.state.db.transaction() as session:
        await create_operator(session, OPERATOR_EMAIL, PASSWORD, "ops", SystemClock())


async def setup_market(app: Any, *, bidders: int, listings: int) -> tuple[str, str, list[str]]:
    """Through the API, as the shared ``bidstorm.py`` sets up its hot scenario: a verified seller, ``listings``
    approved English auction listings (the first one hot), ``bidders`` verified, funded organizations
    registered for the hot one, the sandbox clock moved past the listing period. (hot auction id, hot listing
    id, tokens)"""
    import httpx

    storm = _yardstick("bidstorm")
    await _create_operator(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api/v1", timeout=60) as h:

        async def call(method: str, path: str, auth: dict[str, str] | None = None, **kw: Any) -> Any:
            r = await h.request(method, path, headers=auth, **kw)
            if r.status_code not in (200, 201):
                raise SystemExit(f"set-up: {method} {path}: {r.status_code} {r.text[:300]}")
            return r.json() if r.content else None

        async def login(email: str, password: str) -> dict[str, str]:
            token = await call("POST", "/auth/token", data={"username": email, "password": password})
            return {"Authorization": "Bearer " + token["access_token"]}

        async def org(op: dict[str, str], kind: str) -> tuple[str, dict[str, str]]:
            email = f"b-{uuid.uuid4().hex[:10]}@bench.cn"
            o = await call(
                "POST",
                "/organizations",
                json={
                    "name": f"{kind}-{uuid.uuid4().hex[:6]}",
                    "kind": kind,
                    "credit_code": storm.uscc(),
                    "admin": {"email": email, "password": PASSWORD, "name": "b"},
                },
            )
            await call("POST", f"/organizations/{o['id']}/verify", op)
            return o["id"], await login(email, PASSWORD)

        op = await login(OPERATOR_EMAIL, PASSWORD)
        _, seller = await org(op, "university")
        made = []
        for _ in range(listings):
            p = await call(
                "POST",
                "/patents",
                seller,
                json={
                    "application_number": storm.patno(),
                    "title": "基准测试专利",
                    "abstract": "a",
                    "ipc_codes": [],
                    "inventors": ["x"],
                    "filing_date": "2019-03-15",
                    "grant_date": "2021-01-01",
                    "annual_fee_paid_until": "2030-12-31",
                },
            )
            lst = await call(
                "POST",
                "/listings",
                seller,
                json={
                    "title": "基准",
                    "summary": "s",
                    "patent_ids": [p["id"]],
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
            await call("POST", f"/listings/{lst['id']}/submit", seller)
            await call("POST", f"/listings/{lst['id']}/approve", op)
            made.append(await call("GET", f"/listings/{lst['id']}", seller))
        hot = made[0]
        tokens = []
        for _ in range(bidders):
            oid, auth = await org(op, "enterprise")
            await call(
                "POST",
                "/ledger/payments",
                op,
                json={"organization_id": oid, "amount": "1000000000.00", "bank_reference": uuid.uuid4().hex},
            )
            await call("POST", f"/listings/{hot['id']}/registrations", auth, json={})
            tokens.append(auth["Authorization"].split()[1])
        end = max(storm.datetime_parse(m["listing_ends_at"]) for m in made)
        now = storm.datetime_parse((await call("GET", "/sandbox/clock", op))["now"])
        await call("POST", "/sandbox/clock", op, json={"advance_seconds": (end - now).total_seconds() + 2})
    return hot["auction_id"], hot["id"], tokens


def _bidder(driver: Driver, path: str, tokens: list[str], first_fen: int, step_fen: int) -> Any:
    """Bids of ``step_fen`` over the last from ``first_fen``, the bidders taking turns (never the leader again):
    with one increment, all accepted; with a step of 0 below the start price, all refused."""
    auths = [
        [(b"authorization", f"Bearer {t}".encode()), (b"content-type", b"application/json")] for t in tokens
    ]

    async def bid(i: int) -> int:
        fen = first_fen + i * step_fen
        body = b'{"amount":"%d.%02d"}' % (fen // 100, fen % 100)
        status, _ = await driver("POST", path, auths[i % len(auths)], body)
        return status

    return bid


def _getter(driver: Driver, path: str) -> Any:
    async def get(_: int) -> int:
        status, _ = await driver("GET", path)
        return status

    return get


async def run_product(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    kw = _measure_options(args)
    app = _product(url, sandbox=True, log_file=tmp / "requests.log")
    async with lifespan(app):
        auction_id, listing_id, tokens = await setup_market(app, bidders=args.bidders, listings=args.listings)
        bids = f"/api/v1/auctions/{auction_id}/bids"
        if "bid" in args.only:
            bid = _bidder(Driver(app), bids, tokens, 10_000_00, 100)
            out["bid"] = await measure("product bid", bid, expect=201, **kw)
        if "refused" in args.only:
            refused = _bidder(Driver(app), bids, tokens, 1_00, 0)
            out["refused"] = await measure("product refused", refused, expect=409, **kw)
    if not set(args.only) - {"bid", "refused"}:
        return out
    app = _product(url, sandbox=False, log_file=tmp / "requests.log")
    async with lifespan(app):
        driver = Driver(app)
        paths = {
            "healthz": "/healthz",
            "auction": f"/api/v1/auctions/{auction_id}",
            "listings": "/api/v1/listings?limit=20",
            "listing": f"/api/v1/listings/{listing_id}",
        }
        for name, path in paths.items():
            if name in args.only:
                out[name] = await measure(f"product {name}", _getter(driver, path), expect=200, **kw)
    return out


# --- the bare endpoint -------------------------------------------------------------------------------------------


async def run_bare(bare_db: str, args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, Any]]:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    bare = _yardstick("bare_bid_server")
    out: dict[str, dict[str, Any]] = {}
    kw = _measure_options(args)
    # seed() runs its own event loop for PostgreSQL: in a thread of its own, beside this one
    ids = await asyncio.to_thread(bare.seed, bare_db, 1)
    tokens = {uuid.uuid4().hex: f"bidder-{i}" for i in range(args.bidders)}
    app = bare.build(bare_db, tokens)

    async def healthz(_: Any) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app.router.routes.append(Route("/healthz", healthz))
    async with lifespan(app):
        driver = Driver(app)
        if "bid" in args.only:
            bid = _bidder(driver, f"/api/v1/auctions/{ids[0]}/bids", list(tokens), 10_000_00, 100)
            out["bid"] = await measure("bare bid", bid, expect=201, **kw)
        if "refused" in args.only:
            refused = _bidder(driver, f"/api/v1/auctions/{ids[0]}/bids", list(tokens), 1_00, 0)
            out["refused"] = await measure("bare refused", refused, expect=409, **kw)
        if "auction" in args.only:
            get = _getter(driver, f"/api/v1/auctions/{ids[0]}")
            out["auction"] = await measure("bare auction", get, expect=200, **kw)
        if "healthz" in args.only:
            out["healthz"] = await measure("bare healthz", _getter(driver, "/healthz"), expect=200, **kw)
    return out


@contextlib.contextmanager
def bare_database(admin_url: str | None, tmp: Path) -> Any:
    """An empty database for the bare endpoint's two tables (the product's would collide with them)."""
    from sqlalchemy.engine import make_url

    if not (admin_url and admin_url.startswith("postgresql")):
        yield f"sqlite:///{tmp}/bare.db"
        return
    name = f"bench_bare_{os.getpid()}"
    asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name, drivername="postgresql")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="PostgreSQL admin URL (scratch databases are made beside it)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per round and route")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per route; the best one counts")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--bidders", type=int, default=16)
    ap.add_argument("--listings", type=int, default=25)
    ap.add_argument("--only", nargs="+", choices=ROUTES, default=list(ROUTES))
    ap.add_argument(
        "--calls",
        type=int,
        default=200,
        help="count Python function calls per request over this many more requests (0: skip): a figure that "
        "other load on the machine does not change, to compare two versions on a busy machine",
    )
    ap.add_argument("--no-bare", action="store_true", help="measure the product alone (for a profile)")
    ap.add_argument(
        "--profile-dir",
        type=Path,
        help="keep the profile of the --calls requests of each route and target here (<target>-<route>.prof)",
    )
    args = ap.parse_args()
    backend = "postgresql" if (args.database_url or "").startswith("postgresql") else "sqlite"
    with tempfile.TemporaryDirectory(prefix="request-cost-") as tmpdir:
        tmp = Path(tmpdir)
        bare: dict[str, dict[str, Any]] = {}
        if not args.no_bare:
            with bare_database(args.database_url, tmp) as bare_db:
                bare = asyncio.run(run_bare(bare_db, args, tmp))
        with fresh_database(args.database_url, "cost") as url:
            product = asyncio.run(run_product(url, args, tmp))
    head = (
        f"{'route':<10} {'product µs CPU':>15} {'bare µs CPU':>12} {'bare/product':>13} {'calls/request':>14}"
    )
    print(f"{head}   ({backend})")
    result: dict[str, Any] = {"db": backend, "requests": args.requests, "rounds": args.rounds}
    for name in ROUTES:
        if name not in product:
            continue
        p, b = product[name], bare.get(name)
        ratio = round(b["cpu_us"] / p["cpu_us"], 3) if b else None
        bare_text = f"{b['cpu_us']:>12.1f}" if b else f"{'—':>12}"
        ratio_text = f"{ratio:>13.3f}" if ratio is not None else f"{'—':>13}"
        calls_text = f"{p['calls']:>14}" if "calls" in p else f"{'—':>14}"
        print(f"{name:<10} {p['cpu_us']:>15.1f} {bare_text} {ratio_text} {calls_text}")
        result[name] = {"product": p, "bare": b, "ratio": ratio}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
