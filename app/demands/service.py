"""Technology demands (需求发布 / 供需对接, SPEC §17.6): drafting, review, closing and expiry; responses by
sellers; matching demands and listings both ways; the anonymity of an anonymous demand's owner.

Every change writes an audit event (``entity_type`` ``demand`` or ``demand_response``, readable by operators
and the demand's owner only) in the caller's transaction; notifications go through the outbox in the same
transaction. Services flush, never commit.

Anonymity: an anonymous demand's organization is shown (``organization``) to its owner, operators and the
sellers whose response the owner accepted, and to nobody else — ``present`` is the one place a demand
becomes a response, and notifications to sellers carry the owner only once it accepted them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.access import register_parties
from app.audit.service import SYSTEM_ACTOR, record
from app.demands import repository as repo
from app.demands import rules, schemas
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound, Unauthorized, Unprocessable
from app.kit.pagination import decode_cursor, encode_cursor, invalid_cursor
from app.kit.security import Principal
from app.listings import queries as listing_queries
from app.listings import service as listings
from app.models.demands import Demand, DemandResponse, DemandResponseStatus, DemandStatus
from app.models.listings import ListingStatus
from app.notifications.outbox import notify

S = DemandStatus
R = DemandResponseStatus

# Audit readers besides operators (SPEC §17.6): the demand's owner only, so an anonymous owner reaches no
# seller through the trail.
register_parties("demand", lambda key: select(Demand.owner_org_id).where(Demand.id == key))
register_parties(
    "demand_response",
    lambda key: (
        select(Demand.owner_org_id)
        .join(DemandResponse, DemandResponse.demand_id == Demand.id)
        .where(DemandResponse.id == key)
    ),
)


# --- presenting -------------------------------------------------------------------------------------------


async def revealed(
    session: AsyncSession, principal: Principal | None, demands: Sequence[Demand]
) -> set[uuid.UUID]:
    """The demands of ``demands`` whose owner the caller may learn: every one that is not anonymous; the
    anonymous ones to their owner, operators, and the sellers whose response the owner accepted."""
    shown = {d.id for d in demands if not d.anonymous}
    if principal is not None and principal.is_operator:
        return {d.id for d in demands}
    if principal is None or principal.organization_id is None:
        return shown
    org = principal.organization_id
    shown |= {d.id for d in demands if d.owner_org_id == org}
    hidden = [d.id for d in demands if d.id not in shown]
    return shown | await repo.accepted_for(session, org, hidden)


async def present(
    session: AsyncSession, principal: Principal | None, demands: Sequence[Demand], now: datetime
) -> list[schemas.DemandOut]:
    shown = await revealed(session, principal, demands)
    orgs = await repo.organizations(session, [d.owner_org_id for d in demands if d.id in shown])
    out = []
    for d in demands:
        org = orgs.get(d.owner_org_id) if d.id in shown else None
        out.append(
            schemas.DemandOut(
                id=d.id,
                title=d.title,
                description=d.description,
                ipc_codes=list(d.ipc_codes),
                budget_min=d.budget_min,
                budget_max=d.budget_max,
                deadline=d.deadline,
                anonymous=d.anonymous,
                status=rules.current_status(d.status, d.expires_at, now),
                organization=(
                    schemas.OrganizationBrief(id=org.id, name=org.name, kind=org.kind)
                    if org is not None
                    else None
                ),
                rejection_reason=d.rejection_reason,
                published_at=d.published_at,
                expires_at=d.expires_at,
                created_at=d.created_at,
                updated_at=d.updated_at,
            )
        )
    return out


def present_response(response: DemandResponse) -> schemas.DemandResponseOut:
    return schemas.DemandResponseOut(
        id=response.id,
        demand_id=response.demand_id,
        listing_id=response.listing_id,
        seller_org_id=response.seller_org_id,
        message=response.message,
        status=response.status,
        created_at=response.created_at,
    )


# --- drafting ---------------------------------------------------------------------------------------------


def _audit_view(demand: Demand) -> dict[str, Any]:
    return {
        "title": demand.title,
        "description": demand.description,
        "ipc_codes": list(demand.ipc_codes),
        "budget_min": demand.budget_min,
        "budget_max": demand.budget_max,
        "deadline": demand.deadline,
        "anonymous": demand.anonymous,
        "expires_at": demand.expires_at,
    }


async def create_demand(
    session: AsyncSession, principal: Principal, data: schemas.DemandCreate, clock: Clock
) -> Demand:
    """A draft of a verified organization (403 ``organization_not_verified`` otherwise)."""
    owner = principal.verified_org_id("Only members of an organization may post demands.")
    now = clock.now()
    rules.check_budget(data.budget_min, data.budget_max)
    rules.check_deadline(data.deadline, now)
    demand = Demand(
        id=uuid.uuid4(),
        owner_org_id=owner,
        title=data.title,
        description=data.description,
        ipc_codes=list(data.ipc_codes),
        budget_min=data.budget_min,
        budget_max=data.budget_max,
        deadline=data.deadline,
        anonymous=data.anonymous,
        status=S.draft,
        expires_at=rules.expires_at(data.deadline),
        created_at=now,
        updated_at=now,
    )
    repo.write_search_fields(demand)
    session.add(demand)
    await session.flush()
    await repo.set_codes(session, demand.id, demand.ipc_codes)
    await record(
        session,
        entity_type="demand",
        entity_id=demand.id,
        action="created",
        actor=principal.label,
        at=now,
        data={**_audit_view(demand), "status": S.draft},
    )
    return demand


async def _load_for_owner(
    session: AsyncSession, principal: Principal, demand_id: uuid.UUID, now: datetime
) -> Demand:
    """The demand locked for an owner's action: 404 if the caller may not see it, 403 if not the owner."""
    demand = await repo.get_visible(session, principal, demand_id, now, for_update=True)
    if demand is None:
        raise NotFound("No such demand.")
    if principal.is_operator or principal.organization_id != demand.owner_org_id:
        raise Forbidden("Only the demand's organization may do this.")
    return demand


async def _load_for_operator(
    session: AsyncSession, principal: Principal, demand_id: uuid.UUID, now: datetime
) -> Demand:
    if not principal.is_operator:
        raise Forbidden("Only exchange operators may do this.")
    demand = await repo.get_visible(session, principal, demand_id, now, for_update=True)
    if demand is None:
        raise NotFound("No such demand.")
    return demand


async def update_demand(
    session: AsyncSession,
    principal: Principal,
    demand_id: uuid.UUID,
    data: schemas.DemandUpdate,
    clock: Clock,
) -> Demand:
    """PATCH, only in ``draft``; the merged demand is validated as a whole, as at creation."""
    now = clock.now()
    demand = await _load_for_owner(session, principal, demand_id, now)
    principal.verified_org_id()
    if rules.current_status(demand.status, demand.expires_at, now) != S.draft:
        raise InvalidState("Only a draft can be changed.")
    changes = data.model_dump(mode="python", exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None and k not in schemas.NULLABLE_FIELDS]
    if nulls:
        raise Unprocessable(
            "These fields cannot be null.",
            errors=[{"loc": ["body", k], "msg": "may not be null"} for k in nulls],
        )
    merged = {
        "budget_min": demand.budget_min,
        "budget_max": demand.budget_max,
        "deadline": demand.deadline,
        **changes,
    }
    rules.check_budget(merged["budget_min"], merged["budget_max"])
    rules.check_deadline(merged["deadline"], now)
    for key, value in changes.items():
        setattr(demand, key, value)
    demand.expires_at = rules.expires_at(demand.deadline)
    demand.updated_at = now
    repo.write_search_fields(demand)
    await session.flush()
    if "ipc_codes" in changes:
        await repo.set_codes(session, demand.id, demand.ipc_codes)
    await record(
        session,
        entity_type="demand",
        entity_id=demand.id,
        action="updated",
        actor=principal.label,
        at=now,
        data=changes,
    )
    return demand


# --- transitions ------------------------------------------------------------------------------------------


async def set_status(
    session: AsyncSession,
    demand: Demand,
    target: DemandStatus,
    *,
    actor: str,
    action: str,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> Demand:
    """The one place a demand's status changes: the transition table's guard (on the status as of ``at``),
    then the audit event, in the caller's transaction."""
    previous = DemandStatus(demand.status)
    rules.check_transition(
        previous if target == S.expired else rules.current_status(previous, demand.expires_at, at), target
    )
    demand.status, demand.updated_at = target, at
    await session.flush()
    await record(
        session,
        entity_type="demand",
        entity_id=demand.id,
        action=action,
        actor=actor,
        at=at,
        data={"from": previous, "status": target, **(data or {})},
    )
    return demand


async def submit_demand(
    session: AsyncSession, principal: Principal, demand_id: uuid.UUID, clock: Clock
) -> Demand:
    """draft → pending_review (the owner)."""
    now = clock.now()
    demand = await _load_for_owner(session, principal, demand_id, now)
    principal.verified_org_id()
    rules.check_transition(rules.current_status(demand.status, demand.expires_at, now), S.pending_review)
    demand.rejection_reason = None
    return await set_status(
        session, demand, S.pending_review, actor=principal.label, action="submitted", at=now
    )


async def approve_demand(
    session: AsyncSession, principal: Principal, demand_id: uuid.UUID, clock: Clock
) -> Demand:
    """pending_review → published, setting ``published_at`` (an operator)."""
    now = clock.now()
    demand = await _load_for_operator(session, principal, demand_id, now)
    rules.check_transition(rules.current_status(demand.status, demand.expires_at, now), S.published)
    demand.published_at = now
    return await set_status(
        session,
        demand,
        S.published,
        actor=principal.label,
        action="approved",
        at=now,
        data={"published_at": now},
    )


async def reject_demand(
    session: AsyncSession, principal: Principal, demand_id: uuid.UUID, reason: str, clock: Clock
) -> Demand:
    """pending_review → draft with ``rejection_reason`` (an operator)."""
    now = clock.now()
    demand = await _load_for_operator(session, principal, demand_id, now)
    rules.check_transition(rules.current_status(demand.status, demand.expires_at, now), S.draft)
    demand.rejection_reason = reason
    return await set_status(
        session, demand, S.draft, actor=principal.label, action="rejected", at=now, data={"reason": reason}
    )


async def close_demand(
    session: AsyncSession, principal: Principal, demand_id: uuid.UUID, clock: Clock
) -> Demand:
    """published → closed (the owner)."""
    now = clock.now()
    demand = await _load_for_owner(session, principal, demand_id, now)
    return await set_status(session, demand, S.closed, actor=principal.label, action="closed", at=now)


async def expire(session: AsyncSession, demand: Demand) -> Demand:
    """→ expired as of its ``expires_at`` (the sweeper)."""
    return await set_status(
        session, demand, S.expired, actor=SYSTEM_ACTOR, action="expired", at=demand.expires_at
    )


# --- reads ------------------------------------------------------------------------------------------------


async def get_demand(
    session: AsyncSession, principal: Principal | None, demand_id: uuid.UUID, now: datetime
) -> Demand:
    demand = await repo.get_visible(session, principal, demand_id, now)
    if demand is None:
        raise NotFound("No such demand.")
    return demand


async def list_demands(
    session: AsyncSession,
    principal: Principal | None,
    filters: repo.ListFilters,
    now: datetime,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Demand], str | None]:
    """The public sees published demands; ``mine`` the caller's organization's in every state; operators any
    (``status`` narrows)."""
    if filters.mine:
        if principal is None:
            raise Unauthorized("Sign in as a member of an organization to list its demands.")
        if principal.is_operator or principal.organization_id is None:
            raise Forbidden("Operators have no demands of their own.")
    return await repo.list_demands(session, principal, filters, now, limit=limit, cursor=cursor)


# --- matching ---------------------------------------------------------------------------------------------

_CURSOR_SIZE = 3


def _page(
    ranked: list[tuple[tuple[int, int, str], Any]], limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """A page of items sorted by their ranking key (``rules.ranking_key``), after ``cursor``."""
    values = decode_cursor(cursor, size=_CURSOR_SIZE)
    if values is not None:
        if not (type(values[0]) is int and type(values[1]) is int and isinstance(values[2], str)):
            raise invalid_cursor()
        after = (values[0], values[1], values[2])
        ranked = [r for r in ranked if r[0] > after]
    page = ranked[: limit + 1]
    if len(page) <= limit:
        return [r[1] for r in page], None
    return [r[1] for r in page[:limit]], encode_cursor(list(page[limit - 1][0]))


async def matches_for_demand(
    session: AsyncSession,
    principal: Principal | None,
    demand_id: uuid.UUID,
    clock: Clock,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[schemas.ListingMatchOut], str | None]:
    """The published listings that answer a demand the caller may see, best first (SPEC §17.6)."""
    now = clock.now()
    demand = await get_demand(session, principal, demand_id, now)
    terms = demand.title_terms.split()
    ranked = []
    for candidate in await repo.candidate_listings(session, demand.ipc_codes, terms):
        m = rules.match(demand.ipc_codes, terms, candidate.codes, candidate.terms, candidate.body)
        if m.included:
            key = rules.ranking_key(m.score, candidate.published_at, str(candidate.listing_id))
            ranked.append((key, (candidate.listing_id, m)))
    ranked.sort(key=lambda r: r[0])
    page, next_cursor = _page(ranked, limit, cursor)
    rows = await repo.listings_by_id(session, [listing_id for listing_id, _ in page])
    shown = {x.id: x for x in await listings.present(session, [rows[i] for i, _ in page], clock)}
    return [
        schemas.ListingMatchOut(
            listing=shown[listing_id],
            score=float(m.score),
            ipc_match=m.ipc_match,
            text_score=float(m.text_score),
        )
        for listing_id, m in page
    ], next_cursor


async def matching_demands(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    clock: Clock,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[schemas.DemandMatchOut], str | None]:
    """The published demands a listing the caller may see answers, best first (SPEC §17.6), each demand shown
    with its anonymity applied for the caller."""
    now = clock.now()
    if await listing_queries.get_visible(session, principal, listing_id) is None:
        raise NotFound("No such listing.")
    text = await repo.listing_text(session, listing_id)
    if text is None:
        raise NotFound("No such listing.")
    ranked = []
    for candidate in await repo.published_demands(session, now):
        m = rules.match(candidate.codes, candidate.terms, text.codes, text.terms, text.body)
        if m.included and candidate.demand.published_at is not None:
            key = rules.ranking_key(m.score, candidate.demand.published_at, str(candidate.demand.id))
            ranked.append((key, (candidate.demand, m)))
    ranked.sort(key=lambda r: r[0])
    page, next_cursor = _page(ranked, limit, cursor)
    shown = await present(session, principal, [d for d, _ in page], now)
    return [
        schemas.DemandMatchOut(
            demand=out, score=float(m.score), ipc_match=m.ipc_match, text_score=float(m.text_score)
        )
        for out, (_, m) in zip(shown, page, strict=True)
    ], next_cursor


# --- responses --------------------------------------------------------------------------------------------


async def create_response(
    session: AsyncSession,
    principal: Principal,
    demand_id: uuid.UUID,
    data: schemas.DemandResponseCreate,
    clock: Clock,
) -> DemandResponse:
    """A seller answers a published demand with one of its published listings; one response per demand and
    listing (409 ``already_responded``). The owner is told (``demand_response_received``)."""
    now = clock.now()
    seller = principal.verified_org_id("Only a listing's seller may respond to a demand.")
    # Locked: responses to one demand are made one at a time, so the one-per-listing check holds. A demand
    # that was published once (closed or expired since) is no secret: answering it is 409, not 404.
    demand = await repo.get_demand(session, demand_id, for_update=True)
    if demand is None or (demand.published_at is None and demand.owner_org_id != seller):
        raise NotFound("No such demand.")
    if demand.owner_org_id == seller:
        raise Forbidden("An organization does not respond to its own demand.")
    if rules.current_status(demand.status, demand.expires_at, now) != S.published:
        raise InvalidState("Only a published demand takes responses.")
    listing = await listing_queries.get_visible(session, principal, data.listing_id)
    if listing is None:
        raise NotFound("No such listing.")
    if listing.seller_org_id != seller:
        raise Forbidden("Respond with a listing of your own organization.")
    if listing.status != ListingStatus.published:
        raise InvalidState("Only a published listing can answer a demand.")
    if await repo.response_exists(session, demand.id, listing.id):
        raise Conflict("This listing has already answered this demand.", code="already_responded")
    response = DemandResponse(
        id=uuid.uuid4(),
        demand_id=demand.id,
        listing_id=listing.id,
        seller_org_id=seller,
        message=data.message,
        status=R.pending,
        created_at=now,
        updated_at=now,
    )
    session.add(response)
    await session.flush()
    await record(
        session,
        entity_type="demand_response",
        entity_id=response.id,
        action="created",
        actor=principal.label,
        at=now,
        data={
            "demand_id": demand.id,
            "listing_id": listing.id,
            "seller_org_id": seller,
            "message": data.message,
            "status": R.pending,
        },
    )
    await notify(
        session,
        "demand_response_received",
        [demand.owner_org_id],
        {"demand_id": str(demand.id), "response_id": str(response.id), "listing_id": str(listing.id)},
        at=now,
    )
    return response


async def list_responses(
    session: AsyncSession,
    principal: Principal,
    demand_id: uuid.UUID,
    now: datetime,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[DemandResponse], str | None]:
    """The owner and operators see every response; a seller its own (also once the demand is no longer
    published, which otherwise hides it)."""
    demand = await repo.get_visible(session, principal, demand_id, now)
    org = principal.organization_id
    if demand is not None and (principal.is_operator or demand.owner_org_id == org):
        return await repo.list_responses(session, demand_id, None, limit=limit, cursor=cursor)
    if org is None or (demand is None and not await repo.has_responded(session, demand_id, org)):
        raise NotFound("No such demand.")
    return await repo.list_responses(session, demand_id, org, limit=limit, cursor=cursor)


async def _decide(
    session: AsyncSession,
    principal: Principal,
    response_id: uuid.UUID,
    target: DemandResponseStatus,
    clock: Clock,
) -> DemandResponse:
    now = clock.now()
    found = await repo.lock_response(session, response_id)
    org = principal.organization_id
    if found is None:
        raise NotFound("No such response.")
    response, demand = found
    if principal.is_operator or demand.owner_org_id != org:
        if principal.is_operator or response.seller_org_id == org:
            raise Forbidden("Only the demand's organization may accept or decline a response.")
        raise NotFound("No such response.")
    if response.status != R.pending:
        raise InvalidState(f"The response is {response.status}: only a pending one can be {target}.")
    response.status, response.updated_at = target, now
    await session.flush()
    await record(
        session,
        entity_type="demand_response",
        entity_id=response.id,
        action=str(target),
        actor=principal.label,
        at=now,
        data={"from": R.pending, "status": target},
    )
    if target == R.accepted:
        # The owner is revealed to this seller from now on (``revealed``), and told in the notification.
        await notify(
            session,
            "demand_response_accepted",
            [response.seller_org_id],
            {
                "demand_id": str(demand.id),
                "response_id": str(response.id),
                "listing_id": str(response.listing_id),
                "organization_id": str(demand.owner_org_id),
            },
            at=now,
        )
    return response


async def accept_response(
    session: AsyncSession, principal: Principal, response_id: uuid.UUID, clock: Clock
) -> DemandResponse:
    """pending → accepted (the demand's owner); several may be accepted. No offer is made."""
    return await _decide(session, principal, response_id, R.accepted, clock)


async def decline_response(
    session: AsyncSession, principal: Principal, response_id: uuid.UUID, clock: Clock
) -> DemandResponse:
    """pending → declined (the demand's owner)."""
    return await _decide(session, principal, response_id, R.declined, clock)
