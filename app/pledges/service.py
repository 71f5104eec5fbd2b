"""Pledges of patent rights (SPEC §14; 民法典 arts 440, 444; DOMAIN.md "Transfer, licence filing, pledge").

A pledge exists once filed jointly: the patent's owner (pledgor) creates it ``pending``, the pledgee confirms
it ``active``. While active the patent cannot be assigned, licensed or openly licensed without the pledgee's
consent to that listing or declaration: listing submission, open-licence approval and settlement ask
``app.pledges.queries.unconsented`` (and ``unconsented_pledges_for_deal``). The pledgee releases it.

Decisions where the SPEC is silent: the pledgee must be a *verified financial institution* (SPEC §1: banks
register pledges) other than the owner; a patent has at most one pending-or-active pledge (a second one
→ 409 ``patent_pledged``); a pledge stays active until released (``ends_on`` records the registration's term,
the debt is not discharged by the date); court preservation freezes pledges (create and confirm → 409
``patent_preserved``); a pending pledge may be cancelled by either party. Visibility: the pledgor, the
pledgee and operators; anyone else gets 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.models.accounts import Organization, OrgKind, OrgStatus
from app.models.listings import Listing, ListingPatent, ListingStatus
from app.models.owners import ConsentSubject
from app.models.patents import LegalStatus, Patent
from app.models.policy import OpenLicense, OpenLicenseStatus, Pledge, PledgeConsent, PledgeStatus
from app.models.trading import Deal
from app.models.trials import TrialOffer, TrialOfferStatus
from app.owners import queries as owner_queries
from app.owners import service as owners
from app.patents import service as patents
from app.pledges import queries, rules, schemas
from app.trials import queries as trials

ENTITY = "pledge"
S = PledgeStatus


def _today(clock: Clock) -> date:
    return clock.now().astimezone(SHANGHAI).date()


async def unconsented_pledges_for_deal(session: AsyncSession, deal: Deal) -> list[uuid.UUID]:
    """Patents of the deal under an active pledge whose pledgee has not consented to the deal's subject: its
    listing, or the trial offer a trial's conversion deal was made under (SPEC §14, §18.3: settlement re-checks
    it). A deal taken under an open licence has none to check: its declaration was approved only with the
    pledgee's consent."""
    if deal.listing_id is not None:
        patent_ids = (
            await session.scalars(
                select(ListingPatent.patent_id).where(ListingPatent.listing_id == deal.listing_id)
            )
        ).all()
        return await queries.unconsented(session, patent_ids, listing_id=deal.listing_id)
    offer_id = await trials.offer_of_deal(session, deal)
    if offer_id is None:
        return []
    patent_id = await session.scalar(select(TrialOffer.patent_id).where(TrialOffer.id == offer_id))
    if patent_id is None:
        return []
    return await queries.unconsented(session, [patent_id], trial_offer_id=offer_id)


# --- presentation ------------------------------------------------------------------------------------------


async def present(session: AsyncSession, pledges: Sequence[Pledge]) -> list[schemas.PledgeOut]:
    consents: dict[uuid.UUID, list[schemas.ConsentOut]] = {p.id: [] for p in pledges}
    if pledges:
        rows = await session.scalars(
            select(PledgeConsent)
            .where(PledgeConsent.pledge_id.in_(list(consents)))
            .order_by(PledgeConsent.given_at, PledgeConsent.id)
        )
        for c in rows.all():
            consents[c.pledge_id].append(schemas.ConsentOut.model_validate(c))
    return [
        schemas.PledgeOut(
            id=p.id,
            patent_id=p.patent_id,
            pledgor_org_id=p.pledgor_org_id,
            pledgee_org_id=p.pledgee_org_id,
            amount=p.amount,
            ends_on=p.ends_on,
            status=p.status,
            confirmed_at=p.confirmed_at,
            released_at=p.released_at,
            consents=consents[p.id],
            created_at=p.created_at,
            updated_at=p.updated_at,
        )
        for p in pledges
    ]


# --- visibility --------------------------------------------------------------------------------------------


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.is_operator:
        return true()
    org = principal.organization_id
    return or_(Pledge.pledgor_org_id == org, Pledge.pledgee_org_id == org)


async def _load(
    session: AsyncSession, principal: Principal, pledge_id: uuid.UUID, *, lock: bool = False
) -> Pledge:
    query = select(Pledge).where(Pledge.id == pledge_id, _visible(principal))
    if lock:
        query = query.with_for_update()
    pledge = await session.scalar(query)
    if pledge is None:
        raise NotFound("No such pledge.")
    return pledge


def _require_verified(principal: Principal) -> uuid.UUID:
    return principal.verified_org_id("Only the parties to the pledge may do this.")


def _require_pledgee(principal: Principal, pledge: Pledge) -> None:
    if _require_verified(principal) != pledge.pledgee_org_id:
        raise Forbidden("Only the pledgee may do this.")


async def _set_status(
    session: AsyncSession,
    pledge: Pledge,
    target: PledgeStatus,
    *,
    actor: str,
    action: str,
    at: datetime,
) -> Pledge:
    rules.check_transition(pledge.status, target)
    previous = pledge.status
    pledge.status, pledge.updated_at = target, at
    if target == S.active:
        pledge.confirmed_at = at
    elif target == S.released:
        pledge.released_at = at
    await session.flush()
    await record(
        session,
        entity_type=ENTITY,
        entity_id=pledge.id,
        action=action,
        actor=actor,
        at=at,
        data={"from": previous, "status": target},
    )
    return pledge


async def _refuse_committed(session: AsyncSession, patent_id: uuid.UUID) -> None:
    """No pledge is made or confirmed while the patent is committed (409 ``patent_locked``). The pledgee consents
    to a draft listing, a declaration pending review or a trial offer pending review only (SPEC §14, §18.3), and
    settlement and conversion re-check that consent: a pledge that became active once the patent was in an active
    listing, a live declaration, an unsettled deal (SPEC §20) or a trial could never be consented to, and the
    deal's money would stay in escrow for good. A pledge filed before waits in ``pending`` until that ends."""
    if await patents.locked(session, [patent_id]):
        raise Conflict(patents.LOCKED_DETAIL, code=patents.LOCKED)
    trial = await trials.in_trial(session, patent_id)
    if trial is not None:
        raise Conflict(trial, code=patents.LOCKED)


def _refuse_preserved(patent: Patent) -> None:
    if patent.preserved:
        raise Conflict(
            "The patent is under court preservation, which freezes pledges.", code="patent_preserved"
        )


# --- commands ----------------------------------------------------------------------------------------------


async def create_pledge(
    session: AsyncSession,
    principal: Principal,
    patent_id: uuid.UUID,
    data: schemas.PledgeCreate,
    clock: Clock,
) -> Pledge:
    """The owner files a pledge of its granted patent → ``pending`` until the pledgee confirms."""
    org_id = _require_verified(principal)
    patent = await session.get(Patent, patent_id, with_for_update=True)
    # SPEC §18.5: the pledgor is an organization owner (the others consent before the pledgee confirms).
    if patent is None or not await owner_queries.owned_by(session, [patent.id], org_id):
        raise NotFound("No such patent of your organization.")
    today = _today(clock)
    status = patent.legal_status(today)
    if status == LegalStatus.expired:
        raise Conflict("The patent has expired.", code="patent_expired")
    if status != LegalStatus.granted:
        raise Conflict("Only a granted patent in force can be pledged.", code="patent_not_granted")
    _refuse_preserved(patent)
    await _refuse_committed(session, patent.id)
    errors: list[dict[str, Any]] = []
    pledgee = await session.get(Organization, data.pledgee_org_id)
    if (
        pledgee is None
        or pledgee.id == org_id
        or pledgee.status != OrgStatus.verified
        or pledgee.kind != OrgKind.financial_institution
    ):
        errors.append(
            {
                "loc": ["body", "pledgee_org_id"],
                "msg": "the pledgee must be a verified financial institution other than the owner",
            }
        )
    if data.ends_on <= today:
        errors.append({"loc": ["body", "ends_on"], "msg": "must be after today"})
    if errors:
        raise Unprocessable("The pledge is not valid.", errors=errors)
    if await session.scalar(
        select(
            exists().where(
                Pledge.patent_id == patent.id, Pledge.status.in_([s.value for s in (S.pending, S.active)])
            )
        )
    ):
        raise Conflict("The patent has a pending or active pledge already.", code="patent_pledged")
    now = clock.now()
    pledge = Pledge(
        id=uuid.uuid4(),
        patent_id=patent.id,
        pledgor_org_id=org_id,
        pledgee_org_id=data.pledgee_org_id,
        amount=data.amount,
        ends_on=data.ends_on,
        status=S.pending,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(pledge)
    except IntegrityError:
        raise Conflict("The patent has a pending or active pledge already.", code="patent_pledged") from None
    await record(
        session,
        entity_type=ENTITY,
        entity_id=pledge.id,
        action="created",
        actor=principal.label,
        at=now,
        data={
            "patent_id": patent.id,
            "pledgor_org_id": org_id,
            "pledgee_org_id": data.pledgee_org_id,
            "amount": data.amount,
            "ends_on": data.ends_on,
            "status": S.pending,
        },
    )
    return pledge


async def confirm_pledge(
    session: AsyncSession, principal: Principal, pledge_id: uuid.UUID, clock: Clock
) -> Pledge:
    """The pledgee's side of the joint filing: ``pending`` → ``active``."""
    pledge = await _load(session, principal, pledge_id, lock=True)
    _require_pledgee(principal, pledge)
    rules.check_transition(pledge.status, S.active)
    # FOR UPDATE, as an owner's edit: a listing's submission holds its patents FOR SHARE (SPEC §20).
    patent = await session.get(Patent, pledge.patent_id, with_for_update=True)
    assert patent is not None
    _refuse_preserved(patent)
    await _refuse_committed(session, patent.id)
    await owners.require_consents(
        session,
        subject_type=ConsentSubject.pledge,
        subject_id=pledge.id,
        patent_ids=[pledge.patent_id],
        restricted=True,
        acting_org_id=pledge.pledgor_org_id,
        today=_today(clock),
    )
    return await _set_status(
        session, pledge, S.active, actor=principal.label, action="confirmed", at=clock.now()
    )


async def cancel_pledge(
    session: AsyncSession, principal: Principal, pledge_id: uuid.UUID, clock: Clock
) -> Pledge:
    """Either party abandons a pledge that was never confirmed: ``pending`` → ``cancelled``."""
    pledge = await _load(session, principal, pledge_id, lock=True)
    _require_verified(principal)
    return await _set_status(
        session, pledge, S.cancelled, actor=principal.label, action="cancelled", at=clock.now()
    )


async def release_pledge(
    session: AsyncSession, principal: Principal, pledge_id: uuid.UUID, clock: Clock
) -> Pledge:
    """The pledgee ends the pledge: ``active`` → ``released``."""
    pledge = await _load(session, principal, pledge_id, lock=True)
    _require_pledgee(principal, pledge)
    return await _set_status(
        session, pledge, S.released, actor=principal.label, action="released", at=clock.now()
    )


async def give_consent(
    session: AsyncSession,
    principal: Principal,
    pledge_id: uuid.UUID,
    data: schemas.ConsentCreate,
    clock: Clock,
) -> PledgeConsent:
    """The pledgee consents to one draft listing, one pending open-licence declaration or one trial offer pending
    review of the pledged patent (SPEC §14, §18.3). The listing or declaration must name the patent (else 404) and be in that state
    (else 409 ``invalid_state``). Consenting twice returns the first consent."""
    pledge = await _load(session, principal, pledge_id, lock=True)
    _require_pledgee(principal, pledge)
    if pledge.status != S.active:
        raise InvalidState("Consents are given under an active pledge.")
    if data.listing_id is not None:
        target = PledgeConsent.listing_id == data.listing_id
    elif data.open_license_id is not None:
        target = PledgeConsent.open_license_id == data.open_license_id
    else:
        target = PledgeConsent.trial_offer_id == data.trial_offer_id
    existing = await session.scalar(select(PledgeConsent).where(PledgeConsent.pledge_id == pledge.id, target))
    if existing is not None:
        return existing
    if data.listing_id is not None:
        listing_status = await session.scalar(
            select(Listing.status)
            .join(ListingPatent, ListingPatent.listing_id == Listing.id)
            .where(Listing.id == data.listing_id, ListingPatent.patent_id == pledge.patent_id)
        )
        if listing_status is None:
            raise NotFound("No listing of the pledged patent with this id.")
        if listing_status != ListingStatus.draft:
            raise InvalidState("Consent is given for a draft listing.")
    elif data.open_license_id is not None:
        declaration_status = await session.scalar(
            select(OpenLicense.status).where(
                OpenLicense.id == data.open_license_id, OpenLicense.patent_id == pledge.patent_id
            )
        )
        if declaration_status is None:
            raise NotFound("No open licence of the pledged patent with this id.")
        if declaration_status != OpenLicenseStatus.pending_review:
            raise InvalidState("Consent is given for an open licence pending review.")
    else:
        offer_status = await session.scalar(
            select(TrialOffer.status).where(
                TrialOffer.id == data.trial_offer_id, TrialOffer.patent_id == pledge.patent_id
            )
        )
        if offer_status is None:
            raise NotFound("No trial offer of the pledged patent with this id.")
        if offer_status != TrialOfferStatus.pending_review:
            raise InvalidState("Consent is given for a trial offer pending review.")
    now = clock.now()
    consent = PledgeConsent(
        id=uuid.uuid4(),
        pledge_id=pledge.id,
        listing_id=data.listing_id,
        open_license_id=data.open_license_id,
        trial_offer_id=data.trial_offer_id,
        given_at=now,
        given_by=principal.label,
    )
    session.add(consent)
    await session.flush()
    pledge.updated_at = now
    await record(
        session,
        entity_type=ENTITY,
        entity_id=pledge.id,
        action="consent_given",
        actor=principal.label,
        at=now,
        data={
            "consent_id": consent.id,
            "listing_id": data.listing_id,
            "open_license_id": data.open_license_id,
            "trial_offer_id": data.trial_offer_id,
        },
    )
    return consent


# --- queries -----------------------------------------------------------------------------------------------


async def get_pledge(session: AsyncSession, principal: Principal, pledge_id: uuid.UUID) -> Pledge:
    return await _load(session, principal, pledge_id)


async def list_pledges(
    session: AsyncSession,
    principal: Principal,
    *,
    patent_id: uuid.UUID | None,
    status: PledgeStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Pledge], str | None]:
    """The caller's pledges as pledgor or pledgee (operators: all), newest first."""
    query = select(Pledge).where(_visible(principal))
    if patent_id is not None:
        query = query.where(Pledge.patent_id == patent_id)
    if status is not None:
        query = query.where(Pledge.status == status)
    keys = [datetime_key(Pledge.created_at, descending=True), SortKey(Pledge.id, uuid.UUID, descending=True)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda x: (x.created_at, x.id))
