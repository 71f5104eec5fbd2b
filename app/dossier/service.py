"""Decision records and the deal dossier (安心屋, SPEC §18.7).

* ``record_decision``: the seller's member records the unit's collective decision about a deal (not a cancelled
  or defaulted one: 409 ``invalid_state``); each call appends a row and the deal chain's ``decision_recorded``.
* ``dossier``: for the seller's members and operators (the buyer and anyone else 404), every fact the table of
  ``app.dossier.rules`` lists, each citing the audit event that recorded it, the digest of their hashes, and
  whether every chain cited re-verifies.

Services never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record, verify_chains
from app.deals import service as deals
from app.dossier import rules, schemas
from app.kit.clock import Clock
from app.kit.errors import Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.models.audit import AuditEvent
from app.models.contracts import Objection
from app.models.dossier import DecisionRecord
from app.models.techcontracts import TechContractRegistration
from app.models.trading import Deal, DealStatus

ENDED = frozenset({DealStatus.cancelled, DealStatus.defaulted})


async def record_decision(
    session: AsyncSession,
    principal: Principal,
    deal_id: uuid.UUID,
    data: schemas.DecisionRecordIn,
    clock: Clock,
) -> DecisionRecord:
    """SPEC §18.7: the seller's member (operators and the buyer 403, others 404) appends a decision record to
    a deal that is not cancelled or defaulted (409 ``invalid_state``); ``decided_on`` not after today (422).
    The deal's row is held, so the deal's chain is written by one transaction at a time."""
    deal = await deals.get_deal(session, principal, deal_id, lock=True)
    if principal.organization_id is None or principal.organization_id != deal.seller_org_id:
        raise Forbidden("Only the seller records its decisions about a deal.")
    if deal.status in ENDED:
        raise InvalidState(f"The deal is {deal.status}; no decision is recorded for it.")
    now = clock.now()
    if data.decided_on > now.astimezone(SHANGHAI).date():
        raise Unprocessable(
            "A decision is not recorded before the day it is taken.",
            errors=[{"loc": ["body", "decided_on"], "msg": "must not be after today"}],
        )
    decision = DecisionRecord(
        id=uuid.uuid4(),
        deal_id=deal.id,
        body=data.body,
        number=data.number,
        decided_on=data.decided_on,
        document_sha256=data.document_sha256.lower(),
        recorded_by=principal.user_id,
        recorded_at=now,
    )
    session.add(decision)
    await session.flush()
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="decision_recorded",
        actor=principal.label,
        at=now,
        data={
            "decision_record_id": decision.id,
            "body": decision.body,
            "number": decision.number,
            "decided_on": decision.decided_on,
            "document_sha256": decision.document_sha256,
        },
    )
    return decision


def present_decision(decision: DecisionRecord) -> schemas.DecisionRecordOut:
    return schemas.DecisionRecordOut.model_validate(decision)


# --- the dossier ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dossier:
    deal_id: uuid.UUID
    generated_at: datetime
    items: list[rules.Item]
    digest: str
    chain_ok: bool


async def _chain(session: AsyncSession, entity_type: str, entity_id: uuid.UUID | str) -> list[rules.Event]:
    rows = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
        .order_by(AuditEvent.seq)
    )
    return [
        rules.Event(
            entity_type=e.entity_type,
            entity_id=e.entity_id,
            seq=e.seq,
            at=e.at,
            action=e.action,
            data=e.data,
            hash=e.hash,
        )
        for e in rows
    ]


async def _seller_deal(session: AsyncSession, principal: Principal, deal_id: uuid.UUID) -> Deal:
    """The deal, for its seller's members and operators; the buyer and anyone else: 404 (SPEC §18.7)."""
    deal = await session.get(Deal, deal_id)
    if deal is None or not (principal.is_operator or principal.organization_id == deal.seller_org_id):
        raise NotFound("No such deal.")
    return deal


async def dossier(session: AsyncSession, principal: Principal, deal_id: uuid.UUID, clock: Clock) -> Dossier:
    """The deal's dossier (SPEC §18.7), built from the audit events of the deal, its listing, its objections
    and its latest technology-contract filing (``app.dossier.rules``)."""
    deal = await _seller_deal(session, principal, deal_id)
    objection_ids = (
        await session.scalars(
            select(Objection.id)
            .where(Objection.deal_id == deal.id)
            .order_by(Objection.created_at, Objection.id)
        )
    ).all()
    filing_id = await session.scalar(
        select(TechContractRegistration.id)
        .where(TechContractRegistration.deal_id == deal.id)
        .order_by(TechContractRegistration.created_at.desc(), TechContractRegistration.id.desc())
        .limit(1)
    )
    chains = rules.Chains(
        deal=await _chain(session, "deal", deal.id),
        listing=await _chain(session, "listing", deal.listing_id) if deal.listing_id is not None else (),
        objections=[await _chain(session, "objection", oid) for oid in objection_ids],
        tech_contract_registration=(
            await _chain(session, "tech_contract_registration", filing_id) if filing_id is not None else ()
        ),
    )
    items = rules.items(chains)
    report = await verify_chains(session, {(i.event.entity_type, i.event.entity_id) for i in items})
    return Dossier(
        deal_id=deal.id,
        generated_at=clock.now(),
        items=items,
        digest=rules.digest(i.event.hash for i in items),
        chain_ok=report.ok,
    )


def present(d: Dossier) -> schemas.DossierOut:
    return schemas.DossierOut(
        deal_id=d.deal_id,
        generated_at=d.generated_at,
        items=[
            schemas.DossierItem(
                kind=i.kind,
                at=i.at,
                facts=i.facts,
                audit=schemas.DossierAuditRef(
                    entity_type=i.event.entity_type,
                    entity_id=i.event.entity_id,
                    seq=i.event.seq,
                    hash=i.event.hash,
                ),
            )
            for i in d.items
        ],
        digest=d.digest,
        chain_ok=d.chain_ok,
    )
