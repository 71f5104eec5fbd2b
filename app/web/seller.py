"""The seller's desk (SPEC §19.4 ``/seller``, ``/seller/listings/new``, ``/seller/import``): an organization's
own patents, listings, the open offers on them, its deals as seller and the contracts it has to sign; a form for
a new listing; the stock-taking import. Organization members only (operators: the 403 page; signed out: the
login page).

The pages call the services of the API's routes with the same principal, so every rule and refusal is the
API's. Their actions are plain HTML forms (the hidden ``csrf_token``) that answer with a redirect and a
message (``?done=`` / ``?refused=<code>``, read from fixed tables, never echoed); each action runs in a
savepoint, so a refusal leaves nothing half-done in the request's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import File, Form, Request, UploadFile
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.contracts import service as contracts
from app.deals import service as deals
from app.deals.schemas import DealOut
from app.deps import CalendarDep, ClockDep, FeesDep, OptionalPrincipalDep, SessionDep
from app.kit.errors import CodedValueError, ExchangeError, Forbidden, Unprocessable
from app.kit.money import format_fen
from app.kit.routing import ExchangeRouter
from app.kit.security import Principal
from app.listings import service as listings
from app.listings.repository import ListFilters
from app.listings.schemas import ListingCreate
from app.models.listings import AuctionFormat, ListingStatus, PricingMode, SealedPricing, TransactionKind
from app.models.trading import DealStatus, OfferStatus
from app.negotiation import service as negotiation
from app.negotiation.schemas import OfferCreate
from app.patents import importer
from app.patents import service as patents
from app.web.labels import label
from app.web.pages import page, parse_amount, require_signed_in

router = ExchangeRouter()

ROWS = 50  # rows of each table of the desk, and patents offered by the form
SHOWN_FAILURES = 200  # failed rows of an import listed on the page (the counts cover all)
DRAFT, SUBMIT = "draft", "submit"

# --- messages: fixed texts by key, so nothing a URL carries is ever shown as is -----------------------------

DONE = {
    "submitted": "已提交审核，请等待交易所审核。",
    "withdrawn": "挂牌已撤回。",
    "draft": "草稿已保存。",
    "accepted": "已接受报价，交易已生成，请按期签约。",
    "rejected": "已拒绝该报价。",
    "countered": "已还价，等待买方答复。",
}

# Refusals by the API's problem code: what the seller reads (SPEC §19.1: Chinese, never a raw code).
REFUSALS = {
    "validation_error": "输入有误，请检查标出的字段。",
    "forbidden": "您的账户无权执行此操作。",
    "organization_not_verified": "贵机构尚未通过交易所审核，暂不能挂牌或交易。",
    "not_found": "未找到该项目，或您无权操作。",
    "invalid_state": "当前状态下不能执行此操作。",
    "invalid_deposit": "保证金须大于零且不超过价格的 30%。",
    "invalid_auction": "竞价设置无法执行（时间超出允许范围或减价到底价超过 30 天）。",
    "patent_not_transferable": "所选专利不可交易（须为本机构所有、有效，且未届满、失效、被宣告无效或被法院保全）。",
    "patent_already_listed": "所选专利已在其他有效的转让或独占、排他许可挂牌中。",
    "open_license_active": "所选专利已声明开放许可，不能独占或排他许可。",
    "patent_pledged": "所选专利已质押，质权人尚未同意本次挂牌。",
    "co_owners_differ": "所选专利的共有人或份额不同，不能在同一挂牌中。",
    "co_owner_consent_required": "尚需其他共有人同意本次挂牌。",
    "use_right_conflict": "所选专利上的使用权与本次交易冲突。",
    "unsupported_character": "含有无法打印的字符，请修改后重试。",
    "relist_price_too_low": "重新挂牌的价格不得低于原价的 80%。",
    "relist_terms_fixed": "重新挂牌不能更改专利和交易类型。",
    "offer_expired": "该报价已过期。",
    "offer_already_open": "已有待答复的报价。",
    "idempotency_in_progress": "操作处理中，请稍候。",
}
GENERIC_REFUSAL = "操作未完成，请稍后重试。"

# Where a refusal belongs in the listing form, by code (refusals of the terms also name their field).
_FIELD_OF_CODE = {
    "invalid_deposit": "deposit",
    "invalid_auction": "auction",
    "patent_not_transferable": "patent_ids",
    "patent_already_listed": "patent_ids",
    "open_license_active": "patent_ids",
    "patent_pledged": "patent_ids",
    "co_owners_differ": "patent_ids",
    "co_owner_consent_required": "patent_ids",
    "use_right_conflict": "patent_ids",
}

# A field's refusal by the kind of error Pydantic reports (the API's 422 ``errors[]``).
_FIELD_MESSAGES = {
    "missing": "必填",
    "string_too_short": "必填",
    "too_short": "请至少选择一项",
    "string_too_long": "内容过长",
    "too_long": "选择过多",
    "int_parsing": "请输入整数",
    "int_type": "请输入整数",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "enum": "请从列表中选择",
    "uuid_parsing": "请从列表中选择",
    "bool_parsing": "请从列表中选择",
}

IMPORT_REASONS = {
    "invalid_patent_number": "申请号格式或校验位有误",
    "patent_exists": "该专利已由其他机构登记",
    "patent_locked": "该专利正在挂牌、开放许可或未结算的交易中，暂不能修改",
    "duplicate_in_file": "文件中重复出现该申请号",
    "missing_value": "缺少必填内容",
    "invalid_date": "日期无效（格式如 2020-03-15，不得晚于今天）",
    "invalid_ipc_code": "IPC 分类号格式有误（如 H01M 10/0525）",
    "invalid_value": "内容含有不允许的字符",
    "invalid_row": "该行的列数与表头不符",
    "value_too_long": "内容过长",
    "unsupported_character": "含有无法打印的字符",
}
INVALID_CSV = '文件无法读取，请另存为"CSV UTF-8"格式后重新上传。'
TEMPLATE_CSV = "\ufeff" + ",".join(importer.COLUMNS) + "\r\n"


def _member(request: Request, principal: Principal | None) -> Principal:
    """Organization members only: signed out → the login page; operators → the 403 page (as /dashboard)."""
    who = require_signed_in(request, principal)
    if who.is_operator or who.organization_id is None:
        raise Forbidden("Operators have their own desk.")
    return who


def _refusal(code: str) -> str:
    return REFUSALS.get(code, GENERIC_REFUSAL)


def _back(done: str | None = None, refused: str | None = None) -> RedirectResponse:
    query = {"done": done} if done else {"refused": refused or "error"}
    return RedirectResponse("/seller?" + urlencode(query), status_code=303)


# --- the desk ------------------------------------------------------------------------------------------------


@router.get("/seller")
async def seller_desk(
    request: Request, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """Own patents, own listings (with a rejection's reason), open offers on them, deals as seller and the
    contracts awaiting the seller's signature, read through the API's services."""
    who = _member(request, principal)
    org_id = who.organization_id
    assert org_id is not None
    now = clock.now()
    params = request.query_params
    own_patents, patents_next = await patents.list_patents(
        session,
        who,
        patents.PatentFilters(owner_org_id=org_id),
        limit=ROWS,
        cursor=params.get("patents") or None,
        clock=clock,
    )
    rows, listings_next = await listings.list_listings(
        session, who, ListFilters(seller_org_id=org_id), limit=ROWS, cursor=params.get("listings") or None
    )
    own_listings = await listings.present(session, rows, clock)
    offers: list[tuple[dict[str, Any], str]] = []
    for listing in own_listings:
        if listing.pricing_mode != PricingMode.negotiated or listing.status != ListingStatus.published:
            continue
        open_offers, _ = await negotiation.list_listing_offers(
            session, who, listing.id, status=OfferStatus.open, now=now, limit=ROWS, cursor=None
        )
        offers += [(negotiation.present(o, now).model_dump(mode="json"), listing.title) for o in open_offers]
    sold, _ = await deals.list_deals(session, who, role="seller", limit=ROWS, cursor=None)
    to_sign = []
    for deal in sold:
        if deal.status == DealStatus.awaiting_signatures and deal.contract_id is not None:
            contract, _, signatures = await contracts.get_contract(session, who, deal.contract_id)
            signed = any(s.organization_id == org_id for s in signatures)
            to_sign.append((contract, DealOut.model_validate(deal).model_dump(mode="json"), signed))
    done = DONE.get(params.get("done", ""))
    refused = params.get("refused")
    return page(
        request,
        "seller.html",
        patents=own_patents,
        patents_next="/seller?" + urlencode({"patents": patents_next}) if patents_next else None,
        listings_next="/seller?" + urlencode({"listings": listings_next}) if listings_next else None,
        listings=[x.model_dump(mode="json") for x in own_listings],
        offers=offers,
        deals=[DealOut.model_validate(d).model_dump(mode="json") for d in sold],
        to_sign=to_sign,
        flash=done,
        refused_code=refused if refused in REFUSALS else ("error" if refused else None),
        refused=_refusal(refused) if refused else None,
        draft=ListingStatus.draft,
        withdrawable=(ListingStatus.draft, ListingStatus.pending_review, ListingStatus.published),
    )


async def _act(session: SessionDep, action: Any, done: str) -> RedirectResponse:
    """Run one seller action in a savepoint: its refusal undoes it and comes back as the API's code."""
    try:
        async with session.begin_nested():
            await action()
    except ExchangeError as exc:
        return _back(refused=exc.code)
    return _back(done=done)


@router.post("/seller/listings/{listing_id:uuid}/submit")
async def submit_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> Response:
    who = _member(request, principal)
    return await _act(session, lambda: listings.submit_listing(session, who, listing_id, clock), "submitted")


@router.post("/seller/listings/{listing_id:uuid}/withdraw")
async def withdraw_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> Response:
    who = _member(request, principal)
    return await _act(
        session, lambda: listings.withdraw_listing(session, who, listing_id, clock), "withdrawn"
    )


@router.post("/seller/offers/{offer_id:uuid}/accept")
async def accept_offer(
    request: Request,
    offer_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
    fees: FeesDep,
) -> Response:
    who = _member(request, principal)
    return await _act(
        session,
        lambda: negotiation.accept_offer(session, who, offer_id, clock, calendar, fees),
        "accepted",
    )


@router.post("/seller/offers/{offer_id:uuid}/reject")
async def reject_offer(
    request: Request,
    offer_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> Response:
    who = _member(request, principal)
    return await _act(session, lambda: negotiation.reject_offer(session, who, offer_id, clock), "rejected")


@router.post("/seller/offers/{offer_id:uuid}/counter")
async def counter_offer(
    request: Request,
    offer_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    price: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    who = _member(request, principal)
    try:
        body = OfferCreate.model_validate({"price": _amount(price)})
    except ValidationError:
        return _back(refused="validation_error")
    return await _act(
        session, lambda: negotiation.counter_offer(session, who, offer_id, body, clock), "countered"
    )


def _amount(text: str) -> str:
    """An amount as typed (``¥1,250,000``) in the API's form (``1250000.00``); what cannot be read is passed
    on as typed, for the API's own refusal."""
    try:
        return format_fen(parse_amount(text))
    except ValueError:
        return text.strip()


# --- a new listing -------------------------------------------------------------------------------------------

TEXT_FIELDS = ("title", "summary")
AMOUNT_FIELDS = ("price", "deposit")
INT_FIELDS = ("listing_days", "extension_days", "max_extensions", "min_bidders_for_auction")
LICENSE_FIELDS = ("term_months", "territory", "field_of_use")
AUCTION_AMOUNTS = ("increment", "reserve_price", "decrement", "floor_price")
AUCTION_INTS = ("free_bidding_minutes", "countdown_seconds", "step_seconds")
LICENSE_KINDS = (
    TransactionKind.exclusive_license,
    TransactionKind.sole_license,
    TransactionKind.nonexclusive_license,
)
FORM_KINDS = [k for k in TransactionKind if k != TransactionKind.equity_contribution] + [
    TransactionKind.equity_contribution
]


@dataclass
class PatentChoice:
    view: patents.PatentView
    refusal: str | None  # the API's code, None when it may be picked
    reason: str | None  # the refusal in Chinese, with the patent's own facts


def _reason(code: str, view: patents.PatentView, kind: TransactionKind) -> str:
    if code == "patent_not_transferable":
        if view.preserved:
            return "已被法院保全"
        status = label(view.legal_status, "legal_status")
        return f"法律状态为“{status}”，不能用于{label(kind, 'transaction_kind')}"
    if code == "patent_already_listed":
        return "已在其他有效的转让或独占、排他许可挂牌中"
    if code == "open_license_active":
        return "已声明开放许可"
    if code == "patent_pledged":
        return "已质押，需质权人同意"
    return _refusal(code)


def _choice(value: str | None, kind: Any, default: Any) -> Any:
    try:
        return kind(value) if value else default
    except ValueError:
        return default


async def _patent_choices(
    session: SessionDep, who: Principal, kind: TransactionKind, q: str, clock: ClockDep
) -> list[PatentChoice]:
    org_id = who.organization_id
    assert org_id is not None
    views, _ = await patents.list_patents(
        session,
        who,
        patents.PatentFilters(owner_org_id=org_id, q=q[:200] or None),
        limit=ROWS,
        cursor=None,
        clock=clock,
    )
    return await _choices_of(session, who, views, kind, clock)


async def _choices_of(
    session: SessionDep,
    who: Principal,
    views: list[patents.PatentView],
    kind: TransactionKind,
    clock: ClockDep,
) -> list[PatentChoice]:
    """Each patent with the code the listing service would refuse it with for this kind (none: pickable)."""
    assert who.organization_id is not None
    refused = await listings.patent_refusals(
        session, seller_org_id=who.organization_id, patent_ids=[v.id for v in views], kind=kind, clock=clock
    )
    return [
        PatentChoice(v, refused.get(v.id), _reason(refused[v.id], v, kind) if v.id in refused else None)
        for v in views
    ]


def _form_page(
    request: Request,
    *,
    mode: PricingMode,
    kind: TransactionKind,
    q: str,
    choices: list[PatentChoice],
    values: dict[str, Any],
    picked: list[str],
    errors: dict[str, tuple[str, str]],
    problem: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "seller_listing_form.html",
        status=status,
        mode=mode,
        kind=kind,
        q=q,
        choices=choices,
        values=values,
        picked=picked,
        errors=errors,
        problem=problem,
        problem_message=errors["form"][1] if "form" in errors else (_refusal(problem) if problem else None),
        modes=list(PricingMode),
        kinds=FORM_KINDS,
        licensed=kind in LICENSE_KINDS,
        formats=[AuctionFormat.english] if mode == PricingMode.listed else list(AuctionFormat),
        sealed_pricings=list(SealedPricing),
    )


@router.get("/seller/listings/new")
async def new_listing(
    request: Request, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """Step one picks the pricing mode and the transaction kind (a GET form: the fields and the patents that
    may be picked follow them); step two is the listing form itself."""
    who = _member(request, principal)
    params = request.query_params
    mode = _choice(params.get("pricing_mode"), PricingMode, PricingMode.negotiated)
    kind = _choice(params.get("transaction_kind"), TransactionKind, TransactionKind.assignment)
    q = params.get("q", "").strip()
    choices = await _patent_choices(session, who, kind, q, clock)
    return _form_page(request, mode=mode, kind=kind, q=q, choices=choices, values={}, picked=[], errors={})


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _body(form: FormData, mode: PricingMode, kind: TransactionKind) -> dict[str, Any]:
    """The API's request body from the form: empty fields left out (the API's defaults apply), amounts in
    the API's form, the licence and auction parts only where the kind and mode have them."""
    body: dict[str, Any] = {
        "title": _text(form, "title").strip(),
        "summary": _text(form, "summary").strip(),
        "patent_ids": [v for v in form.getlist("patent_ids") if isinstance(v, str)],
        "transaction_kind": kind.value,
        "pricing_mode": mode.value,
    }
    for name in AMOUNT_FIELDS:
        if _text(form, name).strip():
            body[name] = _amount(_text(form, name))
    for name in INT_FIELDS:
        if name == "min_bidders_for_auction" and mode != PricingMode.listed:
            continue
        if _text(form, name).strip():
            body[name] = _text(form, name).strip()
    body["requires_qualification_review"] = _text(form, "requires_qualification_review") == "on"
    if kind in LICENSE_KINDS:
        body["license"] = {
            name: _text(form, f"license.{name}").strip()
            for name in LICENSE_FIELDS
            if _text(form, f"license.{name}").strip()
        }
    if mode != PricingMode.negotiated and (mode == PricingMode.auction or _text(form, "auction.increment")):
        auction: dict[str, Any] = {"format": _text(form, "auction.format") or AuctionFormat.english.value}
        for name in AUCTION_AMOUNTS:
            if _text(form, f"auction.{name}").strip():
                auction[name] = _amount(_text(form, f"auction.{name}"))
        for name in AUCTION_INTS:
            if _text(form, f"auction.{name}").strip():
                auction[name] = _text(form, f"auction.{name}").strip()
        if _text(form, "auction.sealed_pricing"):
            auction["sealed_pricing"] = _text(form, "auction.sealed_pricing")
        body["auction"] = auction
    return body


def _field_errors(exc: ValidationError) -> dict[str, tuple[str, str]]:
    """field (dotted, as the form names it) → (code, Chinese message), from the API's ``errors[]``."""
    found: dict[str, tuple[str, str]] = {}
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
        field = ".".join(loc) or "form"
        err = (error.get("ctx") or {}).get("error")
        code = err.code if isinstance(err, CodedValueError) else "validation_error"
        if isinstance(err, CodedValueError) and code in REFUSALS:
            message = REFUSALS[code]
        elif "NUL" in str(error.get("msg", "")):
            message = "不能包含控制字符"
        elif "amount" in str(error.get("msg", "")).lower() or field in AMOUNT_FIELDS:
            message = "金额格式如 1250000.00"
        else:
            message = _FIELD_MESSAGES.get(str(error.get("type", "")), "输入有误")
        found.setdefault(field, (code, message))
    return found


def _problem_errors(exc: ExchangeError) -> dict[str, tuple[str, str]]:
    """A service's refusal, at the field its ``errors[].loc`` or its code names."""
    message = _refusal(exc.code)
    fields = []
    if isinstance(exc, Unprocessable):
        for error in exc.errors:
            loc = [str(p) for p in error.get("loc", ()) if p != "body" and not isinstance(p, int)]
            if loc:
                fields.append(".".join(loc))
    if not fields and exc.code in _FIELD_OF_CODE:
        fields.append(_FIELD_OF_CODE[exc.code])
    if exc.code == "validation_error" and isinstance(exc, Unprocessable) and exc.errors:
        message = "输入有误：" + str(exc.errors[0].get("msg", ""))
    return {field: (exc.code, message) for field in fields}


@router.post("/seller/listings/new")
async def create_listing(
    request: Request, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> Response:
    """Save a draft, or save and submit it for review (one step: a refused submission saves nothing), through
    the API's services; a refusal shows the form again as typed, with each field's code and message."""
    who = _member(request, principal)
    async with request.form(max_files=0, max_fields=400) as form:
        mode = _choice(_text(form, "pricing_mode"), PricingMode, PricingMode.negotiated)
        kind = _choice(_text(form, "transaction_kind"), TransactionKind, TransactionKind.assignment)
        submit = _text(form, "action") == SUBMIT
        values = {key: _text(form, key) for key in form if key not in ("patent_ids", "csrf_token")}
        body = _body(form, mode, kind)
    picked = list(body["patent_ids"])
    try:
        data = ListingCreate.model_validate(body)
    except ValidationError as exc:
        errors = _field_errors(exc)
        problem, status = "validation_error", 422
    else:
        try:
            async with session.begin_nested():
                listing = await listings.create_listing(session, who, data, clock)
                if submit:
                    await listings.submit_listing(session, who, listing.id, clock)
        except ExchangeError as exc:
            errors, problem, status = _problem_errors(exc), exc.code, exc.status
        else:
            return _back(done="submitted" if submit else DRAFT)
    choices = await _patent_choices(session, who, kind, "", clock)
    shown = {str(c.view.id) for c in choices}
    # A picked patent beyond the picker's first page (a search found it): offered again, so the choice stays.
    more = [uuid.UUID(p) for p in picked if p not in shown and _is_uuid(p)][:ROWS]
    if more:
        views = []
        for patent_id in more:
            try:
                views.append(await patents.get_patent(session, who, patent_id, clock))
            except ExchangeError:
                continue
        choices += await _choices_of(session, who, views, kind, clock)
    return _form_page(
        request,
        mode=mode,
        kind=kind,
        q="",
        choices=choices,
        values=values,
        picked=picked,
        errors=errors,
        problem=problem,
        status=status,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- the stock-taking import ----------------------------------------------------------------------------------


def _import_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    base: dict[str, Any] = {"report": None, "invalid": None, "problem": None}
    base.update(context)
    return page(request, "seller_import.html", status=status, **base)


@router.get("/seller/import")
async def import_form(request: Request, principal: OptionalPrincipalDep) -> HTMLResponse:
    _member(request, principal)
    return _import_page(request)


@router.get("/seller/import/template.csv")
async def import_template(request: Request, principal: OptionalPrincipalDep) -> Response:
    """The header of SPEC §4's format, UTF-8 with a BOM (so Excel opens it as UTF-8)."""
    _member(request, principal)
    return Response(
        TEMPLATE_CSV.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="patents-template.csv"'},
    )


@router.post("/seller/import")
async def import_patents(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """``POST /api/v1/patents/import``'s service with the same principal and the same size limit (the
    request guard's upload limit); its counts and failed rows, or ``invalid_csv`` with how to save the file."""
    who = _member(request, principal)
    try:
        who.verified_org_id()
    except ExchangeError as exc:
        return _import_page(request, status=exc.status, problem=exc.code, invalid=_refusal(exc.code))
    if file is None or not file.filename:
        return _import_page(request, status=422, problem="validation_error", invalid="请选择要上传的文件。")
    try:
        async with session.begin_nested():
            report = await importer.import_patents(session, who, file.file, clock)
    except ExchangeError as exc:
        message = INVALID_CSV if exc.code == "invalid_csv" else _refusal(exc.code)
        return _import_page(request, status=exc.status, problem=exc.code, invalid=message)
    failed = [(f.row, f.code, IMPORT_REASONS.get(f.code, "该行无法导入")) for f in report.failed]
    return _import_page(
        request,
        report=report,
        failed=failed[:SHOWN_FAILURES],
        hidden_failures=max(0, len(failed) - SHOWN_FAILURES),
    )
