"""The operator's desks (SPEC §19.4): the review queue (``/operator``), bank payments, deals to settle, the
trial balance and the audit verification. Operators only: signed out → the sign-in page, anyone else → the 403
page. Every action is a plain form (POST with the session's hidden ``csrf_token``, checked by
``app.web.security``) that calls the service the API's route calls, with the same principal, then goes back to
its desk with a message (303); a refusal shows the desk again with the reason (``role="alert"``, the
problem's code) and the problem's status. ``confirm.js`` asks for confirmation first where SPEC §19.1 wants
it; without JavaScript the forms still work."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.accounts import service as accounts
from app.audit import service as audit
from app.contracts import service as contracts
from app.deps import CalendarDep, ClockDep, OptionalPrincipalDep, SessionDep
from app.kit.errors import ExchangeError, Forbidden
from app.kit.money import format_fen
from app.kit.routing import ExchangeRouter
from app.kit.schemas import contains_nul
from app.kit.security import Principal
from app.ledger import service as ledger
from app.ledger.schemas import PaymentCreate
from app.listings import service as listings
from app.listings.schemas import ReasonIn
from app.models.contracts import ObjectionStatus
from app.models.ledger import AccountKind
from app.models.trading import Deal, DealStatus
from app.registrations import service as registrations
from app.registrations.schemas import DisqualifyIn
from app.settlement import service as settlement
from app.web import operator_queries as reads
from app.web.errors import MESSAGES, SignInRequired
from app.web.pages import page, parse_amount

router = ExchangeRouter()

# What a refusal reads on a desk, by the problem's code (else the problem's own detail).
REFUSALS = {
    "invalid_state": "状态已变化，无法执行此操作，请刷新页面",
    "not_found": "记录不存在",
    "reason_required": "请填写理由",
    "invalid_amount": "金额格式如 1250000.00，且须大于零",
    "invalid_reference": "请填写银行流水号（最多 100 个字符）",
    "organization_unknown": "未找到该机构，请填写机构全称或统一社会信用代码",
    "organization_ambiguous": "有多个同名机构，请填写统一社会信用代码",
    "payment_conflict": "该银行流水号已登记为另一机构或另一金额的到账",
    "invalid_cursor": "翻页链接已失效，请重新打开此页",
    "invalid_query": "搜索词最多 100 个字",
    "invalid_status": "请从列表中选择状态",
    "patent_pledged": "专利处于质押中，未获质权人同意",
    "patent_not_transferable": "专利当前不可转让",
    "co_owner_consent_required": "尚缺共有人同意",
    "use_right_conflict": "与已有使用权冲突",
}
# What a done action reads after the redirect, by ``?done=`` (fixed texts only: nothing a link could forge).
DONE = {
    "verified": "已认证该机构",
    "approved": "已通过审核，项目已挂牌",
    "rejected": "已退回该项目",
    "qualified": "已确认竞买资格",
    "disqualified": "已取消竞买资格，保证金已退还",
    "upheld": "异议成立，该交易已取消",
    "dismissed": "已驳回异议",
    "payment": "已登记到账",
    "payment_replayed": "该银行流水号此前已登记，未重复入账",
    "settled": "已结算",
}


class DeskRefusal(ExchangeError):
    """A desk form's own refusal (a missing reason, an organization not found…), shown on the desk."""

    status = 422
    code = "validation_error"

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(detail or REFUSALS.get(code, "输入有误"), code=code)


def _operator(request: Request, principal: Principal | None, desk: str) -> Principal:
    """Operators only: signed out → ``/login?next=<desk>`` (a form's POST comes back to its desk's page),
    anyone else → 403."""
    if principal is None:
        raise SignInRequired(desk)
    if not principal.is_operator:
        raise Forbidden("Only exchange operators may do this.")
    return principal


def _listing_query(request: Request) -> tuple[str, str | None]:
    """``?q=`` (stripped, at most 100 characters) and ``?cursor=``; the query string a desk's forms and links
    keep."""
    q = request.query_params.get("q", "").strip()
    if len(q) > reads.MAX_QUERY or contains_nul(q):
        raise DeskRefusal("invalid_query")
    return q, request.query_params.get("cursor") or None


def _kept(request: Request, *names: str) -> dict[str, str]:
    return {n: v for n in names if (v := request.query_params.get(n, "").strip())}


def _back(path: str, request: Request, done: str, **more: str) -> RedirectResponse:
    query = {**_kept(request, "q", "cursor", "status"), "done": done, **more}
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


def _message(exc: ExchangeError) -> dict[str, Any]:
    text = REFUSALS.get(exc.code) or MESSAGES.get(exc.code) or exc.detail
    return {"code": exc.code, "text": text, "status": exc.status}


async def _act(
    session: AsyncSession, action: Callable[[], Awaitable[Any]]
) -> tuple[Any, dict[str, Any] | None]:
    """Run a service call in a savepoint: a refusal undoes whatever it flushed (the desk is then shown
    with the refusal, so the request's own transaction still commits)."""
    try:
        async with session.begin_nested():
            return await action(), None
    except ExchangeError as exc:
        return None, _message(exc)


def _next_url(path: str, request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return f"{path}?{urlencode({**_kept(request, 'q', 'status'), 'cursor': cursor})}"


def _done(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


Reader = Callable[[str | None, str | None], Awaitable[tuple[Sequence[Any], str | None]]]


async def _desk(
    request: Request,
    *,
    path: str,
    template: str,
    read: Reader,
    message: dict[str, Any] | None = None,
    keep: tuple[str, ...] = ("q", "cursor"),
    **context: Any,
) -> HTMLResponse:
    """A desk's page: its rows as ``read(q, cursor)`` gives them (``?q=`` and ``?cursor=`` checked first),
    the link to the next page, the query its forms keep, and ``message``, a refusal to show with its status
    (a refusal of the query itself shows the desk empty)."""
    status = message["status"] if message else 200
    rows: Sequence[Any] = []
    next_cursor = None
    try:
        q, cursor = _listing_query(request)
        rows, next_cursor = await read(q or None, cursor)
    except ExchangeError as exc:
        message, status = _message(exc), exc.status
        q = ""
    return page(
        request,
        template,
        status=status,
        q=q,
        rows=rows,
        next_url=_next_url(path, request, next_cursor),
        action_query=urlencode(_kept(request, *keep)),
        message=message,
        **context,
    )


# --- the review queue ---------------------------------------------------------------------------------------


async def _queue_page(
    request: Request, session: AsyncSession, message: dict[str, Any] | None = None
) -> HTMLResponse:
    return await _desk(
        request,
        path="/operator",
        template="operator.html",
        read=lambda q, cursor: reads.review_queue(session, q=q, cursor=cursor),
        message=message,
        desk="queue",
        flash=_done(request),
    )


@router.get("/operator")
async def operator_desk(request: Request, session: SessionDep, principal: OptionalPrincipalDep) -> Response:
    """The review queue, oldest first: organizations to verify, listings to review, registrations to
    qualify, objections to decide."""
    _operator(request, principal, "/operator")
    return await _queue_page(request, session)


async def _queue_action(
    request: Request,
    session: AsyncSession,
    action: Callable[[], Awaitable[Any]],
    done: str,
) -> Response:
    _, refused = await _act(session, action)
    if refused is not None:
        return await _queue_page(request, session, refused)
    return _back("/operator", request, done)


def _reason(model: type[ReasonIn] | type[DisqualifyIn], reason: str) -> str:
    """The reason as the API's body takes it (the same schema): required, at most 1,000 characters."""
    try:
        return model(reason=reason.strip()).reason
    except ValidationError:
        raise DeskRefusal("reason_required") from None


@router.post("/operator/organizations/{org_id:uuid}/verify")
async def verify_organization(
    request: Request, org_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> Response:
    who = _operator(request, principal, "/operator")
    return await _queue_action(
        request, session, lambda: accounts.verify_organization(session, who, org_id, clock), "verified"
    )


@router.post("/operator/listings/{listing_id:uuid}/approve")
async def approve_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
) -> Response:
    who = _operator(request, principal, "/operator")
    return await _queue_action(
        request,
        session,
        lambda: listings.approve_listing(session, who, listing_id, clock, calendar),
        "approved",
    )


@router.post("/operator/listings/{listing_id:uuid}/reject")
async def reject_listing(
    request: Request,
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    who = _operator(request, principal, "/operator")
    try:
        text = _reason(ReasonIn, reason)
    except DeskRefusal as exc:
        return await _queue_page(request, session, _message(exc))
    return await _queue_action(
        request, session, lambda: listings.reject_listing(session, who, listing_id, text, clock), "rejected"
    )


@router.post("/operator/registrations/{registration_id:uuid}/qualify")
async def qualify_registration(
    request: Request,
    registration_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> Response:
    who = _operator(request, principal, "/operator")
    return await _queue_action(
        request, session, lambda: registrations.qualify(session, who, registration_id, clock), "qualified"
    )


@router.post("/operator/registrations/{registration_id:uuid}/disqualify")
async def disqualify_registration(
    request: Request,
    registration_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    who = _operator(request, principal, "/operator")
    try:
        text = _reason(DisqualifyIn, reason)
    except DeskRefusal as exc:
        return await _queue_page(request, session, _message(exc))
    return await _queue_action(
        request,
        session,
        lambda: registrations.disqualify(session, who, registration_id, text, clock),
        "disqualified",
    )


@router.post("/operator/objections/{objection_id:uuid}/{verdict}")
async def resolve_objection(
    request: Request,
    objection_id: uuid.UUID,
    verdict: str,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
) -> Response:
    who = _operator(request, principal, "/operator")
    outcomes = {"uphold": ObjectionStatus.upheld, "dismiss": ObjectionStatus.dismissed}
    outcome = outcomes.get(verdict)
    if outcome is None:
        return await _queue_page(
            request, session, {"code": "not_found", "text": REFUSALS["not_found"], "status": 404}
        )
    return await _queue_action(
        request,
        session,
        lambda: contracts.resolve_objection(
            session, who, objection_id, outcome, None, now=clock.now(), calendar=calendar
        ),
        str(outcome),
    )


# --- bank payments ------------------------------------------------------------------------------------------


async def _payments_page(
    request: Request,
    session: AsyncSession,
    message: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    return await _desk(
        request,
        path="/operator/payments",
        template="operator_payments.html",
        read=lambda q, cursor: reads.recent_payments(session, q=q, cursor=cursor),
        message=message,
        desk="payments",
        form=form or {"organization": "", "amount": "", "bank_reference": ""},
        flash=_done(request),
    )


@router.get("/operator/payments")
async def payments_desk(request: Request, session: SessionDep, principal: OptionalPrincipalDep) -> Response:
    _operator(request, principal, "/operator/payments")
    return await _payments_page(request, session)


async def _payment_terms(
    session: AsyncSession, organization: str, amount: str, reference: str
) -> PaymentCreate:
    """The form's fields as the API's body (the same schema): the organization found by credit code or
    name, the amount as typed (``¥``, commas) in the API's form."""
    if not organization.strip() or contains_nul(organization):
        raise DeskRefusal("organization_unknown")
    found = await reads.organizations_named(session, organization)
    if not found:
        raise DeskRefusal("organization_unknown")
    if len(found) > 1:
        raise DeskRefusal("organization_ambiguous")
    try:
        fen = parse_amount(amount)
    except ValueError:
        raise DeskRefusal("invalid_amount") from None
    try:
        return PaymentCreate(
            organization_id=found[0].id, amount=format_fen(fen), bank_reference=reference.strip()
        )
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        raise DeskRefusal("invalid_amount" if "amount" in fields else "invalid_reference") from None


@router.post("/operator/payments")
async def record_payment(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    organization: Annotated[str, Form(max_length=200)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    bank_reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A bank transfer received, through the service of ``POST /api/v1/ledger/payments``: a bank reference
    credits once (the same terms again replay the first payment; other terms are 409 ``payment_conflict``)."""
    who = _operator(request, principal, "/operator/payments")
    form = {"organization": organization, "amount": amount, "bank_reference": bank_reference}
    try:
        body = await _payment_terms(session, organization, amount, bank_reference)
    except DeskRefusal as exc:
        return await _payments_page(request, session, _message(exc), form)
    recorded, refused = await _act(
        session,
        lambda: ledger.record_bank_payment(
            session,
            organization_id=body.organization_id,
            amount=body.amount,
            bank_reference=body.bank_reference,
            at=clock.now(),
            actor=who.label,
        ),
    )
    if refused is not None:
        return await _payments_page(request, session, refused, form)
    _, created = recorded
    return _back("/operator/payments", request, "payment" if created else "payment_replayed")


# --- deals and settlement ------------------------------------------------------------------------------------


async def _deals_page(
    request: Request, session: AsyncSession, message: dict[str, Any] | None = None
) -> HTMLResponse:
    wanted = request.query_params.get("status", "")

    async def read(q: str | None, cursor: str | None) -> tuple[Sequence[Any], str | None]:
        try:
            deal_status = DealStatus(wanted) if wanted else None
        except ValueError:
            raise DeskRefusal("invalid_status") from None
        return await reads.deals_for_settlement(session, status=deal_status, q=q, cursor=cursor)

    flash = _done(request)
    if flash and request.query_params.get("done") == "settled":
        settled = await _settled(session, request.query_params.get("deal", ""))
        flash = f"{flash}，交易凭证编号 {settled.certificate_number}" if settled else flash
    return await _desk(
        request,
        path="/operator/deals",
        template="operator_deals.html",
        read=read,
        message=message,
        keep=("q", "cursor", "status"),
        desk="deals",
        status_filter=wanted,
        statuses=list(DealStatus),
        paid=DealStatus.paid,
        flash=flash,
    )


async def _settled(session: AsyncSession, deal_id: str) -> Deal | None:
    try:
        key = uuid.UUID(deal_id)
    except ValueError:
        return None
    deal = await session.get(Deal, key)
    return deal if deal is not None and deal.certificate_number else None


@router.get("/operator/deals")
async def deals_desk(request: Request, session: SessionDep, principal: OptionalPrincipalDep) -> Response:
    """Deals by status, ``paid`` first (most recently paid first), to settle."""
    _operator(request, principal, "/operator/deals")
    return await _deals_page(request, session)


@router.post("/operator/deals/{deal_id:uuid}/settle")
async def settle_deal(
    request: Request,
    deal_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
) -> Response:
    """Through the service of ``POST /api/v1/deals/{id}/settle`` (settling twice never pays twice)."""
    who = _operator(request, principal, "/operator/deals")
    _, refused = await _act(session, lambda: settlement.settle(session, who, deal_id, clock))
    if refused is not None:
        return await _deals_page(request, session, refused)
    return _back("/operator/deals", request, "settled", deal=str(deal_id))


# --- the trial balance and the audit trail --------------------------------------------------------------------


@router.get("/operator/ledger")
async def ledger_desk(request: Request, session: SessionDep, principal: OptionalPrincipalDep) -> Response:
    """The trial balance of ``GET /api/v1/ledger/trial-balance``: every account's balance summed by kind;
    balanced when the total is zero and every balance equals the sum of its journal lines."""
    _operator(request, principal, "/operator/ledger")
    tb = await ledger.trial_balance(session)
    by_kind: dict[str, list[int]] = {str(kind): [0, 0] for kind in AccountKind}
    for account in tb.accounts:
        sums = by_kind.setdefault(str(account.kind), [0, 0])
        sums[0] += 1
        sums[1] += account.balance
    return page(
        request,
        "operator_ledger.html",
        desk="ledger",
        tb=tb,
        kinds=[(kind, count, total) for kind, (count, total) in by_kind.items()],
    )


@router.get("/operator/audit")
async def audit_desk(request: Request, principal: OptionalPrincipalDep) -> Response:
    _operator(request, principal, "/operator/audit")
    return page(request, "operator_audit.html", desk="audit", report=None)


@router.post("/operator/audit")
async def verify_audit(request: Request, session: SessionDep, principal: OptionalPrincipalDep) -> Response:
    """Re-hash every chain with the service of ``GET /api/v1/audit-events/verify``; changes nothing."""
    _operator(request, principal, "/operator/audit")
    report = await audit.verify_all(session)
    return page(
        request, "operator_audit.html", desk="audit", report=report, broken=report.broken[: reads.PAGE_ROWS]
    )
