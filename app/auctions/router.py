"""HTTP routes of auctions (SPEC §10). HTTP only: the rules are in ``app.auctions.service``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response, status
from sqlalchemy import select

from app.auctions import deadlines, events, service
from app.auctions.schemas import AuctionOut, BidCreate, BidOut, BidPlaced, ProxyIn, ProxyOut
from app.deadlines.sweeper import business_now, sweep_context
from app.deps import (
    CalendarDep,
    ClockDep,
    FeesDep,
    IdempotencyDep,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionDep,
    get_clock,
    get_database,
)
from app.kit.errors import ExchangeError, NotFound, error_responses
from app.kit.idempotency import KeyRecord
from app.kit.metrics import BIDS_ACCEPTED, BIDS_REFUSED
from app.kit.openapi import digits_at_most
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.trading import Auction

router = ExchangeRouter(tags=["auctions"])

EVENT_ID_PATTERN = digits_at_most(events.MAX_EVENT_ID)  # checked by events.parse_last_event_id (400)


async def _close_if_due(request: Request, auction_id: uuid.UUID, now: datetime) -> None:
    """Close an open auction past its end before it is read (a lazy close: the sweeper may not have come
    yet). Reads here use short sessions of their own, never one held across the closing transaction."""
    db = get_database(request)
    async with db.read() as session:
        due = await service.past_its_end(session, auction_id, now)
    if due:
        await deadlines.close_if_due(sweep_context(request.app), auction_id, now)


@router.get(
    "/auctions/{auction_id:uuid}",
    response_model=AuctionOut,
    responses=error_responses(404, 422),
    summary="An auction's public state (never the reserve; sealed amounts only after the close)",
)
async def get_auction(auction_id: uuid.UUID, request: Request, clock: ClockDep) -> Response:
    # The most frequent request of a live auction (bidders poll it): serialised by pydantic-core directly
    # instead of being validated again against ``response_model``, which only documents it.
    now = clock.now()
    db = get_database(request)
    async with db.read_connection() as conn:
        view, due = await service.read_auction(conn, auction_id, now)
    if due:
        await deadlines.close_if_due(sweep_context(request.app), auction_id, now)
        async with db.read_connection() as conn:
            view, _ = await service.read_auction(conn, auction_id, now)
    return Response(view.model_dump_json(), media_type="application/json")


@router.get(
    "/auctions/{auction_id:uuid}/bids",
    response_model=Page[BidOut],
    responses=error_responses(401, 404, 422),
    summary="Bids, newest first, by bidder code (sealed before the close: only one's own)",
)
async def list_auction_bids(
    auction_id: uuid.UUID,
    request: Request,
    clock: ClockDep,
    principal: OptionalPrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[BidOut]:
    await _close_if_due(request, auction_id, clock.now())
    async with get_database(request).read() as session:
        rows, cursor = await service.list_bids(
            session, principal, auction_id, limit=page.limit, cursor=page.cursor
        )
    return Page(items=[BidOut.model_validate(b) for b in rows], next_cursor=cursor)


@router.post(
    "/auctions/{auction_id:uuid}/bids",
    status_code=status.HTTP_201_CREATED,
    response_model=BidPlaced,
    responses=error_responses(
        401,
        404,
        422,
        codes={
            403: ["not_qualified"],
            409: [
                "already_bid",
                "already_leading",
                "auction_not_open",
                "bid_not_increment_multiple",
                "bid_too_low",
                "conflict",
                "invalid_state",
            ],
        },
    ),
    summary="Place a bid (English or sealed) at the server's receive time",
)
async def place_bid(
    auction_id: uuid.UUID,
    body: BidCreate,
    request: Request,
    idem: IdempotencyDep,
) -> Response:
    # The request's session and caller come with ``idem``, whose dependency got them, and the clock is
    # asked directly (after the principal's statement, which read the sandbox offset too): FastAPI solves
    # each declared dependency's whole tree again, and on the hottest route that walk cost more CPU than the
    # principal's statement.
    session, principal = idem.session, idem.caller
    clock = await get_clock(request)
    db = get_database(request)
    now = clock.now()  # the bid's receive time, whatever it waits for next

    # Refusals are counted once they are the answer: a keyed bid's retry may be replayed instead.
    refusals: list[ExchangeError] = []

    async def screen() -> None:
        # A keyed bid written in a transaction (SQLite's; PostgreSQL's that cannot go alone) is refused on a
        # read before it, as others are, then its key is looked up.
        try:
            await service.screen_bid(session, principal, auction_id, body.amount, now=now, peek=db.read_first)
        except ExchangeError as exc:
            refusals.append(exc)
            raise

    async def act(key: KeyRecord | None = None) -> BidPlaced:
        try:
            placed = await service.place_bid(
                session,
                principal,
                auction_id,
                body.amount,
                now=now,
                lookup=db.read_first,
                # SQLite: a refusal read on the shared connection costs little beside the write lock it spares
                # (one writer at a time).
                peek=db.read_first if db.is_sqlite else None,
                # PostgreSQL: an English bid is one statement in autocommit (a compare-and-set), with its
                # request's key if it has one (``alone``); else the key is stored in the bid's transaction.
                alone=None if db.is_sqlite or (idem.keyed and key is None) else db.run_alone,
                key=key,
            )
        except ExchangeError as exc:
            refusals.append(exc)
            raise
        BIDS_ACCEPTED.inc()
        return placed

    try:
        return await idem.run(act, screen=screen, read=db.read_first, alone=act)
    except ExchangeError as exc:
        if exc in refusals:
            BIDS_REFUSED.labels(exc.code).inc()
        raise


@router.put(
    "/auctions/{auction_id:uuid}/proxy",
    response_model=ProxyOut,
    responses={
        201: {"model": ProxyOut, "description": "The proxy was created"},
        **error_responses(
            401,
            404,
            422,
            codes={
                403: ["not_qualified"],
                409: [
                    "auction_not_open",
                    "bid_not_increment_multiple",
                    "bid_too_low",
                    "format_not_supported",
                    "proxy_cannot_lower",
                ],
            },
        ),
    },
    summary="Leave or raise a maximum: the exchange bids for you, never more than it takes to lead",
    description="English auctions only, by a qualified registrant, from scheduling until `ends_at`. "
    "`max_amount` lies on the bid grid (start price plus whole increments) and is at least the minimum next "
    "bid. 201 when created; 200 when raised (a new `set_at`) or unchanged. A maximum is never lowered (409 "
    "`proxy_cannot_lower`) nor removed. Nobody but you sees it before the close; an open auction's proxies "
    "answer in the same transaction, and `leading` / `current_price` are the state after it.",
)
async def set_proxy(
    auction_id: uuid.UUID,
    body: ProxyIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Response:
    proxy, created = await service.set_proxy(session, principal, auction_id, body.max_amount, now=clock.now())
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Response(proxy.model_dump_json(), status_code=code, media_type="application/json")


@router.get(
    "/auctions/{auction_id:uuid}/proxy",
    response_model=ProxyOut,
    responses=error_responses(401, 404, 422),
    summary="Your own proxy on an auction (404 for anyone without one, operators included)",
)
async def get_proxy(auction_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> ProxyOut:
    return await service.get_proxy(session, principal, auction_id)


@router.post(
    "/auctions/{auction_id:uuid}/accept",
    response_model=AuctionOut,
    responses=error_responses(
        401,
        404,
        422,
        codes={
            403: ["not_qualified"],
            409: ["auction_closed", "auction_not_open", "insufficient_funds", "invalid_state"],
        },
    ),
    summary="Accept a Dutch auction's current clock price: the first acceptance wins",
)
async def accept_dutch_price(
    auction_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    fees: FeesDep,
    calendar: CalendarDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> AuctionOut:
        return await service.accept_dutch_price(
            session, principal, auction_id, now=clock.now(), fees=fees, calendar=calendar
        )

    return await idem.run(act, status_code=status.HTTP_200_OK)


@router.get(
    "/auctions/{auction_id:uuid}/events",
    response_class=events.EventStream,
    responses={
        200: {
            "description": "Server-Sent Events: `bid`, `extended`, `closed`, `failed`; `id` numbers them "
            "from 1 per auction; `data` is the public auction state (sealed: phase and close time only)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(404, 422, codes={400: ["invalid_last_event_id"]}),
    },
    summary="Live events of an auction; Last-Event-ID replays the ones after it",
)
async def stream_auction_events(
    auction_id: uuid.UUID,
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(
            description="Replay the events after this id (0: all of them): an integer 0 … 2^63−1, "
            "else 400 `invalid_last_event_id`",
            examples=["0"],
            json_schema_extra={"pattern": EVENT_ID_PATTERN},
        ),
    ] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            description="The same as the header, for a page that opens its stream (the header wins)",
            examples=["0"],
            json_schema_extra={"pattern": EVENT_ID_PATTERN},
        ),
    ] = None,
) -> events.EventStream:
    after = events.replay_after(last_event_id, last_event_id_query)
    db = get_database(request)
    async with db.read() as session:
        if await session.scalar(select(Auction.id).where(Auction.id == auction_id)) is None:
            raise NotFound("No such auction.")
    app = request.app

    async def close_if_due(ends_at: datetime | None) -> None:
        if ends_at is None:
            return
        now = await business_now(app)
        if ends_at <= now:
            await deadlines.close_if_due(sweep_context(app), auction_id, now)

    def clock(offset: timedelta) -> datetime:
        # The business clock (app.deps.get_clock): the sandbox's offset when it is on, else the app's clock.
        if app.state.settings.sandbox:
            return events.sandbox_clock(offset)
        now: datetime = app.state.clock.now()
        return now

    return events.EventStream(db, auction_id, after, close_if_due=close_if_due, clock=clock)
