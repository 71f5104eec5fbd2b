"""Trial licences 先使用后付费 (SPEC §18.3): offers, trials, their conversion into a deal, lapse and termination.

A public institution offers a patent for trial on terms fixed up front (``pending_review`` → ``offered`` by an
operator → ``withdrawn`` by the owner); a verified SME starts a trial under an ``offered`` offer (a licence record
without money, §18.6) and converts it into a deal on exactly the offer's terms before ``ends_at``, or lets it lapse
(the sweeper, ``app.trials.deadlines``), or either side (or an operator) terminates it.

Concurrency: an offer counts its ``trial_active`` trials (``active_trials``); a start takes a slot with one
conditional UPDATE (``active_trials < max_trials``), every end of a trial gives it back, so concurrent starts
never exceed ``max_trials``. Unique indexes back the other limits (one live offer per patent, one trial per
company and offer, one active trial per company and patent): the loser of a race gets the same 409 as a late
request. A trial's moves are conditional UPDATEs on its status (``_move``).

Visibility (SPEC §18.3, §20): an offer that was ``offered`` (and one withdrawn after that) is public; otherwise
it is seen by the owner organization and operators (404 for anyone else). A trial is seen by its licensee, its
licensor and operators. Every change is audited on the ``trial_offer`` or ``trial`` chain in the caller's
transaction. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, exists, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.access import register_parties
from app.audit.service import SYSTEM_ACTOR, record
from app.deals import service as deals
from app.deals.fees import FeeSchedule
from app.filings import service as filings
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI, WorkdayCalendar
from app.licensing import queries as open_licences
from app.licensing import rules as licensing_rules
from app.licensing.service import exclusive_licence_active
from app.listings import queries as listings
from app.models.accounts import Organization, OrgKind
from app.models.listings import EXCLUSIVE_KINDS
from app.models.patents import Patent
from app.models.settlement import LicenceRecord
from app.models.trading import Deal, DealSource, DealStatus
from app.models.trials import TRIAL_OFFER_LIVE, Trial, TrialOffer, TrialOfferStatus, TrialStatus
from app.notifications.outbox import notify
from app.owners import queries as owners
from app.owners import service as owner_consents
from app.pledges import queries as pledges
from app.trials import rules, schemas

OFFER = "trial_offer"
TRIAL = "trial"
OS = TrialOfferStatus
T = TrialStatus


register_parties(OFFER, lambda key: select(TrialOffer.owner_org_id).where(TrialOffer.id == key))
register_parties(
    TRIAL, lambda key: select(Trial.licensor_org_id, Trial.licensee_org_id).where(Trial.id == key)
)


class SmeRequired(Conflict):
    code = "sme_required"


def _today(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


# --- presentation ----------------------------------------------------------------------------------------------


def present_offer(offer: TrialOffer) -> schemas.TrialOfferOut:
    return schemas.TrialOfferOut(
        id=offer.id,
        patent_id=offer.patent_id,
        owner_org_id=offer.owner_org_id,
        kind=offer.kind,
        trial_months=offer.trial_months,
        max_trials=offer.max_trials,
        territory=offer.territory,
        field_of_use=offer.field_of_use,
        conversion=schemas.ConversionOut(**rules.conversion_out(offer.conversion)),
        status=offer.status,
        approved_at=offer.approved_at,
        withdrawn_at=offer.withdrawn_at,
        active_trials=offer.active_trials,
        created_at=offer.created_at,
        updated_at=offer.updated_at,
    )


def present_trial(trial: Trial) -> schemas.TrialOut:
    return schemas.TrialOut(
        id=trial.id,
        trial_offer_id=trial.trial_offer_id,
        patent_id=trial.patent_id,
        licensor_org_id=trial.licensor_org_id,
        licensee_org_id=trial.licensee_org_id,
        kind=trial.kind,
        status=trial.status,
        started_at=trial.started_at,
        ends_on=trial.ends_on,
        ends_at=trial.ends_at,
        reminder_at=trial.reminder_at,
        conversion=schemas.ConversionOut(**rules.conversion_out(trial.conversion)),
        licence_record_id=trial.licence_record_id,
        deal_id=trial.deal_id,
        status_reason=trial.status_reason,
    )


# --- visibility --------------------------------------------------------------------------------------------


def _offer_visible(principal: Principal | None) -> ColumnElement[bool]:
    public = TrialOffer.approved_at.is_not(None)  # offered, or withdrawn after it was (SPEC §18.3, §20)
    if principal is None or (not principal.is_operator and principal.organization_id is None):
        return public
    if principal.is_operator:
        return true()
    return or_(public, TrialOffer.owner_org_id == principal.organization_id)


async def _load_offer(
    session: AsyncSession, principal: Principal | None, offer_id: uuid.UUID, *, lock: bool = False
) -> TrialOffer:
    query = select(TrialOffer).where(TrialOffer.id == offer_id, _offer_visible(principal))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    offer = await session.scalar(query)
    if offer is None:
        raise NotFound("No such trial offer.")
    return offer


def _trial_visible(principal: Principal) -> ColumnElement[bool]:
    if principal.is_operator:
        return true()
    org = principal.organization_id
    return or_(Trial.licensee_org_id == org, Trial.licensor_org_id == org)


async def _load_trial(session: AsyncSession, principal: Principal, trial_id: uuid.UUID) -> Trial:
    trial = await session.scalar(select(Trial).where(Trial.id == trial_id, _trial_visible(principal)))
    if trial is None:
        raise NotFound("No such trial.")
    return trial


# --- offers ------------------------------------------------------------------------------------------------


def _conversion(data: schemas.ConversionIn) -> rules.Conversion:
    errors = rules.conversion_errors(
        data.type,
        lump_sum=data.lump_sum,
        royalty_rate=data.royalty_rate,
        royalty_base=data.royalty_base,
        royalty_period=data.royalty_period,
        term_months=data.term_months,
        assignment_price=data.assignment_price,
    )
    if errors:
        raise Unprocessable("The conversion terms do not fit the conversion type.", errors=errors)
    royalty = data.type in (rules.ConversionType.royalty, rules.ConversionType.lump_sum_plus_royalty)
    return rules.Conversion(
        type=data.type,
        lump_sum=data.lump_sum,
        royalty_rate_ppm=licensing_rules.rate_to_ppm(data.royalty_rate),
        royalty_base=data.royalty_base,
        royalty_period=(data.royalty_period or "quarter") if royalty else None,
        term_months=data.term_months,
        assignment_price=data.assignment_price,
    )


async def _check_patent(session: AsyncSession, offer_kind: str, patent: Patent, today: date) -> None:
    """§13's patent checks except the evaluation report (same codes), and no sole or exclusive trial while an
    open licence is declared (409 ``open_license_active``). Checked at creation and at approval."""
    refusal = licensing_rules.patent_refusal(
        patent,
        today,
        exclusive_licence_active=await exclusive_licence_active(session, patent.id, today),
        evaluation_report_needed=False,
    )
    if refusal is not None:
        raise Conflict(refusal.detail, code=refusal.code)
    if offer_kind in rules.EXCLUSIVE_TRIAL_KINDS and await open_licences.declared(session, [patent.id]):
        raise Conflict(
            "An open licence of this patent is declared: no sole or exclusive licence meanwhile.",
            code="open_license_active",
        )


def _offer_exists() -> Conflict:
    return Conflict(
        "This patent has a trial offer pending review or offered already.", code="trial_offer_exists"
    )


async def _live_offer(session: AsyncSession, patent_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    TrialOffer.patent_id == patent_id,
                    TrialOffer.status.in_([str(s) for s in TRIAL_OFFER_LIVE]),
                )
            )
        )
    )


async def create_offer(
    session: AsyncSession, principal: Principal, data: schemas.TrialOfferCreate, clock: Clock
) -> TrialOffer:
    """A member of a verified public-institution owner offers the patent for trial → ``pending_review``
    (other organizations 403). The terms are checked (422), then the patent (409, as at approval), then that
    no other offer of the patent is live (409 ``trial_offer_exists``, race-free by a partial unique index)."""
    org_id = principal.verified_org_id("Only a member of the patent's owner may offer it for trial.")
    conversion = _conversion(data.conversion)
    errors = rules.offer_errors(data.kind, data.max_trials, conversion.type)
    if errors:
        raise Unprocessable("The trial offer is not valid.", errors=errors)
    patent = await session.get(Patent, data.patent_id, with_for_update=True)
    if patent is None:
        raise NotFound("No such patent.")
    org = await session.get(Organization, org_id)
    assert org is not None
    # SPEC §18.5: the offerer must be an organization owner of the patent (any of them may offer).
    if not org.is_public_institution or not await owners.owned_by(session, [patent.id], org_id):
        raise Forbidden("Only a public-institution owner of the patent may offer it for trial.")
    now = clock.now()
    await _check_patent(session, data.kind, patent, _today(now))
    if await _live_offer(session, patent.id):
        raise _offer_exists()
    offer = TrialOffer(
        id=uuid.uuid4(),
        patent_id=patent.id,
        owner_org_id=org_id,
        kind=data.kind,
        trial_months=data.trial_months,
        max_trials=data.max_trials,
        territory=data.territory,
        field_of_use=data.field_of_use,
        conversion=conversion.stored(),
        status=OS.pending_review,
        active_trials=0,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(offer)
    except IntegrityError:  # a concurrent offer of the same patent committed first
        raise _offer_exists() from None
    await record(
        session,
        entity_type=OFFER,
        entity_id=offer.id,
        action="created",
        actor=principal.label,
        at=now,
        data={
            "patent_id": offer.patent_id,
            "owner_org_id": offer.owner_org_id,
            "kind": offer.kind,
            "trial_months": offer.trial_months,
            "max_trials": offer.max_trials,
            "territory": offer.territory,
            "field_of_use": offer.field_of_use,
            "conversion": offer.conversion,
            "status": offer.status,
        },
    )
    return offer


async def _move_offer(
    session: AsyncSession,
    offer: TrialOffer,
    target: TrialOfferStatus,
    *,
    by: rules.By,
    actor: str,
    action: str,
    at: datetime,
) -> TrialOffer:
    rules.check_offer_move(offer.status, target, by)
    previous = offer.status
    offer.status, offer.updated_at = target, at
    if target == OS.offered:
        offer.approved_at = at
    elif target == OS.withdrawn:
        offer.withdrawn_at = at
    await session.flush()
    await record(
        session,
        entity_type=OFFER,
        entity_id=offer.id,
        action=action,
        actor=actor,
        at=at,
        data={"from": previous, "status": target},
    )
    return offer


async def approve_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, clock: Clock
) -> TrialOffer:
    """Operator review: ``pending_review`` → ``offered``, re-checking the patent and the co-owners' consents
    (SPEC §18.5); a pledged patent needs its pledgee's consent to this offer (409 ``patent_pledged``, §14)."""
    offer = await _load_offer(session, principal, offer_id, lock=True)
    rules.check_offer_move(offer.status, OS.offered, rules.By.operator)
    patent = await session.get(Patent, offer.patent_id, with_for_update=True)
    assert patent is not None
    now = clock.now()
    if not await owners.owned_by(session, [patent.id], offer.owner_org_id):
        raise InvalidState("The patent has changed hands since the trial offer was made.")
    today = _today(now)
    await _check_patent(session, offer.kind, patent, today)
    # SPEC §18.5 (专利法 art. 14): a sole or exclusive trial, or an assignment conversion, needs every other
    # owner's consent (409 co_owner_consent_required), then every use right's in force (409 use_right_conflict).
    await owner_consents.require_consents(
        session,
        subject_type=OFFER,
        subject_id=offer.id,
        patent_ids=[patent.id],
        restricted=rules.restricted(offer.kind, offer.conversion),
        acting_org_id=offer.owner_org_id,
        today=today,
    )
    if await pledges.unconsented(session, [patent.id], trial_offer_id=offer.id):
        raise Conflict(
            "The patent is pledged and the pledgee has not consented to this trial offer.",
            code="patent_pledged",
        )
    return await _move_offer(
        session, offer, OS.offered, by=rules.By.operator, actor=principal.label, action="approved", at=now
    )


async def withdraw_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, clock: Clock
) -> TrialOffer:
    """The owner withdraws a pending or offered offer; trials already started run on."""
    offer = await _load_offer(session, principal, offer_id, lock=True)
    if principal.organization_id != offer.owner_org_id:
        raise Forbidden("Only the offering organization may withdraw its trial offer.")
    return await _move_offer(
        session,
        offer,
        OS.withdrawn,
        by=rules.By.owner,
        actor=principal.label,
        action="withdrawn",
        at=clock.now(),
    )


async def get_offer(session: AsyncSession, principal: Principal | None, offer_id: uuid.UUID) -> TrialOffer:
    return await _load_offer(session, principal, offer_id)


async def list_offers(
    session: AsyncSession,
    principal: Principal | None,
    *,
    patent_id: uuid.UUID | None,
    status: TrialOfferStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[TrialOffer], str | None]:
    query = select(TrialOffer).where(_offer_visible(principal))
    if patent_id is not None:
        query = query.where(TrialOffer.patent_id == patent_id)
    if status is not None:
        query = query.where(TrialOffer.status == status)
    keys = [
        datetime_key(TrialOffer.created_at, descending=True),
        SortKey(TrialOffer.id, uuid.UUID, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda x: (x.created_at, x.id))


# --- trials ------------------------------------------------------------------------------------------------


async def start_trial(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, clock: Clock
) -> Trial:
    """A member of a verified enterprise starts a trial under an ``offered`` offer (SPEC §18.3). Refused: the
    owner or another kind of organization 403; no ``sme_verified_at`` 409 ``sme_required``; offer not
    ``offered`` 409 ``invalid_state``; an active trial of the patent by the company 409 ``trial_already_active``;
    a trial under this offer before 409 ``trial_already_used``; ``max_trials`` active 409
    ``trial_limit_reached``. Creates the trial's licence record (no deal, no money) in this transaction."""
    org_id = principal.verified_org_id("Only a member of an enterprise may start a trial.")
    offer = await _load_offer(session, principal, offer_id)
    if org_id == offer.owner_org_id:
        raise Forbidden("The offering organization cannot trial its own patent.")
    org = await session.get(Organization, org_id)
    assert org is not None
    if org.kind != OrgKind.enterprise:
        raise Forbidden("Trial licences are for enterprises.")
    if org.sme_verified_at is None:
        raise SmeRequired("Only an enterprise an operator has verified as an SME may start a trial.")
    if offer.status != OS.offered:
        raise InvalidState(f"Trials start only under an offered trial offer (this one is {offer.status}).")
    if await session.scalar(
        select(
            exists().where(
                Trial.patent_id == offer.patent_id,
                Trial.licensee_org_id == org_id,
                Trial.status == T.trial_active,
            )
        )
    ):
        raise _already_active()
    if await session.scalar(
        select(exists().where(Trial.trial_offer_id == offer.id, Trial.licensee_org_id == org_id))
    ):
        raise _already_used()
    # One conditional UPDATE takes a slot: concurrent starts never exceed max_trials (DESIGN.md "The bid").
    slot = await session.scalar(
        update(TrialOffer)
        .where(
            TrialOffer.id == offer.id,
            TrialOffer.status == OS.offered,
            TrialOffer.active_trials < TrialOffer.max_trials,
        )
        .values(active_trials=TrialOffer.active_trials + 1)
        .returning(TrialOffer.active_trials)
        .execution_options(synchronize_session=False)
    )
    if slot is None:
        current = await session.scalar(
            select(TrialOffer.status)
            .where(TrialOffer.id == offer.id)
            .execution_options(populate_existing=True)
        )
        if current != OS.offered:
            raise InvalidState("The trial offer is no longer offered.")
        raise Conflict("Every trial this offer allows is active.", code="trial_limit_reached")
    now = clock.now()
    dates = rules.trial_dates(now, offer.trial_months)
    trial = Trial(
        id=uuid.uuid4(),
        trial_offer_id=offer.id,
        patent_id=offer.patent_id,
        licensor_org_id=offer.owner_org_id,
        licensee_org_id=org_id,
        kind=offer.kind,
        status=T.trial_active,
        started_at=now,
        ends_on=dates.ends_on,
        ends_at=dates.ends_at,
        reminder_at=dates.reminder_at,
        reminded=False,
        conversion=dict(offer.conversion),
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(trial)
    except IntegrityError:  # a concurrent start by the same company committed first
        used = await session.scalar(
            select(exists().where(Trial.trial_offer_id == offer.id, Trial.licensee_org_id == org_id))
        )
        raise (_already_used() if used else _already_active()) from None
    licence = await filings.create_licence_record(
        session,
        deal_id=None,
        trial_id=trial.id,
        licensor_org_id=trial.licensor_org_id,
        licensee_org_id=trial.licensee_org_id,
        patent_ids=[trial.patent_id],
        kind=trial.kind,
        starts_on=dates.starts_on,
        ends_on=dates.ends_on,
        term_months=offer.trial_months,
        territory=offer.territory,
        field_of_use=offer.field_of_use,
        royalty=None,
        at=now,
    )
    trial.licence_record_id = licence.id
    await session.flush()
    await record(
        session,
        entity_type=TRIAL,
        entity_id=trial.id,
        action="started",
        actor=principal.label,
        at=now,
        data={
            "trial_offer_id": offer.id,
            "patent_id": trial.patent_id,
            "licensor_org_id": trial.licensor_org_id,
            "licensee_org_id": trial.licensee_org_id,
            "kind": trial.kind,
            "status": trial.status,
            "ends_on": trial.ends_on,
            "ends_at": trial.ends_at,
            "licence_record_id": licence.id,
        },
    )
    return trial


def _already_active() -> Conflict:
    return Conflict("Your organization has an active trial of this patent.", code="trial_already_active")


def _already_used() -> Conflict:
    return Conflict("Your organization has had a trial under this offer.", code="trial_already_used")


async def _move(
    session: AsyncSession,
    trial: Trial,
    target: TrialStatus,
    *,
    by: rules.By,
    actor: str,
    action: str,
    at: datetime,
    where: Sequence[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> bool:
    """Move a trial by the table (409 ``invalid_state``) with one conditional UPDATE on the status read, so of
    a conversion, a termination and the lapse racing one wins; the losers get False. Leaving ``trial_active``
    gives the offer its slot back. The audit event goes on the trial's chain."""
    current = TrialStatus(trial.status)
    rules.check_trial_move(current, target, by)
    won = (
        await session.execute(
            update(Trial)
            .where(Trial.id == trial.id, Trial.status == current, *where)
            .values(status=target, updated_at=at, **dict(values or {}))
            .returning(Trial.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    await session.refresh(trial)
    if won is None:
        return False
    if current == T.trial_active:
        await session.execute(
            update(TrialOffer)
            .where(TrialOffer.id == trial.trial_offer_id)
            .values(active_trials=TrialOffer.active_trials - 1)
            .execution_options(synchronize_session=False)
        )
    await record(
        session,
        entity_type=TRIAL,
        entity_id=trial.id,
        action=action,
        actor=actor,
        at=at,
        data={"from": current, "status": target, **dict(data or {})},
    )
    return True


async def convert_trial(
    session: AsyncSession,
    principal: Principal,
    trial_id: uuid.UUID,
    clock: Clock,
    calendar: WorkdayCalendar,
    fees: FeeSchedule,
) -> Trial:
    """The licensee converts its trial before ``ends_at`` (SPEC §18.3): ``trial_active`` → ``converted`` and, in
    the same transaction, a deal exactly at the agreed terms — source ``trial``, no listing, the licensor as
    seller, the offer's kind (``assignment`` for an assignment conversion), price = the lump sum, the assignment
    price or 0 for royalty only, the licence terms, fees from the schedule; ``awaiting_signatures``, or
    ``public_notice`` until 15 days after the offer's approval when it has been offered for less than that."""
    trial = await _load_trial(session, principal, trial_id)
    if principal.organization_id != trial.licensee_org_id:
        raise Forbidden("Only the licensee converts its trial.")
    rules.check_trial_move(trial.status, T.converted, rules.By.licensee)
    now = clock.now()
    if now >= trial.ends_at:
        raise InvalidState("The trial has ended: it can no longer be converted.")
    offer = await session.get(TrialOffer, trial.trial_offer_id)
    assert offer is not None and offer.approved_at is not None
    terms = rules.deal_terms(trial.kind, trial.conversion)
    if terms.transaction_kind in EXCLUSIVE_KINDS and await listings.listed_elsewhere(
        session, [trial.patent_id], None
    ):
        raise Conflict(
            "The patent is held by an active assignment or exclusive/sole listing or deal.",
            code="patent_already_listed",
        )
    converted = await _move(
        session,
        trial,
        T.converted,
        by=rules.By.licensee,
        actor=principal.label,
        action="converted",
        at=now,
        where=[Trial.ends_at > now],
    )
    if not converted:
        raise InvalidState(f"The trial changed meanwhile: it is {trial.status} now.")
    licence_terms = (
        {"term_months": terms.term_months, "territory": offer.territory, "field_of_use": offer.field_of_use}
        if terms.term_months is not None
        else None
    )
    deal = await deals.create_deal_without_listing(
        session,
        seller_org_id=trial.licensor_org_id,
        buyer_org_id=trial.licensee_org_id,
        transaction_kind=terms.transaction_kind,
        price=terms.price,
        source=DealSource.trial,
        patent_ids=[trial.patent_id],
        license_terms=licence_terms,
        at=now,
        actor=principal.label,
        calendar=calendar,
        fees=fees,
        public_since=offer.approved_at,
        trial_id=trial.id,
    )
    trial.deal_id, trial.updated_at = deal.id, now
    await session.flush()
    await record(
        session,
        entity_type=TRIAL,
        entity_id=trial.id,
        action="deal_made",
        actor=principal.label,
        at=now,
        data={"deal_id": deal.id, "transaction_kind": deal.transaction_kind, "price": deal.price},
    )
    return trial


async def _end_licence_record(session: AsyncSession, trial: Trial, at: datetime) -> None:
    """Terminating a trial ends its licence record that day (``ended_on``, SPEC §18.3); one that has run out
    already keeps its dates."""
    if trial.licence_record_id is None:
        return
    today = _today(at)
    await session.execute(
        update(LicenceRecord)
        .where(
            LicenceRecord.id == trial.licence_record_id,
            LicenceRecord.ended_on.is_(None),
            LicenceRecord.ends_on >= today,
        )
        .values(ended_on=today, updated_at=at)
        .execution_options(synchronize_session=False)
    )


async def terminate_trial(
    session: AsyncSession, principal: Principal, trial_id: uuid.UUID, reason: str, clock: Clock
) -> Trial:
    """The licensee, the licensor or an operator terminates an active trial with a reason; its licence record
    ends that day."""
    trial = await _load_trial(session, principal, trial_id)
    by = (
        rules.By.operator
        if principal.is_operator
        else rules.By.licensee
        if principal.organization_id == trial.licensee_org_id
        else rules.By.licensor
    )
    now = clock.now()
    done = await _move(
        session,
        trial,
        T.terminated,
        by=by,
        actor=principal.label,
        action="terminated",
        at=now,
        values={"status_reason": reason, "ended_at": now},
        data={"reason": reason},
    )
    if not done:
        raise InvalidState(f"The trial changed meanwhile: it is {trial.status} now.")
    await _end_licence_record(session, trial, now)
    return trial


async def on_deal_moved(session: AsyncSession, deal: Deal, *, at: datetime, actor: str) -> None:
    """A trial's conversion deal cancelled or defaulted terminates the trial (``converted`` → ``terminated`` by
    the rules, in the same transaction; SPEC §18.3)."""
    if deal.trial_id is None or deal.status not in (DealStatus.cancelled, DealStatus.defaulted):
        return
    trial = await session.get(Trial, deal.trial_id, with_for_update=True)
    if trial is None or trial.status != T.converted:
        return
    reason = f"the conversion deal was {deal.status}"
    await _move(
        session,
        trial,
        T.terminated,
        by=rules.By.rules,
        actor=actor,
        action="terminated",
        at=at,
        values={"status_reason": reason, "ended_at": at},
        data={"reason": reason, "deal_id": deal.id},
    )
    await _end_licence_record(session, trial, at)


deals.after_move(on_deal_moved)


# --- the sweeper's moves (app.trials.deadlines) -------------------------------------------------------------


def _notice_data(trial: Trial, **extra: Any) -> dict[str, Any]:
    return {"trial_id": str(trial.id), "trial_offer_id": str(trial.trial_offer_id), **extra}


async def lapse(session: AsyncSession, trial: Trial) -> bool:
    """``trial_active`` at ``ends_at`` → ``lapsed`` as of ``ends_at``, and ``trial_lapsed`` to both sides. The
    trial's licence record keeps its dates."""
    at = trial.ends_at
    done = await _move(
        session,
        trial,
        T.lapsed,
        by=rules.By.sweeper,
        actor=SYSTEM_ACTOR,
        action="lapsed",
        at=at,
        where=[Trial.ends_at <= at],
        values={"ended_at": at},
    )
    if done:
        await notify(
            session,
            "trial_lapsed",
            [trial.licensee_org_id, trial.licensor_org_id],
            _notice_data(trial),
            at=at,
        )
    return done


async def remind(session: AsyncSession, trial: Trial) -> bool:
    """``trial_ending`` to both sides at ``reminder_at``, once, while the trial is active."""
    at = trial.reminder_at
    won = (
        await session.execute(
            update(Trial)
            .where(Trial.id == trial.id, Trial.status == T.trial_active, Trial.reminded.is_(False))
            .values(reminded=True)
            .returning(Trial.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if won is None:
        return False
    await notify(
        session,
        "trial_ending",
        [trial.licensee_org_id, trial.licensor_org_id],
        _notice_data(trial, ends_at=to_jsonable_python(trial.ends_at)),
        at=at,
    )
    return True


# --- reads -------------------------------------------------------------------------------------------------


async def get_trial(session: AsyncSession, principal: Principal, trial_id: uuid.UUID) -> Trial:
    return await _load_trial(session, principal, trial_id)


async def list_trials(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[Trial], str | None]:
    """The offer's trials: all of them for the offerer and operators, its own for a company."""
    offer = await _load_offer(session, principal, offer_id)
    query = select(Trial).where(Trial.trial_offer_id == offer.id)
    if not principal.is_operator and principal.organization_id != offer.owner_org_id:
        query = query.where(Trial.licensee_org_id == principal.organization_id)
    keys = [datetime_key(Trial.created_at, descending=True), SortKey(Trial.id, uuid.UUID, descending=True)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda x: (x.created_at, x.id))
