"""The web client's pages (SPEC §19.4), as thin as API routes: they call the same services with the same
principal, and render what those return. Sign-in and sign-out (SPEC §19.2) are here too."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Form, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from app.accounts import service as accounts
from app.auctions import service as auctions
from app.contracts import service as contracts
from app.contracts.schemas import ObjectionIn
from app.deals import service as deals
from app.deals.schemas import DealOut
from app.deps import ClockDep, DatabaseDep, OptionalPrincipalDep, SessionDep, SettingsDep, get_database
from app.kit.clock import Clock
from app.kit.errors import ExchangeError, Forbidden, NotFound, RateLimited, Unauthorized, Unprocessable
from app.kit.money import format_fen, parse_yuan
from app.kit.proxies import client_address
from app.kit.routing import ExchangeRouter
from app.kit.schemas import contains_nul
from app.kit.security import Principal
from app.ledger import service as ledger
from app.listings import queries as listing_queries
from app.listings import service as listings
from app.listings.repository import ListFilters
from app.listings.schemas import ListingSort
from app.models.ledger import AccountKind
from app.models.listings import ListingStatus, PricingMode, TransactionKind
from app.models.trading import DealStatus, DepositStatus
from app.negotiation import service as negotiation
from app.negotiation.rules import check_listing_takes_offers
from app.negotiation.schemas import OfferCreate
from app.registrations import service as registrations
from app.registrations.service import in_listing_period
from app.settlement import service as settlement
from app.web import room, sessions
from app.web.errors import MESSAGES, SignInRequired
from app.web.labels import LABELS
from app.web.security import had_dead_cookie, live_session
from app.web.templating import STATIC_FILES, STATIC_URLS, render_template

router = ExchangeRouter()

PAGE_SIZE = 20
IMMUTABLE = "public, max-age=31536000, immutable"
EXPIRED_MESSAGE = "登录已过期，请重新登录"
WRONG_CREDENTIALS = "邮箱或密码错误"
TOO_MANY_ATTEMPTS = "尝试次数过多，请稍后再试"
# What a page says after an action that went back to it with ``?done=<key>`` (a redirect after a POST).
FLASHES = {
    "registered": "报名成功，保证金已冻结",
    "offered": "报价已提交，等待出让方答复",
    "objected": "异议已提交，交易所将审核处理",
}


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with what the layout needs: the signed-in user (nav), the CSRF token (meta, forms)."""
    live = live_session(request)
    base: dict[str, Any] = {
        "user": live,
        "csrf_token": live.csrf_token if live else None,
        "current_path": _here(request),
        "flash": FLASHES.get(request.query_params.get("done", "")),
        "labels": LABELS,
    }
    base.update(context)
    return HTMLResponse(render_template(template, base), status_code=status)


def require_signed_in(request: Request, principal: Principal | None) -> Principal:
    if principal is None:
        raise SignInRequired(_here(request))
    return principal


# --- static files -------------------------------------------------------------------------------------------


@router.get("/static/{name:path}")
async def static_file(name: str) -> Response:
    found = STATIC_FILES.get(name)
    if found is None:
        raise NotFound("No such file.")
    return FileResponse(found.path, media_type=found.media_type, headers={"Cache-Control": IMMUTABLE})


@router.get("/favicon.ico")
async def favicon() -> Response:
    found = STATIC_FILES[STATIC_URLS["favicon.svg"]]
    return FileResponse(
        found.path, media_type=found.media_type, headers={"Cache-Control": "public, max-age=86400"}
    )


# --- search and detail ----------------------------------------------------------------------------------------


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/listings", status_code=302)


_MONEY_NOISE = re.compile(r"[¥￥,，\s]")


def parse_amount(value: str) -> int:
    """An amount as a person types it: ``¥1,250,000``, ``1250000.5`` or the API's ``1250000.00``."""
    text = _MONEY_NOISE.sub("", value)
    if re.fullmatch(r"[0-9]{1,12}", text):
        text += ".00"
    elif re.fullmatch(r"[0-9]{1,12}\.[0-9]", text):
        text += "0"
    return parse_yuan(text)


def _choice(value: str, kind: type[Any], field: str, errors: dict[str, str]) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        errors[field] = "请从列表中选择"
        return None


SEARCH_FIELDS = ("q", "pricing_mode", "transaction_kind", "ipc", "min_price", "max_price", "sort")


@router.get("/listings")
async def search_page(
    request: Request, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """The API's search (``GET /api/v1/listings``) with its parameters and meaning, 20 cards a page."""
    params = request.query_params
    form = {name: params.get(name, "") for name in SEARCH_FIELDS}
    errors: dict[str, str] = {}
    q = form["q"].strip()
    ipc = form["ipc"].strip()
    if len(q) > 200:
        errors["q"] = "最多 200 个字"
    if len(ipc) > 32:
        errors["ipc"] = "最多 32 个字符"
    prices: dict[str, int | None] = {}
    for name in ("min_price", "max_price"):
        prices[name] = None
        if form[name].strip():
            try:
                prices[name] = parse_amount(form[name])
            except ValueError:
                errors[name] = "金额格式如 1250000.00"
    filters = ListFilters(
        q=q or None,
        pricing_mode=_choice(form["pricing_mode"], PricingMode, "pricing_mode", errors),
        transaction_kind=_choice(form["transaction_kind"], TransactionKind, "transaction_kind", errors),
        ipc=ipc or None,
        min_price=prices["min_price"],
        max_price=prices["max_price"],
        sort=_choice(form["sort"], ListingSort, "sort", errors),
    )
    items: list[Any] = []
    next_url = None
    if not errors:
        cursor = params.get("cursor") or None
        try:
            rows, next_cursor = await listings.list_listings(
                session, principal, filters, limit=PAGE_SIZE, cursor=cursor
            )
        except ExchangeError as exc:
            if exc.status != 422:
                raise
            errors["cursor"] = "翻页链接已失效，请重新搜索"
        else:
            items = await listings.present(session, rows, clock)
            if next_cursor:
                kept = {k: v for k, v in form.items() if v}
                next_url = "/listings?" + urlencode({**kept, "cursor": next_cursor})
    return page(
        request,
        "listings.html",
        status=422 if errors else 200,
        form=form,
        errors=errors,
        items=items,
        next_url=next_url,
        pricing_modes=list(PricingMode),
        kinds=[k for k in TransactionKind],
        sorts=list(ListingSort),
    )


_REGISTRABLE = (PricingMode.listed, PricingMode.auction)

# What a listing page's action says when the service refuses it (SPEC §19.4): the Chinese message by the
# problem's code, shown with the code; another code falls back to the error pages' message.
REFUSALS = {
    "already_registered": "您的机构已报名此项目",
    "bidder_barred": "您的机构因此前违约，不能参与此项目",
    "insufficient_funds": "账户可用余额不足",
    "invalid_state": "项目当前状态不允许此操作",
    "forbidden": "您的账户不能进行此操作",
    "organization_not_verified": "您的机构尚未通过认证",
    "offer_already_open": "您已有一个待答复的报价，请等待答复或先撤回",
    "objection_exists": "您的机构已对此交易提出异议，正在处理中",
    "validation_error": "输入有误，请检查后重试",
    "not_found": "未找到该对象，或您无权查看",
}


def refusal_message(code: str) -> str:
    return REFUSALS.get(code) or MESSAGES.get(code) or "操作未完成，请稍后重试"


async def _listing_page(
    request: Request,
    session: AsyncSession,
    principal: Principal | None,
    clock: Clock,
    listing_id: uuid.UUID,
    *,
    status: int = 200,
    refusal: ExchangeError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The listing detail with the viewer's actions (SPEC §19.4): register (a verified non-seller
    organization's member, during the listing period; the dialog shows the deposit and the available
    balance), afterwards its bidder code and status; an offer (negotiated); an objection to a deal in
    public notice; a login link when signed out. ``refusal``: what the service refused of an action."""
    row = await listings.get_listing(session, principal, listing_id)
    listing = (await listings.present(session, [row], clock))[0]
    patent_facts = await listing_queries.patent_facts(session, row.id)
    now = clock.now()
    member = (
        principal is not None
        and not principal.is_operator
        and principal.organization_id is not None
        and principal.org_verified
    )
    buyer = member and principal is not None and principal.organization_id != row.seller_org_id
    registration = None
    if principal is not None and principal.organization_id != row.seller_org_id:
        registration = await registrations.own_registration(session, principal, row.id)
    registration_open = (
        row.pricing_mode in _REGISTRABLE
        and row.status == ListingStatus.published
        and in_listing_period(row, now)
    )
    may_register = registration_open and registration is None and buyer
    available = None
    if may_register and principal is not None and principal.organization_id is not None:
        available = (await ledger.balances(session, principal.organization_id))[AccountKind.available]
    try:
        check_listing_takes_offers(row, now)
        takes_offers = True
    except ExchangeError:
        takes_offers = False
    notices = await contracts.notices_of_listing(session, row.id)
    objectable = {
        n["deal_id"]
        for n in notices
        if member
        and n["status"] == "in_notice"
        and n["notice_ends_at"] is not None
        and now < n["notice_ends_at"]
    }
    auction = None
    if row.auction_id is not None:
        auction, _ = await auctions.read_auction(await session.connection(), row.auction_id, now)
    return page(
        request,
        "listing.html",
        status=status,
        listing=listing,
        patent_facts=patent_facts,
        registration=registration,
        registration_open=registration_open,
        may_register=may_register,
        available=available,
        takes_offers=takes_offers,
        may_offer=takes_offers and buyer,
        notices=notices,
        objectable=objectable,
        auction=auction,
        login_url="/login?next=" + quote(f"/listings/{row.id}", safe="/"),
        published=listing.status != ListingStatus.draft,
        refusal=refusal,
        refusal_message=refusal_message(refusal.code) if refusal is not None else None,
        form=form or {},
    )


@router.get("/listings/{listing_id:uuid}")
async def listing_page(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> HTMLResponse:
    return await _listing_page(request, session, principal, clock, listing_id)


async def _listing_action(
    request: Request,
    session: AsyncSession,
    principal: Principal | None,
    clock: Clock,
    listing_id: uuid.UUID,
    action: Callable[[Principal], Awaitable[object]],
    *,
    done: str,
    form: dict[str, str] | None = None,
) -> Response:
    """One action of the listing page, posted by its form (with the hidden CSRF token): ``action`` calls the
    API's service with the page's principal; success goes back to the page with a flash, a refusal shows
    the page again with the Chinese message and the code, and nothing of the refused action is kept."""
    if principal is None:
        raise SignInRequired(f"/listings/{listing_id}")
    try:
        await action(principal)
    except ExchangeError as exc:
        if exc.status in (401, 404):
            raise
        await session.rollback()  # what the service did before refusing is not kept
        async with get_database(request).read() as reader:
            return await _listing_page(
                request, reader, principal, clock, listing_id, status=exc.status, refusal=exc, form=form
            )
    return RedirectResponse(f"/listings/{listing_id}?done={done}", status_code=303)


@router.post("/listings/{listing_id:uuid}/register")
async def register_for_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> Response:
    """``POST /api/v1/listings/{id}/registrations``' service: the deposit is held at once."""

    async def act(who: Principal) -> object:
        return await registrations.register(session, who, listing_id, clock)

    return await _listing_action(request, session, principal, clock, listing_id, act, done="registered")


def _invalid(field: str) -> Unprocessable:
    return Unprocessable("Check the form.", errors=[{"loc": ["body", field], "msg": "invalid"}])


@router.post("/listings/{listing_id:uuid}/offers")
async def offer_on_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    price: Annotated[str, Form(max_length=64)] = "",
    message: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """``POST /api/v1/listings/{id}/offers``' service: the price typed as people type it (¥ and commas)."""

    async def act(who: Principal) -> object:
        try:
            amount = parse_amount(price)
        except ValueError:
            raise _invalid("price") from None
        try:
            body = OfferCreate.model_validate(
                {"price": format_fen(amount), "message": message.strip() or None}
            )
        except ValidationError:
            raise _invalid("price" if amount <= 0 else "message") from None
        return await negotiation.make_offer(session, who, listing_id, body, clock)

    form = {"price": price, "message": message}
    return await _listing_action(
        request, session, principal, clock, listing_id, act, done="offered", form=form
    )


@router.post("/listings/{listing_id:uuid}/objections")
async def object_on_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    deal_id: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """``POST /api/v1/deals/{id}/objections``' service, for a deal in public notice made from this listing."""

    async def act(who: Principal) -> object:
        who.verified_org_id("Only members of verified organizations may object.")  # the API's dependency
        notices = {str(n["deal_id"]) for n in await contracts.notices_of_listing(session, listing_id)}
        if deal_id not in notices:
            raise NotFound("No such deal in this listing's notices.")
        try:
            body = ObjectionIn.model_validate({"reason": reason.strip()})
        except ValidationError:
            raise _invalid("reason") from None
        return await contracts.object_to_deal(session, who, uuid.UUID(deal_id), body.reason, now=clock.now())

    form = {"reason": reason, "deal_id": deal_id}
    return await _listing_action(
        request, session, principal, clock, listing_id, act, done="objected", form=form
    )


# --- the bidding room --------------------------------------------------------------------------------------------


@router.get("/auctions/{auction_id:uuid}")
async def auction_room(
    request: Request, auction_id: uuid.UUID, principal: OptionalPrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """The bidding room (SPEC §19.5): the API's public state, the latest bids and the viewer's standing,
    rendered for ``room.js``, which follows the auction's event stream from the rendered event on."""
    now = clock.now()
    state = await room.read_room(request.app, get_database(request), principal, auction_id, now)
    return page(
        request,
        "room.html",
        room=state,
        a=state.auction,
        now=now,
        room_countdown=room.countdown(state.auction.ends_at, now),
        login_url="/login?next=" + quote(f"/auctions/{auction_id}", safe="/"),
    )


# --- certificates -----------------------------------------------------------------------------------------------


@router.get("/certificates")
async def certificate_lookup(request: Request) -> Response:
    number = request.query_params.get("number", "").strip()
    if number:
        return RedirectResponse(f"/certificates/{quote(number, safe='')}", status_code=303)
    return page(request, "certificates.html", number="", found=None)


@router.get("/certificates/{number}")
async def certificate_page(request: Request, number: str, session: SessionDep) -> HTMLResponse:
    found = None
    if len(number) <= 32 and not contains_nul(number):
        try:
            found = await settlement.get_certificate(session, number)
        except NotFound:
            found = None
    if found is None:
        return page(request, "certificates.html", status=404, number=number, found=None)
    content = found.content
    return page(
        request,
        "certificates.html",
        number=found.number,
        found=found,
        content=content,
        settled_on=settlement.certificate_date(content),
    )


# --- sign-in and sign-out ---------------------------------------------------------------------------------------


def _login_page(
    request: Request, *, next_path: str, email: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    flash = EXPIRED_MESSAGE if had_dead_cookie(request) else None
    response = page(
        request, "login.html", status=status, next_path=next_path, email=email, error=error, flash=flash
    )
    if flash:
        settings = request.app.state.settings
        response.delete_cookie(
            sessions.cookie_name(settings),
            path="/",
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request, next_path=sessions.local_path(request.query_params.get("next")) or "")


@router.post("/login")
async def login(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The credential check and rate limits of ``POST /api/v1/auth/token``; success starts a new session
    and goes to ``next`` when it is a local path, else to the role's home."""
    next_path = sessions.local_path(next)
    if not email or not password or contains_nul(email) or contains_nul(password):
        return _login_page(
            request, next_path=next_path or "", email=email, error=WRONG_CREDENTIALS, status=401
        )
    client = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxies,
    )
    try:
        user = await accounts.authenticate(db, email, password, client)
    except RateLimited as exc:
        refused = _login_page(
            request, next_path=next_path or "", email=email, error=TOO_MANY_ATTEMPTS, status=429
        )
        refused.headers.update(exc.headers or {})
        return refused
    except Unauthorized:
        return _login_page(
            request, next_path=next_path or "", email=email, error=WRONG_CREDENTIALS, status=401
        )
    name = sessions.cookie_name(settings)
    old = request.cookies.get(name)
    value = await sessions.start(db, user.id, replacing=old)
    response = RedirectResponse(next_path or sessions.home_of(user.role), status_code=303)
    # A session cookie: no Max-Age, no Domain (SPEC §19.2).
    response.set_cookie(name, value, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(request: Request, db: DatabaseDep, settings: SettingsDep) -> Response:
    name = sessions.cookie_name(settings)
    await sessions.end(db, request.cookies.get(name))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(name, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax")
    return response


# --- desks (their content comes with the next pages of SPEC §19.4) ---------------------------------------------


DASHBOARD_ROWS = 50


@router.get("/dashboard")
async def dashboard(
    request: Request, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """An organization member's desk (SPEC §19.4): the account, registrations and their held deposits, own
    offer threads and deals as buyer, read through the services of the API's routes for them."""
    who = require_signed_in(request, principal)
    if who.is_operator or who.organization_id is None:
        raise Forbidden("Operators have their own desk.")
    now = clock.now()
    balances = await ledger.balances(session, who.organization_id)
    own = await registrations.list_own_registrations(session, who, limit=DASHBOARD_ROWS)
    regs = [
        (
            registrations.present(who, r).model_dump(mode="json"),
            listing,
            r.status in registrations.ACTIVE and in_listing_period(listing, now),
        )
        for r, listing in own
    ]
    threads = [
        (offer.model_dump(mode="json"), title)
        for offer, title in await negotiation.list_own_threads(session, who, now=now, limit=DASHBOARD_ROWS)
    ]
    rows, _ = await deals.list_deals(session, who, role="buyer", limit=DASHBOARD_ROWS, cursor=None)
    return page(
        request,
        "dashboard.html",
        org_id=who.organization_id,
        available=balances[AccountKind.available],
        held=balances[AccountKind.held],
        registrations=regs,
        held_deposits=[(r, listing) for r, listing, _ in regs if r["deposit_status"] == DepositStatus.held],
        threads=threads,
        deals=[DealOut.model_validate(d).model_dump(mode="json") for d in rows],  # the API's form
        payable=DealStatus.awaiting_payment,
    )
