"""Co-ownership and 赋权 (SPEC §18.5): the owners list, empowerments, consents and their checks, the income split
at settlement, inventors' payouts.

Owners and empowerments are audited on the patent's chain; consents (``owner_consent_recorded``) on their
subject's (listing, pledge, trial offer). Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.kit.clock import Clock
from app.kit.errors import CodedValueError, Conflict, Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.ledger.service import InsufficientFunds, Line, account_id, account_ids, exchange_account, post
from app.models.accounts import Organization
from app.models.ledger import AccountKind, EntryKind, JournalEntry, JournalLine, LedgerAccount
from app.models.listings import Listing, ListingPatent
from app.models.owners import (
    FULL_SHARE,
    ConsentSubject,
    Empowerment,
    EmpowermentForm,
    InventorLine,
    InventorLineKind,
    OwnerConsent,
    OwnerKind,
    PatentOwner,
)
from app.models.patents import Patent
from app.models.policy import Pledge, PledgeStatus
from app.models.trading import Deal
from app.models.trials import TrialOffer
from app.owners import queries, rules, schemas
from app.owners.queries import Owner
from app.patents.service import locked
from app.trials import queries as trials

PATENT = "patent"
CONSENT_ACTION = "owner_consent_recorded"


class PatentLocked(Conflict):
    code = "patent_locked"


class ConsentRequired(Conflict):
    code = "co_owner_consent_required"


class UseRightConflict(Conflict):
    code = "use_right_conflict"


class CoOwnersDiffer(Conflict):
    code = "co_owners_differ"


def _today(clock: Clock) -> date:
    return clock.now().astimezone(SHANGHAI).date()


def _unprocessable(code: str, field: list[str | int], message: str) -> Unprocessable:
    return Unprocessable(
        "The request is not valid.", code=code, errors=[{"loc": ["body", *field], "msg": message}]
    )


# --- locks -----------------------------------------------------------------------------------------------------


async def _check_unlocked(session: AsyncSession, patent_id: uuid.UUID) -> None:
    """SPEC §18.5: the owners change, and a use right is granted, only while the patent is in no active listing,
    open-licence declaration, unsettled deal (§20's lock), live trial offer, nor pending or active pledge → 409
    ``patent_locked``; nor while a trial runs on a withdrawn offer (its conversion is settled on the offer's
    consents, which can no longer be given). The one rule for the owners list and both forms of 赋权: whatever
    these commit the patent to is settled on consents given before, which settlement re-checks."""
    if await locked(session, [patent_id]):
        raise PatentLocked(
            "The patent is in an active listing, an open-licence declaration or an unsettled deal."
        )
    trial = await trials.in_trial(session, patent_id)
    if trial is not None:
        raise PatentLocked(trial)
    pledge = exists().where(
        Pledge.patent_id == patent_id,
        Pledge.status.in_([PledgeStatus.pending.value, PledgeStatus.active.value]),
    )
    if await session.scalar(select(pledge)):
        raise PatentLocked("The patent has a pending or active pledge.")


# --- the owners list -------------------------------------------------------------------------------------------


async def _patent_for_owners(session: AsyncSession, principal: Principal, patent_id: uuid.UUID) -> Patent:
    patent = await session.get(Patent, patent_id, with_for_update=True)
    if patent is None:
        raise NotFound("No such patent.")
    if principal.is_operator:
        return patent
    org = principal.organization_id
    if org is None or not (await queries.owned_by(session, [patent_id], org)):
        raise NotFound("No such patent.")
    if org != patent.owner_org_id:
        raise Forbidden("Only the managing owner records the owners.")
    return patent


@dataclass
class _NewOwner:
    kind: OwnerKind
    organization_id: uuid.UUID | None
    name: str
    id_number_masked: str | None
    id_number_hash: str | None
    institution_org_id: uuid.UUID | None
    share_bp: int

    @property
    def identity(self) -> tuple[str, str]:
        if self.kind == OwnerKind.organization:
            return ("organization", str(self.organization_id))
        return ("inventor", str(self.id_number_hash))


async def set_owners(
    session: AsyncSession,
    principal: Principal,
    patent_id: uuid.UUID,
    data: schemas.OwnersIn,
    clock: Clock,
    *,
    key: str,
) -> None:
    """``POST /patents/{id}/owners`` (SPEC §18.5): replaces the list. The managing owner's members may add owners
    and raise shares; a list that drops an owner or lowers another's share is for operators only (403)."""
    patent = await _patent_for_owners(session, principal, patent_id)
    managing = patent.owner_org_id
    institution = managing
    new: list[_NewOwner] = []
    errors: list[dict[str, Any]] = []
    org_ids = [o.organization_id for o in data.owners if isinstance(o, schemas.OrganizationOwnerIn)]
    names = dict(
        (
            await session.execute(
                select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))
            )
        ).all()
    )
    for i, item in enumerate(data.owners):
        if isinstance(item, schemas.OrganizationOwnerIn):
            if item.organization_id not in names:
                errors.append(
                    {"loc": ["body", "owners", i, "organization_id"], "msg": "no such organization"}
                )
                continue
            new.append(
                _NewOwner(
                    OwnerKind.organization,
                    item.organization_id,
                    names[item.organization_id],
                    None,
                    None,
                    None,
                    item.share,
                )
            )
        else:
            new.append(
                _NewOwner(
                    OwnerKind.inventor,
                    None,
                    item.name,
                    rules.mask_id_number(item.id_number),
                    rules.id_number_hash(item.id_number, key),
                    institution,
                    item.share,
                )
            )
    seen: set[tuple[str, str]] = set()
    for i, owner in enumerate(new):
        if owner.identity in seen:
            errors.append({"loc": ["body", "owners", i], "msg": "this owner is listed twice"})
        seen.add(owner.identity)
    if ("organization", str(managing)) not in seen and not errors:
        errors.append({"loc": ["body", "owners"], "msg": "the managing owner stays an owner"})
    if errors:
        raise Unprocessable("The request is not valid.", errors=errors)
    try:
        rules.check_shares([o.share_bp for o in new])
    except CodedValueError as exc:
        raise _unprocessable(exc.code, ["owners"], str(exc)) from None

    current = (await queries.owners_of(session, [patent.id]))[patent.id]
    after = {o.identity: o.share_bp for o in new}
    # The managing owner may give of its own share; dropping or lowering another owner's is the register's.
    narrowed = [
        o
        for o in current
        if after.get(o.identity, 0) < o.share_bp and o.identity != ("organization", str(managing))
    ]
    if narrowed and not principal.is_operator:
        raise Forbidden(
            "Dropping an owner or lowering another owner's share is for operators, who check CNIPA's register."
        )
    await _check_unlocked(session, patent.id)
    now = clock.now()
    await _replace(session, patent.id, new, at=now)
    await record(
        session,
        entity_type=PATENT,
        entity_id=patent.id,
        action="owners_set",
        actor=principal.label,
        at=now,
        data={"owners": [_audit_owner(o) for o in new]},
    )
    patent.updated_at = now


def _audit_owner(o: _NewOwner) -> dict[str, Any]:
    return {
        "kind": o.kind,
        "organization_id": o.organization_id,
        "name": o.name,
        "id_number_masked": o.id_number_masked,
        "institution_org_id": o.institution_org_id,
        "share": rules.format_percent(o.share_bp),
    }


async def _replace(
    session: AsyncSession, patent_id: uuid.UUID, new: Sequence[_NewOwner], *, at: datetime
) -> None:
    """Write the list: an owner already recorded keeps its row (and id), the others' rows go."""
    rows = (await session.scalars(select(PatentOwner).where(PatentOwner.patent_id == patent_id))).all()
    by_identity = {queries._owner(r).identity: r for r in rows}
    keep: set[uuid.UUID] = set()
    for position, owner in enumerate(new):
        row = by_identity.get(owner.identity)
        if row is None:
            row = PatentOwner(
                id=uuid.uuid4(),
                patent_id=patent_id,
                kind=owner.kind,
                organization_id=owner.organization_id,
                id_number_hash=owner.id_number_hash,
                institution_org_id=owner.institution_org_id,
                created_at=at,
                name=owner.name,
                id_number_masked=owner.id_number_masked,
                share_bp=owner.share_bp,
                position=position,
            )
            session.add(row)
        else:
            row.name, row.share_bp, row.position = owner.name, owner.share_bp, position
            row.id_number_masked = owner.id_number_masked
        keep.add(row.id)
    stale = [r.id for r in rows if r.id not in keep]
    await session.flush()
    if stale:
        await session.execute(delete(PatentOwner).where(PatentOwner.id.in_(stale)))


async def reset_owners(session: AsyncSession, patent_ids: Sequence[uuid.UUID]) -> None:
    """After an assignment or contribution the new owner owns alone (SPEC §18.1: one owner, 100.00)."""
    if patent_ids:
        await session.execute(delete(PatentOwner).where(PatentOwner.patent_id.in_(list(patent_ids))))


# --- 赋权 -------------------------------------------------------------------------------------------------------


async def empower(
    session: AsyncSession,
    principal: Principal,
    patent_id: uuid.UUID,
    data: schemas.EmpowermentIn,
    clock: Clock,
    *,
    key: str,
    use_right_min_years: int,
) -> Empowerment:
    """``POST /patents/{id}/empowerments`` (a member of a public-institution owner, SPEC §18.5)."""
    patent = await session.get(Patent, patent_id, with_for_update=True)
    org_id = principal.organization_id
    if patent is None or org_id is None or not (await queries.owned_by(session, [patent_id], org_id)):
        raise NotFound("No such patent.")
    org = await session.get(Organization, org_id)
    if org is None or not org.is_public_institution:
        raise Forbidden("Only a public-institution owner grants its inventors rights (赋权).")
    today = _today(clock)
    if data.decided_on > today:
        raise _unprocessable("validation_error", ["decided_on"], "the decision cannot be dated after today")
    inventors = [
        _NewOwner(
            OwnerKind.inventor,
            None,
            i.name,
            rules.mask_id_number(i.id_number),
            rules.id_number_hash(i.id_number, key),
            org_id,
            i.share or 0,
        )
        for i in data.inventors
    ]
    if len({i.identity for i in inventors}) != len(inventors):
        raise _unprocessable("validation_error", ["inventors"], "an inventor is listed twice")
    now = clock.now()
    starts_on = ends_on = None
    if data.form == EmpowermentForm.ownership:
        current = (await queries.owners_of(session, [patent.id]))[patent.id]
        mine = next((o for o in current if o.identity == ("organization", str(org_id))), None)
        assert mine is not None
        given = sum(i.share_bp for i in inventors)
        if any(i.share_bp <= 0 for i in inventors) or mine.share_bp - given <= 0:
            raise _unprocessable(
                rules.INVALID_SHARES,
                ["inventors"],
                "the inventors' shares come from the institution's, which must stay above 0",
            )
        await _check_unlocked(session, patent.id)
        new: list[_NewOwner] = []
        for o in current:
            share = o.share_bp - given if o is mine else o.share_bp
            new.append(
                _NewOwner(
                    o.kind,
                    o.organization_id,
                    o.name,
                    o.id_number_masked,
                    o.id_number_hash,
                    o.institution_org_id,
                    share,
                )
            )
        for i in inventors:
            existing = next((n for n in new if n.identity == i.identity), None)
            if existing is not None:
                existing.share_bp += i.share_bp
            else:
                new.append(i)
        await _replace(session, patent.id, new, at=now)
    else:
        assert data.term_years is not None
        if data.term_years < use_right_min_years:
            raise _unprocessable(
                "use_right_term_too_short",
                ["term_years"],
                f"a use right runs at least {use_right_min_years} years",
            )
        # A use right binds every later assignment and exclusive licence (SPEC §18.5): not while one is under way.
        await _check_unlocked(session, patent.id)
        starts_on, ends_on = rules.use_right_period(data.decided_on, data.term_years, patent.expires_on)
    empowerment = Empowerment(
        id=uuid.uuid4(),
        patent_id=patent.id,
        organization_id=org_id,
        form=data.form,
        decision_number=data.decision_number,
        decided_on=data.decided_on,
        inventors=[
            {
                "name": i.name,
                "id_number_masked": i.id_number_masked,
                "share": i.share_bp if data.form == EmpowermentForm.ownership else None,
            }
            for i in inventors
        ],
        term_years=data.term_years,
        starts_on=starts_on,
        ends_on=ends_on,
        created_at=now,
    )
    session.add(empowerment)
    await session.flush()
    await record(
        session,
        entity_type=PATENT,
        entity_id=patent.id,
        action="empowerment_recorded",
        actor=principal.label,
        at=now,
        data=empowerment_view(empowerment),
    )
    patent.updated_at = now
    return empowerment


def empowerment_view(e: Empowerment) -> dict[str, Any]:
    """An empowerment as the API and the audit trail show it (masked numbers only)."""
    return {
        "id": e.id,
        "patent_id": e.patent_id,
        "form": e.form,
        "decision_number": e.decision_number,
        "decided_on": e.decided_on,
        "inventors": [
            {
                "name": i["name"],
                "id_number_masked": i["id_number_masked"],
                **({"share": rules.format_percent(i["share"])} if i.get("share") is not None else {}),
            }
            for i in e.inventors
        ],
        "starts_on": e.starts_on,
        "ends_on": e.ends_on,
    }


# --- consents ---------------------------------------------------------------------------------------------------

# The states in which a subject takes consents (SPEC §18.5: draft, pending_review or pending).
_OPEN_STATES = frozenset({"draft", "pending_review", "pending"})


@dataclass(frozen=True)
class Subject:
    type: ConsentSubject
    id: uuid.UUID
    status: str
    acting_org_id: uuid.UUID  # the seller, the pledgor, the offerer
    patent_ids: list[uuid.UUID]


async def subject_of(
    session: AsyncSession, subject_type: ConsentSubject, subject_id: uuid.UUID, *, lock: bool = False
) -> Subject | None:
    if subject_type == ConsentSubject.listing:
        q = select(Listing).where(Listing.id == subject_id)
        listing = await session.scalar(q.with_for_update() if lock else q)
        if listing is None:
            return None
        ids = (
            await session.scalars(
                select(ListingPatent.patent_id)
                .where(ListingPatent.listing_id == subject_id)
                .order_by(ListingPatent.position, ListingPatent.patent_id)
            )
        ).all()
        return Subject(subject_type, subject_id, str(listing.status), listing.seller_org_id, list(ids))
    if subject_type == ConsentSubject.pledge:
        q2 = select(Pledge).where(Pledge.id == subject_id)
        pledge = await session.scalar(q2.with_for_update() if lock else q2)
        if pledge is None:
            return None
        return Subject(
            subject_type, subject_id, str(pledge.status), pledge.pledgor_org_id, [pledge.patent_id]
        )
    q3 = select(TrialOffer).where(TrialOffer.id == subject_id)
    offer = await session.scalar(q3.with_for_update() if lock else q3)
    if offer is None:
        return None
    return Subject(subject_type, subject_id, str(offer.status), offer.owner_org_id, [offer.patent_id])


async def record_consent(
    session: AsyncSession,
    principal: Principal,
    subject_type: ConsentSubject,
    subject_id: uuid.UUID,
    data: schemas.OwnerConsentIn,
    clock: Clock,
) -> tuple[OwnerConsent, bool]:
    """``POST /{listings|pledges|trial-offers}/{id}/owner-consents`` (SPEC §18.5): an organization owner's member
    gives its organization's consent with ``{}``; an operator records a natural person's (``owner_id``) or a use
    right's (``use_right_id``) from the signed paper. Returns the consent and whether it is new (the same consent
    again returns the first)."""
    subject = await subject_of(session, subject_type, subject_id, lock=True)
    if subject is None:
        raise NotFound("No such subject.")
    org = principal.organization_id
    if not principal.is_operator:
        owners = await queries.owners_of(session, subject.patent_ids)
        is_owner = org is not None and (
            org == subject.acting_org_id
            or any(o.organization_id == org for lst in owners.values() for o in lst)
        )
        if not is_owner:
            raise NotFound("No such subject.")
        if data.owner_id is not None or data.use_right_id is not None:
            raise Forbidden(
                "An operator records a natural person's or a use right's consent from the signed paper."
            )
    elif data.owner_id is None and data.use_right_id is None:
        raise Forbidden("Operators record the consent of a natural person or of a use right's holders.")
    if subject.status not in _OPEN_STATES:
        raise InvalidState(
            f"Consents are given while the {subject_type.replace('_', ' ')} is a draft or pending."
        )
    if data.owner_id is not None:
        inventor = await session.scalar(
            select(PatentOwner.id).where(
                PatentOwner.id == data.owner_id,
                PatentOwner.kind == OwnerKind.inventor,
                PatentOwner.patent_id.in_(subject.patent_ids),
            )
        )
        if inventor is None:
            raise _unprocessable(
                "validation_error", ["owner_id"], "not a natural-person owner of these patents"
            )
        target = OwnerConsent.owner_id == data.owner_id
    elif data.use_right_id is not None:
        right = await session.scalar(
            select(Empowerment.id).where(
                Empowerment.id == data.use_right_id,
                Empowerment.form == EmpowermentForm.use_right,
                Empowerment.patent_id.in_(subject.patent_ids),
            )
        )
        if right is None:
            raise _unprocessable("validation_error", ["use_right_id"], "not a use right of these patents")
        target = OwnerConsent.use_right_id == data.use_right_id
    else:
        target = OwnerConsent.organization_id == org
    where = (OwnerConsent.subject_type == subject_type, OwnerConsent.subject_id == subject_id, target)
    existing = await session.scalar(select(OwnerConsent).where(*where))
    if existing is not None:
        return existing, False
    now = clock.now()
    consent = OwnerConsent(
        id=uuid.uuid4(),
        subject_type=subject_type,
        subject_id=subject_id,
        organization_id=org if data.owner_id is None and data.use_right_id is None else None,
        owner_id=data.owner_id,
        use_right_id=data.use_right_id,
        document_sha256=data.document_sha256,
        given_at=now,
        recorded_by=principal.label,
    )
    try:
        async with session.begin_nested():
            session.add(consent)
    except IntegrityError:
        found = await session.scalar(select(OwnerConsent).where(*where))
        assert found is not None
        return found, False
    named = (
        {"owner_id": consent.owner_id}
        if consent.owner_id is not None
        else {"use_right_id": consent.use_right_id}
        if consent.use_right_id is not None
        else {"organization_id": consent.organization_id}
    )
    await record(
        session,
        entity_type=str(subject_type),
        entity_id=subject_id,
        action=CONSENT_ACTION,
        actor=principal.label,
        at=now,
        data={"consent_id": consent.id, **named, "document_sha256": consent.document_sha256},
    )
    return consent, True


async def require_consents(
    session: AsyncSession,
    *,
    subject_type: ConsentSubject | str,
    subject_id: uuid.UUID,
    patent_ids: Sequence[uuid.UUID],
    restricted: bool,
    acting_org_id: uuid.UUID | None = None,
    today: date | None = None,
) -> None:
    """SPEC §18.5 (专利法 art. 14): an act restricted to every owner's consent — assignment, equity
    contribution, exclusive and sole licences, pledges — needs each other owner's consent to this subject
    (409 ``co_owner_consent_required``), then each use right's in force ``today`` (``None``: every use right
    recorded; 409 ``use_right_conflict``). Any owner alone may license non-exclusively (``restricted=False``).
    ``acting_org_id``: the seller, pledgor or offerer, whose consent the act itself is (default: the
    subject's)."""
    if not restricted or not patent_ids:
        return
    kind = ConsentSubject(subject_type)
    if acting_org_id is None:
        subject = await subject_of(session, kind, subject_id)
        acting_org_id = subject.acting_org_id if subject is not None else None
    consents = (
        await session.scalars(
            select(OwnerConsent).where(
                OwnerConsent.subject_type == kind, OwnerConsent.subject_id == subject_id
            )
        )
    ).all()
    orgs = {c.organization_id for c in consents if c.organization_id is not None}
    people = {c.owner_id for c in consents if c.owner_id is not None}
    rights = {c.use_right_id for c in consents if c.use_right_id is not None}
    owners = await queries.owners_of(session, patent_ids)
    # A natural person's consent counts for every patent of the subject: the same person by the keyed hash.
    hashes = {o.id_number_hash for lst in owners.values() for o in lst if o.id in people}
    missing = [
        o
        for lst in owners.values()
        for o in lst
        if (
            o.kind == OwnerKind.organization
            and o.organization_id not in orgs
            and o.organization_id != acting_org_id
        )
        or (o.kind == OwnerKind.inventor and o.id_number_hash not in hashes)
    ]
    if missing:
        raise ConsentRequired(
            f"{len(missing)} co-owner consent(s) missing for this act: every other owner of the patents must consent."
        )
    in_force = await queries.use_rights_of(session, patent_ids, today=today)
    if any(r.id not in rights for lst in in_force.values() for r in lst):
        raise UseRightConflict("A use right is in force on these patents and its holders have not consented.")


async def check_same_owners(session: AsyncSession, patent_ids: Sequence[uuid.UUID]) -> None:
    """The patents of one listing have the same owners and shares → else 409 ``co_owners_differ``."""
    if len(patent_ids) < 2:
        return
    owners = await queries.owners_of(session, patent_ids)
    shapes = {frozenset((o.identity, o.share_bp) for o in lst) for lst in owners.values()}
    if len(shapes) > 1:
        raise CoOwnersDiffer("The patents of one listing must have the same owners with the same shares.")


# --- the income split -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One owner's part of a payout: ``organization_id`` is credited (an inventor's part: its institution's
    payable-to-inventors account, and the inventor's line)."""

    owner_id: uuid.UUID | None
    kind: OwnerKind
    organization_id: uuid.UUID
    share_bp: int
    amount: int

    @property
    def account(self) -> AccountKind:
        return (
            AccountKind.available if self.kind == OwnerKind.organization else AccountKind.payable_to_inventors
        )

    def data(self) -> dict[str, Any]:
        return {
            "owner_id": self.owner_id,
            "kind": self.kind,
            "organization_id": self.organization_id,
            "share": rules.format_percent(self.share_bp),
            "amount": self.amount,
        }


async def split_income(
    session: AsyncSession, *, patent_ids: Sequence[uuid.UUID], seller_org_id: uuid.UUID, net_fen: int
) -> list[Part]:
    """SPEC §18.5: ``net_fen`` paid out for these patents split by the owners' shares — each owner but the seller
    share × net rounded down to the fen, the seller the rest (``rules.split``). The patents of one deal have the
    same owners (``co_owners_differ``); the first patent's are used. A sole owner: one part, the seller's."""
    owners = (await queries.owners_of(session, patent_ids[:1])).get(patent_ids[0], []) if patent_ids else []
    seller_key: tuple[str, str] = ("organization", str(seller_org_id))
    by_identity: dict[tuple[str, str], Owner] = {o.identity: o for o in owners}
    amounts = rules.split(net_fen, [(o.identity, o.share_bp) for o in owners], seller_key)
    parts: list[Part] = []
    for identity, amount in amounts.items():
        owner = by_identity.get(identity)
        if owner is None:  # the seller, not among the owners (never, once listings check it): the whole rest
            parts.append(Part(None, OwnerKind.organization, seller_org_id, FULL_SHARE, amount))
        else:
            parts.append(Part(owner.id, owner.kind, owner.credited_org_id, owner.share_bp, amount))
    return parts


async def credit_parts(
    session: AsyncSession,
    parts: Sequence[Part],
    *,
    at: datetime,
    deal_id: uuid.UUID | None = None,
    source: str | None = None,
) -> list[Line]:
    """The ledger lines crediting each part (organization owners on ``available``, inventors' parts on their
    institution's ``payable_to_inventors``), for the caller's one balanced entry; records each inventor's credit
    line in the same transaction."""
    ids = await account_ids(session, {(p.account, p.organization_id) for p in parts})
    lines = [Line(ids[(p.account, p.organization_id)], p.amount) for p in parts]
    credits = [
        InventorLine(
            id=uuid.uuid4(),
            organization_id=p.organization_id,
            owner_id=p.owner_id,
            kind=InventorLineKind.credit,
            amount=p.amount,
            deal_id=deal_id,
            source=source,
            bank_reference=None,
            at=at,
        )
        for p in parts
        if p.kind == OwnerKind.inventor and p.amount > 0 and p.owner_id is not None
    ]
    if credits:
        session.add_all(credits)
        await session.flush()
    return lines


def parts_data(parts: Sequence[Part]) -> list[dict[str, Any]]:
    return [p.data() for p in parts]


async def seller_part(session: AsyncSession, deal: Deal) -> int:
    """What the seller itself received of a settled deal's ``price − seller fee``: its own part when the patents
    were co-owned (SPEC §18.5, §12: a co-owned deal's net income is the seller's part − costs), as settlement
    credited it to the seller's ``available``; ``price − seller fee`` when no settlement entry moved money."""
    entry = await session.scalar(
        select(JournalEntry.id).where(
            JournalEntry.kind == EntryKind.settlement, JournalEntry.reference == f"deal:{deal.id}"
        )
    )
    if entry is None:
        return deal.price - deal.seller_fee
    seller = await account_id(session, AccountKind.available, deal.seller_org_id)
    credited = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount), 0)).where(
            JournalLine.entry_id == entry, JournalLine.account_id == seller
        )
    )
    return int(credited or 0)


# --- inventors' payouts -------------------------------------------------------------------------------------------


async def pay_inventor(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, data: schemas.PayoutIn, clock: Clock
) -> InventorLine:
    """``POST /organizations/{id}/inventor-payouts`` (the institution's admin, SPEC §18.5): pays an inventor out
    of the payable-to-inventors account to the bank; more than credited less paid to that inventor → 409
    ``insufficient_funds``."""
    if principal.organization_id != org_id:
        raise NotFound("No such organization.")
    if not principal.is_org_admin:
        raise Forbidden("Only the organization's admin pays its inventors.")
    known = await session.scalar(
        select(
            exists().where(InventorLine.organization_id == org_id, InventorLine.owner_id == data.owner_id)
            | exists().where(PatentOwner.id == data.owner_id, PatentOwner.institution_org_id == org_id)
        )
    )
    if not known:
        raise NotFound("No such inventor of this organization.")
    payable = await account_id(session, AccountKind.payable_to_inventors, org_id)
    # The account's row lock serialises this institution's payouts, so the inventor's balance read next holds.
    await session.execute(select(LedgerAccount.id).where(LedgerAccount.id == payable).with_for_update())
    owed = await session.scalar(
        select(func.coalesce(func.sum(InventorLine.amount), 0)).where(
            InventorLine.organization_id == org_id, InventorLine.owner_id == data.owner_id
        )
    )
    if data.amount > int(owed or 0):
        raise InsufficientFunds("More than this inventor was credited less what was paid to them.")
    now = clock.now()
    bank = await exchange_account(session, AccountKind.bank_clearing)
    await post(
        session,
        EntryKind.inventor_payout,
        [Line(payable, -data.amount), Line(bank, data.amount)],
        at=now,
        actor=principal.label,
        organization_id=org_id,
        memo=f"inventor payout {data.bank_reference}",
    )
    line = InventorLine(
        id=uuid.uuid4(),
        organization_id=org_id,
        owner_id=data.owner_id,
        kind=InventorLineKind.payout,
        amount=-data.amount,
        deal_id=None,
        source=None,
        bank_reference=data.bank_reference,
        at=now,
    )
    session.add(line)
    await session.flush()
    await record(
        session,
        entity_type="organization",
        entity_id=org_id,
        action="inventor_paid",
        actor=principal.label,
        at=now,
        data={
            "payout_id": line.id,
            "owner_id": data.owner_id,
            "amount": data.amount,
            "bank_reference": data.bank_reference,
        },
    )
    return line


def payout_view(line: InventorLine) -> schemas.PayoutOut:
    return schemas.PayoutOut(
        id=line.id,
        organization_id=line.organization_id,
        owner_id=line.owner_id,
        amount=-line.amount,
        bank_reference=line.bank_reference or "",
        at=line.at,
    )
