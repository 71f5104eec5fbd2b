"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from app import web
from app.auctions.events import close_hubs
from app.config import Settings, get_settings
from app.deadlines.kinds import load as load_deadline_kinds
from app.deadlines.sweeper import business_now, sweep_context, sweep_loop
from app.deals.fees import load_schedule
from app.deps import PUBLIC_ROUTES, SECURITY
from app.kit import param_fields
from app.kit.admission import AdmissionMiddleware
from app.kit.clock import Clock, SystemClock
from app.kit.db import Database, create_database
from app.kit.errors import install_error_handlers
from app.kit.logging import configure_logging
from app.kit.middleware import RequestContextMiddleware, RequestGuardMiddleware, index_route_templates
from app.kit.openapi import install as install_openapi
from app.kit.pagecache import VersionedCache
from app.kit.security import use_fast_password_hashing
from app.kit.workdays import WorkdayCalendar
from app.web import docs
from app.webhooks.deliveries import run_worker as run_webhook_worker

API_PREFIX = "/api/v1"
# Rendered pages of the public search each process keeps (a page of 100 listings is ~100 KB).
LISTING_PAGES_KEPT = 256
# The garbage collector's thresholds in a server (Python's default: 700, 10, 10). A request allocates thousands
# of objects; with 700 the young collections ran every few requests and promoted the objects of the requests
# still in flight, and a full collection followed every ~1.5 s under load, 13-26 ms each, with nothing to
# collect: ~5% of the CPU, and a pause of every request in flight. Requests leave no reference cycles
# (tests/auctions/test_bid_path.py), so collecting less often keeps little garbage longer.
GC_THRESHOLDS = (7_000, 20, 100)

TAGS = [
    {"name": "auth", "description": "Tokens and the signed-in user."},
    {"name": "organizations", "description": "Organizations, verification, members, API keys (SPEC §3)."},
    {"name": "patents", "description": "The patent registry and stock-taking import (SPEC §4)."},
    {"name": "listings", "description": "Listings, review and public search (SPEC §5)."},
    {
        "name": "ledger",
        "description": "Exchange accounts, bank payments, withdrawals, trial balance (SPEC §6).",
    },
    {
        "name": "registrations",
        "description": "Registration for listed and auction listings, with deposits (SPEC §7).",
    },
    {"name": "offers", "description": "Negotiated pricing: offers, counters, acceptance (SPEC §8)."},
    {
        "name": "auctions",
        "description": "English, sealed and Dutch auctions: bids, acceptance, closing, live events (SPEC §10).",
    },
    {"name": "deals", "description": "Deals from offers, listings, auctions and open licences (SPEC §11)."},
    {"name": "rewards", "description": "Inventor reward plans of settled deals (SPEC §12)."},
    {
        "name": "open-licenses",
        "description": "Open licensing: declarations, review, licences taken and settled at once (SPEC §13).",
    },
    {"name": "pledges", "description": "Pledges of patents, the pledgee's consents and releases (SPEC §14)."},
    {"name": "contracts", "description": "Contracts of deals: text, hash, signing, PDF (SPEC §11)."},
    {
        "name": "notices",
        "description": "Public notice of negotiated deals of public institutions, and objections (SPEC §8).",
    },
    {
        "name": "settlement",
        "description": "Payment, settlement, transfer-registration tasks and licence records (SPEC §11).",
    },
    {"name": "certificates", "description": "Public transaction certificates (交易凭证), PDFs (SPEC §11)."},
    {"name": "statistics", "description": "Turnover of settled deals and organizations' patents (SPEC §15)."},
    {"name": "audit", "description": "The hash-chained audit trail (SPEC §15)."},
    {
        "name": "tech-contracts",
        "description": "Technology-contract registration (技术合同认定登记) of settled deals (SPEC §18.7).",
    },
    {"name": "exports", "description": "CSV exports of deals and patents for operators (SPEC §18.7)."},
    {
        "name": "trials",
        "description": "Trial licences 先使用后付费: offers, trials and their conversion (SPEC §18.3).",
    },
    {"name": "royalties", "description": "Royalty reports of royalty-bearing licences (SPEC §18.4)."},
    {
        "name": "filings",
        "description": "CNIPA filings of transfer tasks and licence records, and their overdue flags (SPEC §18.6).",
    },
    {"name": "dossier", "description": "Decision records and each deal's dossier, 安心屋 (SPEC §18.7)."},
    {
        "name": "notifications",
        "description": "Watchlists, saved searches and each organization's inbox of notifications (SPEC §17.4).",
    },
    {"name": "webhooks", "description": "Signed webhook deliveries of notifications (SPEC §17.5)."},
    {
        "name": "demands",
        "description": "Technology demands, responses and supply-demand matching (SPEC §17.6).",
    },
    {
        "name": "calendar",
        "description": "The working-day calendar deadlines are counted in; operators load new years (SPEC §21).",
    },
    {
        "name": "sandbox",
        "description": "The sandbox business clock (SPEC §2); 404 unless EXCHANGE_SANDBOX=true.",
    },
    {"name": "operations", "description": "Health, readiness and metrics (SPEC §16)."},
]


def _operation_id(route: APIRoute) -> str:
    """Readable operation ids for client generators: the endpoint function's name (unique by test)."""
    return route.name


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, db: Database | None = None
) -> FastAPI:
    """Build the app. Tests pass their own ``db`` (shared across apps, disposed by them)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    param_fields.install()  # FastAPI reads each parameter's declaration once, not on every request
    if settings.fast_password_hashing:
        use_fast_password_hashing()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if db is not None:
            yield
            return
        app.state.db = create_database(settings.database_url)
        # Every process sweeps deadlines; claims keep processes from repeating each other's work.
        sweeper = asyncio.create_task(
            sweep_loop(sweep_context(app), lambda: business_now(app), settings.sweeper_interval_seconds)
        )
        # Every process delivers webhooks too, unless its settings leave that to others.
        webhooks = asyncio.create_task(
            run_webhook_worker(app) if settings.webhook_worker else asyncio.Event().wait()
        )
        index_route_templates(app)  # the metrics' route labels, before the first request rather than in it
        # Everything built so far (routes, models, statements, schemas: most of the heap) lives as long as the
        # process: move it out of the garbage collector's generations, so that a full collection walks what
        # requests allocate, not the whole application.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            sweeper.cancel()
            webhooks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            with contextlib.suppress(asyncio.CancelledError):
                await webhooks
            await close_hubs()
            await app.state.db.dispose()

    app = FastAPI(
        title="Patent Exchange API",
        version="1.0.0",
        description=(
            "Backend of a provincial patent exchange: organizations list the patents they hold, companies "
            "find them, register with a deposit, negotiate, bid, sign and pay; operators review, settle and "
            "certify. Money is a string of yuan with two decimals; times are UTC ISO 8601. Errors are RFC 9457 "
            "problem details with a stable `code`."
        ),
        openapi_tags=TAGS,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry instrumentation, off: the exchange exports Prometheus metrics
        # (app.kit.metrics), and even idle it asked the environment for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        docs_url=None,  # served from this server's own assets: app.web.docs
        redoc_url=None,
    )
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    app.state.clock = clock or SystemClock()
    app.state.calendar = WorkdayCalendar.from_file(settings.holiday_file)
    app.state.fees = (
        load_schedule(settings.fee_schedule_file) if settings.fee_schedule_file else load_schedule()
    )

    # The public search's pages as rendered, while what they show is unchanged (app.kit.pagecache): a market's
    # front page is its most frequent read.
    app.state.listing_pages = VersionedCache(LISTING_PAGES_KEPT)
    load_deadline_kinds()
    install_error_handlers(app)
    web.install_middleware(app)  # sessions, CSRF and the pages' headers (SPEC §19.2), inside the guard
    # PostgreSQL: requests wait their turn, first come first served, instead of for the pool's connections.
    app.add_middleware(AdmissionMiddleware, state=app.state)
    app.add_middleware(
        RequestGuardMiddleware, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Idempotent-Replayed"],
        )
    app.add_middleware(RequestContextMiddleware)

    from app.accounts.router import router as accounts_router
    from app.auctions.router import router as auctions_router
    from app.audit.router import router as audit_router
    from app.calendar.router import router as calendar_router
    from app.contracts.router import contracts_router, notices_router
    from app.deals.router import router as deals_router
    from app.demands.router import router as demands_router
    from app.dossier.router import router as dossier_router
    from app.equity.router import router as equity_router
    from app.exports.router import router as exports_router
    from app.filings.router import router as filings_router
    from app.ledger.router import router as ledger_router
    from app.licensing.router import router as licensing_router
    from app.listings.router import router as listings_router
    from app.negotiation.router import router as negotiation_router
    from app.notifications.router import router as notifications_router
    from app.ops.router import router as ops_router
    from app.owners.router import router as owners_router
    from app.patents.router import router as patents_router
    from app.pledges.router import router as pledges_router
    from app.registrations.router import router as registrations_router
    from app.rewards.router import router as rewards_router
    from app.royalties.router import router as royalties_router
    from app.sandbox.router import router as sandbox_router
    from app.settlement.router import certificates_router
    from app.settlement.router import router as settlement_router
    from app.stats.router import router as stats_router
    from app.techcontracts.router import router as techcontracts_router
    from app.trials.router import router as trials_router
    from app.webhooks.router import router as webhooks_router

    # Routes are matched in this order, one router after another: the health checks first (a load balancer
    # asks them every few seconds, and each router a request passes costs it a match; the API's requests
    # pass them with one look at the path), then the live market's hottest routes (bids, auction reads).
    # The documentation groups them by the ``TAGS`` order, not by this one.
    app.include_router(ops_router)
    for router in (
        auctions_router,
        accounts_router,
        patents_router,
        owners_router,
        listings_router,
        ledger_router,
        negotiation_router,
        registrations_router,
        deals_router,
        contracts_router,
        notices_router,
        settlement_router,
        certificates_router,
        stats_router,
        rewards_router,
        licensing_router,
        pledges_router,
        notifications_router,
        webhooks_router,
        demands_router,
        techcontracts_router,
        trials_router,
        royalties_router,
        filings_router,
        dossier_router,
        equity_router,
        exports_router,
        audit_router,
        calendar_router,
        sandbox_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    install_openapi(app, PUBLIC_ROUTES, SECURITY)
    docs.install(app)
    web.mount(app)  # the pages (SPEC §19): last, every path outside /api
    return app
