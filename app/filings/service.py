"""The filing workflow (SPEC §18.6): transfer tasks and licence records, from creation to CNIPA.

Settlement creates a transfer task for an assignment (``create_transfer_task``) and a licence record for a
licence (``create_licence_record``; a trial's licence record is created the same way, with ``trial_id`` instead
of ``deal_id``). A party (or an operator) files either with CNIPA and says so with the receipt or filing number;
an operator registers a filed transfer once CNIPA announces it (for an equity contribution that completes the
assignment step, §18.2). The moves are ``rules.TRANSFER_MOVES`` and ``rules.LICENCE_MOVES``; any other is 409
``invalid_state``. Each move holds the row (``FOR UPDATE``; SQLite's write transaction runs alone) and appends
to the row's audit chain (``transfer_task``, ``licence_record``), readable by both parties.

Both parties and operators read a task or record; anyone else gets 404. ``app.filings.deadlines`` flags an
unfiled one ``overdue`` once its ``filing_due`` passes (``mark_*_overdue``); nothing is ever unwound.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.audit.access import register_parties
from app.audit.service import SYSTEM_ACTOR, record
from app.equity import service as equity
from app.filings import rules, schemas
from app.kit.clock import Clock
from app.kit.errors import Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.models.listings import ListingPatent
from app.models.settlement import LicenceRecord, LicenceRecordStatus, TransferTask, TransferTaskStatus
from app.models.trading import Deal
from app.notifications.outbox import notify

TRANSFER_TASK = "transfer_task"
LICENCE_RECORD = "licence_record"

register_parties(
    TRANSFER_TASK,
    lambda key: select(TransferTask.from_org_id, TransferTask.to_org_id).where(TransferTask.id == key),
)
register_parties(
    LICENCE_RECORD,
    lambda key: select(LicenceRecord.licensor_org_id, LicenceRecord.licensee_org_id).where(
        LicenceRecord.id == key
    ),
)


def _data(**values: Any) -> dict[str, Any]:
    """Audit and notification data as JSON, written the way the API writes the same values."""
    return {k: to_jsonable_python(v) for k, v in values.items()}


# --- creation (settlement, the open-licence take and trials call these) ------------------------------------


async def create_transfer_task(
    session: AsyncSession, *, deal: Deal, at: datetime, patent_ids: list[uuid.UUID] | None = None
) -> TransferTask:
    """The assignment of a settled deal's patents (seller → buyer) to register with CNIPA, filing due
    ``rules.TRANSFER_FILING_DAYS`` days after the settlement day (``at``). ``patent_ids`` defaults to the
    patents of the deal's listing."""
    if patent_ids is None:
        patent_ids = (
            list(
                await session.scalars(
                    select(ListingPatent.patent_id)
                    .where(ListingPatent.listing_id == deal.listing_id)
                    .order_by(ListingPatent.patent_id)
                )
            )
            if deal.listing_id is not None
            else []
        )
    task = TransferTask(
        id=uuid.uuid4(),
        deal_id=deal.id,
        patent_ids=[str(i) for i in patent_ids],
        from_org_id=deal.seller_org_id,
        to_org_id=deal.buyer_org_id,
        status=TransferTaskStatus.pending,
        filing_due=rules.transfer_filing_due(at),
        overdue=False,
        created_at=at,
        updated_at=at,
    )
    session.add(task)
    await session.flush()
    await record(
        session,
        entity_type=TRANSFER_TASK,
        entity_id=task.id,
        action="created",
        actor=SYSTEM_ACTOR,
        at=at,
        data=_data(deal_id=deal.id, patent_ids=task.patent_ids, filing_due=task.filing_due),
    )
    return task


async def create_licence_record(
    session: AsyncSession,
    *,
    deal_id: uuid.UUID | None,
    trial_id: uuid.UUID | None,
    licensor_org_id: uuid.UUID,
    licensee_org_id: uuid.UUID,
    patent_ids: list[uuid.UUID] | list[str],
    kind: str,
    starts_on: date,
    ends_on: date,
    term_months: int | None,
    territory: str | None,
    field_of_use: str | None,
    royalty: dict[str, Any] | None,
    at: datetime,
) -> LicenceRecord:
    """A licence granted by a deal (``deal_id``) or a trial (``trial_id``), filing due
    ``rules.LICENCE_FILING_MONTHS`` months after ``starts_on``; both parties are told (``licence_filing_due``,
    with ``trial_id`` for a trial's record)."""
    if (deal_id is None) == (trial_id is None):
        raise ValueError("a licence record is granted by a deal or by a trial")
    licence = LicenceRecord(
        id=uuid.uuid4(),
        deal_id=deal_id,
        trial_id=trial_id,
        licensor_org_id=licensor_org_id,
        licensee_org_id=licensee_org_id,
        patent_ids=[str(p) for p in patent_ids],
        kind=kind,
        term_months=term_months,
        territory=territory,
        field_of_use=field_of_use,
        starts_on=starts_on,
        ends_on=ends_on,
        filing_due=rules.licence_filing_due(starts_on),
        status=LicenceRecordStatus.pending,
        overdue=False,
        royalty=royalty,
        created_at=at,
        updated_at=at,
    )
    session.add(licence)
    await session.flush()
    await record(
        session,
        entity_type=LICENCE_RECORD,
        entity_id=licence.id,
        action="created",
        actor=SYSTEM_ACTOR,
        at=at,
        data=_data(
            deal_id=deal_id,
            trial_id=trial_id,
            patent_ids=licence.patent_ids,
            kind=kind,
            starts_on=starts_on,
            ends_on=ends_on,
            filing_due=licence.filing_due,
        ),
    )
    data = _data(licence_id=licence.id, deal_id=deal_id, filing_due=licence.filing_due)
    if trial_id is not None:
        data["trial_id"] = str(trial_id)
    await notify(session, "licence_filing_due", [licensee_org_id, licensor_org_id], data, at=at)
    return licence


# --- reads -------------------------------------------------------------------------------------------------


def _sees_transfer(principal: Principal) -> ColumnElement[bool] | None:
    if principal.is_operator:
        return None
    org = principal.organization_id
    return or_(TransferTask.from_org_id == org, TransferTask.to_org_id == org)


def _sees_licence(principal: Principal) -> ColumnElement[bool] | None:
    if principal.is_operator:
        return None
    org = principal.organization_id
    return or_(LicenceRecord.licensor_org_id == org, LicenceRecord.licensee_org_id == org)


async def list_transfer_tasks(
    session: AsyncSession,
    principal: Principal,
    *,
    deal_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[TransferTask], str | None]:
    """Operators see every task; an organization those it is a party to; newest first."""
    query = select(TransferTask)
    visible = _sees_transfer(principal)
    if visible is not None:
        query = query.where(visible)
    if deal_id is not None:
        query = query.where(TransferTask.deal_id == deal_id)
    keys = [
        datetime_key(TransferTask.created_at, descending=True),
        SortKey(TransferTask.id, uuid.UUID, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda t: (t.created_at, t.id))


async def get_transfer_task(
    session: AsyncSession, principal: Principal, task_id: uuid.UUID, *, lock: bool = False
) -> TransferTask:
    """A task, for its parties and operators (anyone else 404)."""
    task = await session.get(TransferTask, task_id, with_for_update=lock)
    if task is None or not (
        principal.is_operator or principal.organization_id in (task.from_org_id, task.to_org_id)
    ):
        raise NotFound("No such transfer task.")
    return task


async def list_licence_records(
    session: AsyncSession,
    principal: Principal,
    *,
    deal_id: uuid.UUID | None,
    trial_id: uuid.UUID | None,
    patent_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[LicenceRecord], str | None]:
    """Operators see every licence record; an organization those it grants or holds; newest first."""
    query = select(LicenceRecord)
    visible = _sees_licence(principal)
    if visible is not None:
        query = query.where(visible)
    if deal_id is not None:
        query = query.where(LicenceRecord.deal_id == deal_id)
    if trial_id is not None:
        query = query.where(LicenceRecord.trial_id == trial_id)
    if patent_id is not None:
        # patent_ids is a JSON list of UUID strings: its text holds the quoted id exactly when the list does
        # (a UUID has no character JSON escapes), on both databases.
        query = query.where(cast(LicenceRecord.patent_ids, String).like(f'%"{patent_id}"%'))
    keys = [
        datetime_key(LicenceRecord.created_at, descending=True),
        SortKey(LicenceRecord.id, uuid.UUID, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda t: (t.created_at, t.id))


async def get_licence_record(
    session: AsyncSession, principal: Principal, licence_id: uuid.UUID, *, lock: bool = False
) -> LicenceRecord:
    """A licence record, for its licensor, licensee and operators (anyone else 404)."""
    licence = await session.get(LicenceRecord, licence_id, with_for_update=lock)
    if licence is None or not (
        principal.is_operator
        or principal.organization_id in (licence.licensor_org_id, licence.licensee_org_id)
    ):
        raise NotFound("No such licence record.")
    return licence


# --- moves -------------------------------------------------------------------------------------------------


def _unprocessable(field: str, problem: str) -> Unprocessable:
    return Unprocessable(f"{field} {problem}.", errors=[{"loc": ["body", field], "msg": problem}])


async def file_transfer(
    session: AsyncSession,
    principal: Principal,
    task_id: uuid.UUID,
    body: schemas.TransferFiledIn,
    clock: Clock,
) -> TransferTask:
    """``pending`` → ``filed`` (a member of either party, or an operator) with CNIPA's receipt number;
    ``filed_at`` not before the settlement nor in the future (422)."""
    task = await get_transfer_task(session, principal, task_id, lock=True)
    if not rules.may_move_transfer(task.status, TransferTaskStatus.filed):
        raise InvalidState(f"The transfer task is {task.status}; only a pending task is filed.")
    deal = await session.get(Deal, task.deal_id)
    settled_at = deal.settled_at if deal is not None and deal.settled_at is not None else task.created_at
    now = clock.now()
    problem = rules.filing_problem(body.filed_at, earliest=settled_at, since="the settlement", now=now)
    if problem is not None:
        raise _unprocessable("filed_at", problem)
    task.status = TransferTaskStatus.filed
    task.cnipa_receipt_number = body.cnipa_receipt_number
    task.filed_at = body.filed_at
    task.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type=TRANSFER_TASK,
        entity_id=task.id,
        action="filed",
        actor=principal.label,
        at=now,
        data=_data(
            deal_id=task.deal_id,
            cnipa_receipt_number=task.cnipa_receipt_number,
            filed_at=task.filed_at,
            overdue=task.overdue,
        ),
    )
    return task


async def register_transfer(
    session: AsyncSession,
    principal: Principal,
    task_id: uuid.UUID,
    body: schemas.TransferRegisteredIn,
    clock: Clock,
) -> TransferTask:
    """``filed`` → ``registered`` (operators, who check CNIPA's announcement; the parties 403) with the
    announcement day, not before the filing day nor after today (422). For an equity contribution this
    completes the assignment step (§18.2)."""
    task = await get_transfer_task(session, principal, task_id, lock=True)
    if not principal.is_operator:
        raise Forbidden("Operators record a transfer's registration.")
    if not rules.may_move_transfer(task.status, TransferTaskStatus.registered):
        raise InvalidState(f"The transfer task is {task.status}; only a filed task is registered.")
    assert task.filed_at is not None
    now = clock.now()
    problem = rules.announcement_problem(
        body.announcement_date, filed_on=rules.shanghai_day(task.filed_at), today=rules.shanghai_day(now)
    )
    if problem is not None:
        raise _unprocessable("announcement_date", problem)
    task.status = TransferTaskStatus.registered
    task.announcement_date = body.announcement_date
    task.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type=TRANSFER_TASK,
        entity_id=task.id,
        action="registered",
        actor=principal.label,
        at=now,
        data=_data(deal_id=task.deal_id, announcement_date=task.announcement_date),
    )
    # An equity contribution's assignment step is done (§18.2); equity decides which deals that concerns.
    await equity.on_transfer_registered(session, task, now)
    return task


async def file_licence(
    session: AsyncSession,
    principal: Principal,
    licence_id: uuid.UUID,
    body: schemas.LicenceFiledIn,
    clock: Clock,
) -> LicenceRecord:
    """``pending`` → ``filed`` (a member of either party, or an operator) with CNIPA's filing number;
    ``filed_at`` not before the record's creation nor in the future (422)."""
    licence = await get_licence_record(session, principal, licence_id, lock=True)
    if not rules.may_move_licence(licence.status, LicenceRecordStatus.filed):
        raise InvalidState(f"The licence record is {licence.status}; only a pending record is filed.")
    now = clock.now()
    problem = rules.filing_problem(
        body.filed_at, earliest=licence.created_at, since="the licence record's creation", now=now
    )
    if problem is not None:
        raise _unprocessable("filed_at", problem)
    licence.status = LicenceRecordStatus.filed
    licence.filing_number = body.filing_number
    licence.filed_at = body.filed_at
    licence.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type=LICENCE_RECORD,
        entity_id=licence.id,
        action="filed",
        actor=principal.label,
        at=now,
        data=_data(
            deal_id=licence.deal_id,
            trial_id=licence.trial_id,
            filing_number=licence.filing_number,
            filed_at=licence.filed_at,
            overdue=licence.overdue,
        ),
    )
    return licence


# --- overdue (the sweeper, app.filings.deadlines) ---------------------------------------------------------


def _transfer_past_due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A task not flagged yet, still pending, whose ``filing_due`` has passed at ``now``."""
    return (
        TransferTask.overdue.is_(False),
        TransferTask.status == TransferTaskStatus.pending,
        TransferTask.filing_due <= rules.last_passed_day(now),
    )


def _licence_past_due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A licence record not flagged yet, still pending, whose ``filing_due`` has passed at ``now``."""
    return (
        LicenceRecord.overdue.is_(False),
        LicenceRecord.status == LicenceRecordStatus.pending,
        LicenceRecord.filing_due <= rules.last_passed_day(now),
    )


async def overdue_transfer_tasks(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[datetime, uuid.UUID]]:
    """Pending tasks whose ``filing_due`` has passed at ``now`` and that are not flagged yet: (when it
    passed, id), oldest first."""
    rows = await session.execute(
        select(TransferTask.filing_due, TransferTask.id)
        .where(*_transfer_past_due(now))
        .order_by(TransferTask.filing_due, TransferTask.id)
        .limit(limit)
    )
    return [(rules.passes_at(due), task_id) for due, task_id in rows]


async def overdue_licence_records(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[datetime, uuid.UUID]]:
    """Pending licence records whose ``filing_due`` has passed at ``now``, not flagged yet, oldest first."""
    rows = await session.execute(
        select(LicenceRecord.filing_due, LicenceRecord.id)
        .where(*_licence_past_due(now))
        .order_by(LicenceRecord.filing_due, LicenceRecord.id)
        .limit(limit)
    )
    return [(rules.passes_at(due), licence_id) for due, licence_id in rows]


async def mark_transfer_overdue(session: AsyncSession, task_id: uuid.UUID, now: datetime) -> bool:
    """Flag the task overdue as of the instant its ``filing_due`` passed and tell both parties
    (``transfer_filing_overdue``), once: the flag is set by a conditional UPDATE, and only the transaction
    that set it notifies. False when it was filed or flagged meanwhile."""
    flagged = (
        await session.execute(
            update(TransferTask)
            .where(TransferTask.id == task_id, *_transfer_past_due(now))
            .values(overdue=True)
            .returning(
                TransferTask.deal_id,
                TransferTask.from_org_id,
                TransferTask.to_org_id,
                TransferTask.filing_due,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    if flagged is None:
        return False
    deal_id, from_org, to_org, filing_due = flagged
    at = rules.passes_at(filing_due)
    await record(
        session,
        entity_type=TRANSFER_TASK,
        entity_id=task_id,
        action="overdue",
        actor=SYSTEM_ACTOR,
        at=at,
        data=_data(deal_id=deal_id, filing_due=filing_due),
    )
    await notify(
        session,
        "transfer_filing_overdue",
        [from_org, to_org],
        _data(transfer_task_id=task_id, deal_id=deal_id, filing_due=filing_due),
        at=at,
    )
    return True


async def mark_licence_overdue(session: AsyncSession, licence_id: uuid.UUID, now: datetime) -> bool:
    """Flag the licence record overdue and tell licensee and licensor (``licence_filing_overdue``), once."""
    flagged = (
        await session.execute(
            update(LicenceRecord)
            .where(LicenceRecord.id == licence_id, *_licence_past_due(now))
            .values(overdue=True)
            .returning(
                LicenceRecord.deal_id,
                LicenceRecord.trial_id,
                LicenceRecord.licensor_org_id,
                LicenceRecord.licensee_org_id,
                LicenceRecord.filing_due,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    if flagged is None:
        return False
    deal_id, trial_id, licensor, licensee, filing_due = flagged
    at = rules.passes_at(filing_due)
    await record(
        session,
        entity_type=LICENCE_RECORD,
        entity_id=licence_id,
        action="overdue",
        actor=SYSTEM_ACTOR,
        at=at,
        data=_data(deal_id=deal_id, trial_id=trial_id, filing_due=filing_due),
    )
    await notify(
        session,
        "licence_filing_overdue",
        [licensee, licensor],
        _data(licence_id=licence_id, deal_id=deal_id, trial_id=trial_id, filing_due=filing_due),
        at=at,
    )
    return True
