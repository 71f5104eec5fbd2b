"""The patent registry (SPEC §4): create, read, list, edit, legal status and court preservation (SPEC §14).

Visibility (SPEC §20 "something never published is never public"): the owner organization's users and
operators see a patent; any signed-in user also sees one that was published — in a listing that was published
(approved; it stays readable after the listing ends or is withdrawn) or in an open licence that was declared;
and an organization sees one it is a party to — the other party of a deal on it (a licence record is its
deal's) or of a pledge on it (from the pledge's creation). Anything else is 404 (SPEC §2, BOLA).

Locks (SPEC §20): while a patent is offered or dealt — in an active listing, a live open-licence declaration or
an unsettled deal — its owner cannot edit it (409 ``patent_locked``, and a CSV re-import fails that row); the
counterparties see what was offered. Operators may still set ``legal_status``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, insert, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.kit.clock import Clock
from app.kit.errors import CodedValueError, Conflict, Forbidden, NotFound, Unprocessable
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.licensing import queries as open_licences
from app.models.listings import ACTIVE_STATUSES, Listing, ListingPatent
from app.models.patents import LegalStatus, Patent, PatentIpc, PatentKind
from app.models.policy import OPEN_LICENSE_LIVE, OpenLicense, OpenLicenseGrant, Pledge
from app.models.trading import Deal, DealStatus
from app.models.trials import Trial, TrialOffer
from app.owners import queries as owners
from app.patents import rules, schemas
from app.pledges import queries as pledges

ENTITY = "patent"
DESCRIPTIVE_FIELDS = frozenset(
    {
        "title",
        "abstract",
        "ipc_codes",
        "inventors",
        "grant_date",
        "annual_fee_paid_until",
        "evaluation_report",
    }
)
OPERATOR_FIELDS = frozenset({"legal_status"})
TEXT_FIELDS = frozenset({"title", "abstract"})  # what the listings offering a patent are searched by

# Who keeps something in step with a patent's text: the listings' search rows (app.listings, a layer above this
# one, registers at import). Each change of a patent's title or abstract calls them in the change's transaction.
TextListener = Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[None]]
_TEXT_LISTENERS: list[TextListener] = []


def on_text_change(listener: TextListener) -> TextListener:
    """Register ``listener(session, patent_ids)``, called after those patents' title or abstract changed."""
    _TEXT_LISTENERS.append(listener)
    return listener


async def text_changed(session: AsyncSession, patent_ids: Sequence[uuid.UUID]) -> None:
    """Tell the listeners that these patents' text changed (the registry's PATCH, a CSV re-import)."""
    if patent_ids:
        for listener in _TEXT_LISTENERS:
            await listener(session, patent_ids)


def business_today(clock: Clock) -> date:
    """Today in Asia/Shanghai by the business clock: the day legal status and expiry are judged on."""
    return clock.now().astimezone(SHANGHAI).date()


def check_dates(filing_date: date, grant_date: date | None, fees_until: date | None, clock: Clock) -> None:
    """The dates a patent may carry (``rules.check_patent_dates``, SPEC §20) → else 422 naming the field."""
    try:
        rules.check_patent_dates(
            filing_date=filing_date,
            grant_date=grant_date,
            annual_fee_paid_until=fees_until,
            today=business_today(clock),
        )
    except rules.PatentDateError as exc:
        raise Unprocessable(
            "The request is not valid.", code=exc.code, errors=[{"loc": ["body", exc.field], "msg": str(exc)}]
        ) from None


@dataclass(frozen=True)
class PatentView:
    """A patent as the API shows it, with the fields derived at read time."""

    id: uuid.UUID
    owner_org_id: uuid.UUID
    application_number: str
    kind: PatentKind
    patent_number: str | None
    title: str
    abstract: str
    ipc_codes: list[str]
    inventors: list[str]
    filing_date: date
    grant_date: date | None
    annual_fee_paid_until: date | None
    evaluation_report: bool
    legal_status: LegalStatus
    expires_on: date
    pledged: bool
    preserved: bool
    owners: list[dict[str, Any]] = field(default_factory=list)  # SPEC §18.5
    use_rights: list[dict[str, Any]] = field(default_factory=list)


def view_of(
    patent: Patent, today: date, pledged: bool, ownership: owners.PatentOwnership | None = None
) -> PatentView:
    return PatentView(
        id=patent.id,
        owner_org_id=patent.owner_org_id,
        application_number=patent.application_number,
        kind=PatentKind(patent.kind),
        patent_number=rules.patent_number(patent.application_number, patent.grant_date),
        title=patent.title,
        abstract=patent.abstract,
        ipc_codes=list(patent.ipc_codes),
        inventors=list(patent.inventors),
        filing_date=patent.filing_date,
        grant_date=patent.grant_date,
        annual_fee_paid_until=patent.annual_fee_paid_until,
        evaluation_report=patent.evaluation_report,
        legal_status=patent.legal_status(today),
        expires_on=patent.expires_on,
        pledged=pledged,
        preserved=patent.preserved,
        owners=ownership.owners if ownership is not None else [],
        use_rights=ownership.use_rights if ownership is not None else [],
    )


async def is_pledged(session: AsyncSession, patent_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these patents are under an active pledge (SPEC §14). The one place ``pledged`` comes from."""
    return await pledges.pledged(session, patent_ids)


async def _views(session: AsyncSession, patents: Sequence[Patent], clock: Clock) -> list[PatentView]:
    today = business_today(clock)
    pledged = await is_pledged(session, [p.id for p in patents])
    ownership = await owners.ownership_views(session, [p.id for p in patents], today=today)
    return [view_of(p, today, p.id in pledged, ownership[p.id]) for p in patents]


def _fields(patent: Patent) -> dict[str, Any]:
    return {name: getattr(patent, name) for name in rules.FINGERPRINT_FIELDS}


# --- visibility --------------------------------------------------------------------------------------------


def _published() -> ColumnElement[bool]:
    """Grounds on which any signed-in user reads a patent: it is, or was, in a listing that was published
    (approval sets ``published_at`` and nothing clears it), in an open licence that was declared, or in a
    trial offer that was offered (SPEC §18.3)."""
    in_published_listing = exists().where(
        ListingPatent.patent_id == Patent.id,
        Listing.id == ListingPatent.listing_id,
        Listing.published_at.is_not(None),
    )
    in_declared_open_licence = exists().where(OpenLicense.patent_id == Patent.id, open_licences.published())
    in_offered_trial_offer = exists().where(
        TrialOffer.patent_id == Patent.id, TrialOffer.approved_at.is_not(None)
    )
    return or_(in_published_listing, in_declared_open_licence, in_offered_trial_offer)


def _deal_on_patent(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """A deal on the patent that meets ``conditions``: through the deal's listing, the open licence it was
    taken under (a licence record belongs to its deal), or the trial it converts (SPEC §18.3)."""
    through_listing = exists().where(
        ListingPatent.patent_id == Patent.id, Deal.listing_id == ListingPatent.listing_id, *conditions
    )
    through_open_licence = exists().where(
        OpenLicense.patent_id == Patent.id,
        OpenLicenseGrant.open_license_id == OpenLicense.id,
        Deal.id == OpenLicenseGrant.deal_id,
        *conditions,
    )
    through_trial = exists().where(Trial.patent_id == Patent.id, Deal.trial_id == Trial.id, *conditions)
    return or_(through_listing, through_open_licence, through_trial)


def _party(org_id: uuid.UUID) -> ColumnElement[bool]:
    """Grounds on which one organization reads another's patent: it is the other party of a deal on it
    (through the deal's listing, or the open licence it was taken under; a licence record is its deal's) or of
    a pledge on it, pledgee or pledgor, in any state (a pledgee from the pledge's creation).
    Its other owners (SPEC §18.5) join these grounds when they exist; so does the other party of a trial (§18.3)."""
    deal = _deal_on_patent(or_(Deal.buyer_org_id == org_id, Deal.seller_org_id == org_id))
    pledge = exists().where(
        Pledge.patent_id == Patent.id, or_(Pledge.pledgee_org_id == org_id, Pledge.pledgor_org_id == org_id)
    )
    trial = exists().where(
        Trial.patent_id == Patent.id, or_(Trial.licensee_org_id == org_id, Trial.licensor_org_id == org_id)
    )
    return or_(deal, pledge, trial)


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.is_operator:
        return true()
    if principal.organization_id is None:
        return _published()
    org_id = principal.organization_id
    return or_(owners.org_owner(org_id), _published(), _party(org_id))


# --- locks ---------------------------------------------------------------------------------------------------

# Deals not yet settled, cancelled or defaulted (SPEC §20: ``public_notice`` … ``paid``).
UNSETTLED_DEALS = frozenset(
    {DealStatus.public_notice, DealStatus.awaiting_signatures, DealStatus.awaiting_payment, DealStatus.paid}
)


def _locked() -> ColumnElement[bool]:
    """The patent is offered or dealt (SPEC §20): in an active listing (``pending_review`` … ``under_contract``,
    any transaction kind), in an open-licence declaration pending review or declared, or in an unsettled deal."""
    in_active_listing = exists().where(
        ListingPatent.patent_id == Patent.id,
        Listing.id == ListingPatent.listing_id,
        Listing.status.in_([s.value for s in ACTIVE_STATUSES]),
    )
    in_live_declaration = exists().where(
        OpenLicense.patent_id == Patent.id, OpenLicense.status.in_([s.value for s in OPEN_LICENSE_LIVE])
    )
    in_unsettled_deal = _deal_on_patent(Deal.status.in_([s.value for s in UNSETTLED_DEALS]))
    return or_(in_active_listing, in_live_declaration, in_unsettled_deal)


async def locked(session: AsyncSession, patent_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these patents their owner may not edit now (409 ``patent_locked``; the registry's PATCH and the
    CSV re-import). The one place the lock rule is asked."""
    if not patent_ids:
        return set()
    rows = await session.scalars(select(Patent.id).where(Patent.id.in_(list(patent_ids)), _locked()))
    return set(rows.all())


LOCKED = "patent_locked"
LOCKED_DETAIL = (
    "The patent is in an active listing, an open-licence declaration or an unsettled deal: "
    "its owner cannot edit it until that ends."
)


def _is_owner(principal: Principal, patent: Patent) -> bool:
    return principal.organization_id is not None and principal.organization_id == patent.owner_org_id


async def _load_visible(
    session: AsyncSession, principal: Principal, patent_id: uuid.UUID, *, for_update: bool = False
) -> Patent:
    query = select(Patent).where(Patent.id == patent_id, _visible(principal))
    if for_update:
        query = query.with_for_update(of=Patent)
    patent = await session.scalar(query)
    if patent is None:
        raise NotFound("No such patent.")
    return patent


# --- IPC rows ----------------------------------------------------------------------------------------------


async def _sync_ipc(
    session: AsyncSession, patent_id: uuid.UUID, codes: Sequence[str], *, replace: bool
) -> None:
    if replace:
        await session.execute(delete(PatentIpc).where(PatentIpc.patent_id == patent_id))
    keys = sorted({rules.ipc_key(c) for c in codes})
    if keys:
        await session.execute(insert(PatentIpc), [{"patent_id": patent_id, "code": k} for k in keys])


# --- commands ----------------------------------------------------------------------------------------------


async def create_patent(
    session: AsyncSession, principal: Principal, data: schemas.PatentCreate, clock: Clock
) -> PatentView:
    """Register a patent of the caller's (verified) organization (SPEC §4). Duplicate number → 409."""
    assert principal.organization_id is not None
    if await session.scalar(select(Patent.id).where(Patent.application_number == data.application_number)):
        raise Conflict("A patent with this application number is registered already.", code="patent_exists")
    kind = rules.parse_application_number(data.application_number).kind
    check_dates(data.filing_date, data.grant_date, data.annual_fee_paid_until, clock)
    now = clock.now()
    patent = Patent(
        id=uuid.uuid4(),
        owner_org_id=principal.organization_id,
        application_number=data.application_number,
        kind=kind,
        title=data.title,
        abstract=data.abstract,
        ipc_codes=data.ipc_codes,
        inventors=data.inventors,
        filing_date=data.filing_date,
        grant_date=data.grant_date,
        annual_fee_paid_until=data.annual_fee_paid_until,
        evaluation_report=data.evaluation_report,
        expires_on=rules.expires_on(kind, data.filing_date),
        status_override=None,
        preserved=False,
        extra={},
        created_at=now,
        updated_at=now,
    )
    patent.import_fingerprint = rules.fingerprint(_fields(patent))
    session.add(patent)
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent request registered the same number between the check and the insert.
        raise Conflict(
            "A patent with this application number is registered already.", code="patent_exists"
        ) from None
    await _sync_ipc(session, patent.id, patent.ipc_codes, replace=False)
    await record(
        session,
        entity_type=ENTITY,
        entity_id=patent.id,
        action="created",
        actor=principal.label,
        at=now,
        data={
            **data.model_dump(),
            "owner_org_id": patent.owner_org_id,
            "kind": kind,
            "expires_on": patent.expires_on,
        },
    )
    return (await _views(session, [patent], clock))[0]


async def update_patent(
    session: AsyncSession,
    principal: Principal,
    patent_id: uuid.UUID,
    data: schemas.PatentUpdate,
    clock: Clock,
) -> PatentView:
    """Owners edit descriptive fields, unless the patent is locked (409 ``patent_locked``, SPEC §20; sending
    the values it already has is not an edit); operators set or clear ``legal_status`` (``lapsed`` after unpaid annual
    fees, ``invalidated`` after a CNIPA invalidation decision; ``null`` restores the status the dates give, e.g.
    after a restoration of rights). A field the caller's role may not touch → 403 and nothing changes."""
    patent = await _load_visible(session, principal, patent_id, for_update=True)
    changes = data.changes()
    allowed = (
        OPERATOR_FIELDS
        if principal.is_operator
        else DESCRIPTIVE_FIELDS
        if _is_owner(principal, patent)
        else set()
    )
    refused = sorted(set(changes) - allowed)
    if refused:
        raise Forbidden(f"Your role may not change: {', '.join(refused)}.")
    if not changes:
        return (await _views(session, [patent], clock))[0]
    now = clock.now()
    if "legal_status" in changes:
        new = changes["legal_status"]
        if new != patent.status_override:
            patent.status_override = new
            patent.updated_at = now
            await record(
                session,
                entity_type=ENTITY,
                entity_id=patent.id,
                action="legal_status_set",
                actor=principal.label,
                at=now,
                data={"legal_status": new},
            )
        return (await _views(session, [patent], clock))[0]

    check_dates(
        patent.filing_date,
        changes.get("grant_date", patent.grant_date),
        changes.get("annual_fee_paid_until", patent.annual_fee_paid_until),
        clock,
    )
    changed = {k: v for k, v in changes.items() if getattr(patent, k) != v}
    if not changed:
        return (await _views(session, [patent], clock))[0]
    if await locked(session, [patent.id]):
        raise Conflict(LOCKED_DETAIL, code=LOCKED)
    for key, value in changed.items():
        setattr(patent, key, value)
    patent.import_fingerprint = rules.fingerprint(_fields(patent))
    patent.updated_at = now
    await session.flush()
    if "ipc_codes" in changed:
        await _sync_ipc(session, patent.id, patent.ipc_codes, replace=True)
    if TEXT_FIELDS & changed.keys():
        await text_changed(session, [patent.id])
    await record(
        session,
        entity_type=ENTITY,
        entity_id=patent.id,
        action="updated",
        actor=principal.label,
        at=now,
        data=changed,
    )
    return (await _views(session, [patent], clock))[0]


async def set_preservation(
    session: AsyncSession,
    principal: Principal,
    patent_id: uuid.UUID,
    data: schemas.PreservationIn,
    clock: Clock,
) -> PatentView:
    """Operators record or lift a court preservation order (财产保全) on a patent (SPEC §14)."""
    patent = await _load_visible(session, principal, patent_id, for_update=True)
    reason = data.reason if data.active else None
    if patent.preserved != data.active or patent.preservation_reason != reason:
        now = clock.now()
        patent.preserved = data.active
        patent.preservation_reason = reason
        patent.updated_at = now
        await record(
            session,
            entity_type=ENTITY,
            entity_id=patent.id,
            action="preservation_set" if data.active else "preservation_cleared",
            actor=principal.label,
            at=now,
            data={"active": data.active, "reason": data.reason},
        )
    return (await _views(session, [patent], clock))[0]


# --- queries -----------------------------------------------------------------------------------------------


async def get_patent(
    session: AsyncSession, principal: Principal, patent_id: uuid.UUID, clock: Clock
) -> PatentView:
    return (await _views(session, [await _load_visible(session, principal, patent_id)], clock))[0]


@dataclass(frozen=True)
class PatentFilters:
    owner_org_id: uuid.UUID | None = None
    q: str | None = None
    ipc: str | None = None
    kind: PatentKind | None = None
    legal_status: LegalStatus | None = None


def legal_status_clause(status: LegalStatus, today: date) -> ColumnElement[bool]:
    """``Patent.legal_status(today)`` as SQL, so the filter and pagination happen in the database."""
    if status in rules.OPERATOR_STATUSES:
        return Patent.status_override == status.value
    derived = and_(Patent.status_override.is_(None))
    if status == LegalStatus.expired:
        return and_(derived, Patent.expires_on <= today)
    in_force = and_(derived, Patent.expires_on > today)
    if status == LegalStatus.granted:
        return and_(in_force, Patent.grant_date.is_not(None))
    return and_(in_force, Patent.grant_date.is_(None))


def _ipc_clause(prefix: str, dialect: str) -> ColumnElement[bool]:
    match: ColumnElement[bool]
    if dialect == "postgresql":
        match = PatentIpc.code.like(prefix + "%")  # served by the varchar_pattern_ops index
    else:
        # BINARY collation: a range over the index; the prefix alphabet is [0-9A-Z/ ], so ~ sorts after it.
        match = and_(PatentIpc.code >= prefix, PatentIpc.code < prefix + "~")
    return exists().where(PatentIpc.patent_id == Patent.id, match)


def _number_fragment(q: str) -> str:
    text = q.strip().upper().replace(" ", "")
    return text[2:] if text.startswith(("ZL", "CN")) else text


async def list_patents(
    session: AsyncSession,
    principal: Principal,
    filters: PatentFilters,
    *,
    limit: int,
    cursor: str | None,
    clock: Clock,
) -> tuple[list[PatentView], str | None]:
    """Patents the caller may list, oldest first: operators all, others their organization's."""
    query = select(Patent)
    if not principal.is_operator:
        org = principal.organization_id
        query = query.where(owners.org_owner(org) if org is not None else false())
    if filters.owner_org_id is not None:
        query = query.where(owners.org_owner(filters.owner_org_id))
    if filters.kind is not None:
        query = query.where(Patent.kind == filters.kind.value)
    if filters.legal_status is not None:
        query = query.where(legal_status_clause(filters.legal_status, business_today(clock)))
    if filters.ipc:
        try:
            prefix = rules.ipc_prefix(filters.ipc)
        except CodedValueError as exc:
            raise Unprocessable(
                "The request is not valid.",
                code=exc.code,
                errors=[{"loc": ["query", "ipc"], "msg": str(exc)}],
            ) from None
        query = query.where(_ipc_clause(prefix, session.get_bind().dialect.name))
    if filters.q:
        query = query.where(
            or_(
                Patent.title.icontains(filters.q, autoescape=True),
                Patent.abstract.icontains(filters.q, autoescape=True),
                Patent.application_number.contains(_number_fragment(filters.q), autoescape=True),
            )
        )
    keys = [datetime_key(Patent.created_at), uuid_key(Patent.id)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    page, next_cursor = page_of(rows, limit, lambda p: (p.created_at, p.id))
    return await _views(session, page, clock), next_cursor
