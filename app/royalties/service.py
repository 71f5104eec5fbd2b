"""Royalty reports (SPEC §18.4): the sweeper creates one report per period of a royalty-bearing licence record;
the licensee files the period's base and pays the royalty and its fee into the report's escrow; an operator
settles it: the licensor receives the royalty less its fee, the exchange both fees.

Every move is one conditional UPDATE on the status read (``rules.MOVES`` says which moves exist and who makes
them), so the loser of a race gets 409 ``invalid_state`` and never a second effect; the money moves after the
UPDATE in the same transaction, and a journal entry's unique ``(kind, reference)`` backs it up. Reports are
readable by the licence's two parties and operators (anyone else 404); each has its own audit chain
(``royalty_report``) that both parties read. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.access import register_parties
from app.audit.service import SYSTEM_ACTOR, record
from app.calendar.rules import day_range, month_key
from app.deals.fees import FeeSchedule
from app.kit.clock import Clock
from app.kit.db import dialect_name
from app.kit.errors import Forbidden, InvalidState, NotFound
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.ledger.service import Line, account_id, exchange_account, post, transfer
from app.models.accounts import Organization
from app.models.ledger import AccountKind, EntryKind, LedgerAccount
from app.models.listings import Listing
from app.models.royalties import RoyaltyPeriod, RoyaltyReport, RoyaltyReportStatus, RoyaltySchedule
from app.models.settlement import LicenceRecord
from app.models.trading import Deal
from app.notifications.outbox import notify
from app.owners import service as owners
from app.royalties import rules, schemas

ENTITY = "royalty_report"
S = RoyaltyReportStatus

register_parties(
    ENTITY,
    lambda key: select(RoyaltyReport.licensor_org_id, RoyaltyReport.licensee_org_id).where(
        RoyaltyReport.id == key
    ),
)


# --- the licence's terms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    rate: str
    period: RoyaltyPeriod


def terms_of(licence: LicenceRecord) -> Terms | None:
    """The royalty terms a licence record bears (``{"rate", "base", "period"}``), or None."""
    raw = licence.royalty
    if not isinstance(raw, dict) or raw.get("rate") is None:
        return None
    try:
        rate = Decimal(str(raw["rate"]))
        period = RoyaltyPeriod(str(raw.get("period") or RoyaltyPeriod.quarter))
    except (InvalidOperation, ValueError):
        return None
    if not Decimal(0) < rate <= Decimal(1):
        return None
    return Terms(rate=str(raw["rate"]), period=period)


def royalty_terms(rate: str, base: str | None, period: str) -> dict[str, Any]:
    """A licence record's ``royalty`` (SPEC §18.4): what a royalty-bearing licence's maker stores."""
    return {"rate": rate, "base": base, "period": period}


# --- presentation -----------------------------------------------------------------------------------------


def present(report: RoyaltyReport) -> schemas.RoyaltyReportOut:
    return schemas.RoyaltyReportOut.model_validate(report)


def _facts(report: RoyaltyReport) -> dict[str, Any]:
    return {
        "licence_record_id": report.licence_record_id,
        "period": report.period,
        "status": report.status,
    }


# --- the sweeper: a report per period ---------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


async def due_periods(session: AsyncSession, now: datetime, limit: int) -> list[tuple[datetime, uuid.UUID]]:
    """``(due instant, licence record id)`` of the licence records whose next period has ended, oldest first,
    and of the royalty-bearing ones not scheduled yet (due at their creation)."""
    scheduled = (
        await session.execute(
            select(RoyaltySchedule.next_at, RoyaltySchedule.licence_record_id)
            .where(RoyaltySchedule.next_at <= now)
            .order_by(RoyaltySchedule.next_at, RoyaltySchedule.licence_record_id)
            .limit(limit)
        )
    ).all()
    unscheduled = (
        await session.execute(
            select(LicenceRecord.created_at, LicenceRecord.id)
            .where(
                LicenceRecord.royalty.is_not(None),
                LicenceRecord.created_at <= now,
                ~exists().where(RoyaltySchedule.licence_record_id == LicenceRecord.id),
            )
            .order_by(LicenceRecord.created_at, LicenceRecord.id)
            .limit(limit)
        )
    ).all()
    rows = sorted([(at, i) for at, i in scheduled if at is not None] + [(at, i) for at, i in unscheduled])
    return rows[:limit]


async def create_next_report(
    session: AsyncSession, licence_record_id: uuid.UUID, now: datetime
) -> bool | None:
    """Create the report of the licence record's next period if that period has ended by ``now`` (as of the
    period's end), and move its schedule on. True: a report was created (the next may be due too); False: the
    schedule was set or moved on, no report was due; None: nothing to do here (not due, or another process
    holds it). One report per (licence record, period) whoever runs this and however often: the schedule row
    is claimed (``SKIP LOCKED``) and the report is an ``INSERT … ON CONFLICT DO NOTHING`` on that pair."""
    licence = await session.get(LicenceRecord, licence_record_id)
    if licence is None:
        return None
    terms = terms_of(licence)
    insert = _insert(session)
    first = rules.next_period(licence.starts_on, licence.ends_on, terms.period, None) if terms else None
    scheduled = await session.scalar(
        insert(RoyaltySchedule)
        .values(licence_record_id=licence.id, next_at=first.ends_at if first is not None else None)
        .on_conflict_do_nothing(index_elements=["licence_record_id"])
        .returning(RoyaltySchedule.licence_record_id)
    )
    schedule = await session.scalar(
        select(RoyaltySchedule)
        .where(RoyaltySchedule.licence_record_id == licence.id, RoyaltySchedule.next_at <= now)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if schedule is None or terms is None:
        return False if scheduled is not None else None
    last_end = await session.scalar(
        select(func.max(RoyaltyReport.period_end)).where(RoyaltyReport.licence_record_id == licence.id)
    )
    period = rules.next_period(licence.starts_on, licence.ends_on, terms.period, last_end)
    if period is None or period.ends_at > now:
        schedule.next_at = period.ends_at if period is not None else None
        await session.flush()
        return False
    at = period.ends_at
    report_id = uuid.uuid4()
    created = await session.scalar(
        insert(RoyaltyReport)
        .values(
            id=report_id,
            licence_record_id=licence.id,
            licensor_org_id=licence.licensor_org_id,
            licensee_org_id=licence.licensee_org_id,
            period=period.key,
            period_start=period.start,
            period_end=period.end,
            due_at=period.due_at,
            status=S.due,
            royalty_rate=terms.rate,
            overdue=False,
            version=0,
            created_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=["licence_record_id", "period"])
        .returning(RoyaltyReport.id)
    )
    if created is not None:
        await record(
            session,
            entity_type=ENTITY,
            entity_id=report_id,
            action="created",
            actor=SYSTEM_ACTOR,
            at=at,
            data={
                "licence_record_id": licence.id,
                "licensor_org_id": licence.licensor_org_id,
                "licensee_org_id": licence.licensee_org_id,
                "period": period.key,
                "period_start": period.start,
                "period_end": period.end,
                "due_at": period.due_at,
                "royalty_rate": terms.rate,
                "status": S.due,
            },
        )
        await notify(
            session,
            "royalty_report_due",
            [licence.licensee_org_id],
            {
                "royalty_report_id": str(report_id),
                "licence_id": str(licence.id),
                "period": period.key,
                "due_at": to_jsonable_python(period.due_at.astimezone(UTC)),  # as the API writes it
            },
            at=at,
        )
    following = rules.next_period(licence.starts_on, licence.ends_on, terms.period, period.end)
    schedule.next_at = following.ends_at if following is not None else None
    await session.flush()
    return True


async def overdue_reports(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[datetime, uuid.UUID]]:
    rows = await session.execute(
        select(RoyaltyReport.due_at, RoyaltyReport.id)
        .where(
            RoyaltyReport.overdue.is_(False),
            RoyaltyReport.status.in_([S.due, S.filed]),
            RoyaltyReport.due_at <= now,
        )
        .order_by(RoyaltyReport.due_at, RoyaltyReport.id)
        .limit(limit)
    )
    return [(at, i) for at, i in rows.all()]


async def mark_overdue(session: AsyncSession, report_id: uuid.UUID, now: datetime) -> bool:
    """A report not paid when its ``due_at`` passes becomes ``overdue`` (for good) as of that instant, and both
    parties are told (``royalty_overdue``). One conditional UPDATE: a second run, or a payment that won,
    leaves it as it is."""
    row = (
        await session.execute(
            update(RoyaltyReport)
            .where(
                RoyaltyReport.id == report_id,
                RoyaltyReport.overdue.is_(False),
                RoyaltyReport.status.in_([S.due, S.filed]),
                RoyaltyReport.due_at <= now,
            )
            .values(overdue=True)
            .returning(
                RoyaltyReport.due_at,
                RoyaltyReport.licence_record_id,
                RoyaltyReport.period,
                RoyaltyReport.status,
                RoyaltyReport.licensor_org_id,
                RoyaltyReport.licensee_org_id,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        return False
    await record(
        session,
        entity_type=ENTITY,
        entity_id=report_id,
        action="overdue",
        actor=SYSTEM_ACTOR,
        at=row.due_at,
        data={"licence_record_id": row.licence_record_id, "period": row.period, "status": row.status},
    )
    await notify(
        session,
        "royalty_overdue",
        [row.licensee_org_id, row.licensor_org_id],
        {"royalty_report_id": str(report_id), "licence_id": str(row.licence_record_id), "period": row.period},
        at=row.due_at,
    )
    return True


# --- reads ------------------------------------------------------------------------------------------------


def _may_read(principal: Principal, licensor: uuid.UUID, licensee: uuid.UUID) -> bool:
    return principal.is_operator or principal.organization_id in (licensor, licensee)


async def get_report(
    session: AsyncSession, principal: Principal, report_id: uuid.UUID, *, lock: bool = False
) -> RoyaltyReport:
    """A report, for the licence's two parties and operators (anyone else 404)."""
    query = select(RoyaltyReport).where(RoyaltyReport.id == report_id)
    if lock:
        query = query.with_for_update()
    report = await session.scalar(query.execution_options(populate_existing=True))
    if report is None or not _may_read(principal, report.licensor_org_id, report.licensee_org_id):
        raise NotFound("No such royalty report.")
    return report


async def list_reports(
    session: AsyncSession,
    principal: Principal,
    licence_record_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[RoyaltyReport], str | None]:
    """A licence record's reports, latest period first (its parties and operators; anyone else 404)."""
    licence = await session.get(LicenceRecord, licence_record_id)
    if licence is None or not _may_read(principal, licence.licensor_org_id, licence.licensee_org_id):
        raise NotFound("No such licence record.")
    query = select(RoyaltyReport).where(RoyaltyReport.licence_record_id == licence.id)
    keys = [datetime_key(RoyaltyReport.due_at, descending=True), uuid_key(RoyaltyReport.id, descending=True)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda r: (r.due_at, r.id))


# --- moves ------------------------------------------------------------------------------------------------


def _check(report: RoyaltyReport, target: RoyaltyReportStatus, principal: Principal) -> None:
    """The table's check: the move exists from the report's status (409 ``invalid_state``) and the caller is
    the one who makes it (403 ``forbidden``)."""
    by = next((who for (_, to), who in rules.MOVES.items() if to == target), None)
    if by == rules.By.licensee and principal.organization_id != report.licensee_org_id:
        raise Forbidden("Only the licensee files and pays its royalty reports.")
    if by == rules.By.operator and not principal.is_operator:
        raise Forbidden("Only an operator settles royalty reports.")
    if not rules.may_move(S(report.status), target):
        raise InvalidState(f"A royalty report in {report.status} cannot become {target}.")


async def _move(
    session: AsyncSession,
    report: RoyaltyReport,
    target: RoyaltyReportStatus,
    values: dict[str, Any],
    *where: Any,
) -> None:
    """One conditional UPDATE from the status read: the loser of a race gets 409 ``invalid_state``."""
    moved = await session.scalar(
        update(RoyaltyReport)
        .where(
            RoyaltyReport.id == report.id,
            RoyaltyReport.status == report.status,
            RoyaltyReport.status.in_(rules.sources(target)),
            *where,
        )
        .values(status=target, **values)
        .returning(RoyaltyReport.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise InvalidState("The royalty report changed meanwhile; read it again.")
    await session.refresh(report)


async def file(
    session: AsyncSession,
    principal: Principal,
    report_id: uuid.UUID,
    data: schemas.RoyaltyFileIn,
    clock: Clock,
    fees: FeeSchedule,
) -> RoyaltyReport:
    """The licensee files the period's base (``due`` or ``filed`` → ``filed``; a re-filing replaces the
    figures): royalty = base × rate half-up, fees at the schedule's bracket rates without the minimum."""
    report = await get_report(session, principal, report_id)
    _check(report, S.filed, principal)
    figures = rules.figures(data.base_amount, Decimal(report.royalty_rate), fees)
    now = clock.now()
    await _move(
        session,
        report,
        S.filed,
        {
            "base_amount": figures.base_amount,
            "royalty": figures.royalty,
            "licensee_fee": figures.licensee_fee,
            "licensor_fee": figures.licensor_fee,
            "amount_due": figures.amount_due,
            "filed_at": now,
            "updated_at": now,
            "version": RoyaltyReport.version + 1,
        },
    )
    await record(
        session,
        entity_type=ENTITY,
        entity_id=report.id,
        action="filed",
        actor=principal.label,
        at=now,
        data={
            **_facts(report),
            "base_amount": figures.base_amount,
            "royalty_rate": report.royalty_rate,
            "royalty": figures.royalty,
            "licensee_fee": figures.licensee_fee,
            "licensor_fee": figures.licensor_fee,
            "amount_due": figures.amount_due,
        },
    )
    return report


async def pay(
    session: AsyncSession, principal: Principal, report_id: uuid.UUID, clock: Clock
) -> RoyaltyReport:
    """The licensee pays a filed report: ``amount_due`` from its available balance into the report's escrow
    (``filed`` → ``paid``). Short of money → 409 ``insufficient_funds`` and the transaction rolls back, the
    report still ``filed``. The figures paid are those read: a re-filing meanwhile makes this lose (409)."""
    report = await get_report(session, principal, report_id)
    _check(report, S.paid, principal)
    now = clock.now()
    amount = report.amount_due or 0
    await _move(
        session, report, S.paid, {"paid_at": now, "updated_at": now}, RoyaltyReport.version == report.version
    )
    if amount > 0:
        await transfer(
            session,
            EntryKind.royalty_payment,
            await account_id(session, AccountKind.available, report.licensee_org_id),
            await account_id(session, AccountKind.escrow, report.id),
            amount,
            at=now,
            actor=principal.label,
            reference=f"royalty:{report.id}",
            organization_id=report.licensee_org_id,
            memo=f"royalty {report.period} and the licensee's fee into escrow",
        )
    await record(
        session,
        entity_type=ENTITY,
        entity_id=report.id,
        action="paid",
        actor=principal.label,
        at=now,
        data={**_facts(report), "amount_due": amount},
    )
    return report


async def _licensor_lines(
    session: AsyncSession, report: RoyaltyReport, licence: LicenceRecord, net: int, *, at: datetime
) -> tuple[list[Line], list[dict[str, Any]]]:
    """The ledger lines paying the licensor's net royalty, and what each part was: SPEC §18.5, a co-owned
    patent's income is split among its owners by their shares (``app.owners.service.split_income``: the others
    rounded down to the fen, the licensor the rest), an inventor's part to its institution's payable account."""
    parts = await owners.split_income(
        session,
        patent_ids=[uuid.UUID(str(p)) for p in licence.patent_ids],
        seller_org_id=licence.licensor_org_id,
        net_fen=net,
    )
    lines = await owners.credit_parts(
        session, parts, at=at, deal_id=licence.deal_id, source=f"royalty:{report.id}"
    )
    return lines, owners.parts_data(parts)


async def settle(
    session: AsyncSession, principal: Principal, report_id: uuid.UUID, clock: Clock
) -> RoyaltyReport:
    """An operator settles a paid report (``paid`` → ``settled``) in one journal entry: the escrow to the
    licensor (royalty − licensor fee, split among co-owners) and to fee income (both fees). The conditional
    UPDATE decides a race: settling twice never pays twice (409 ``invalid_state``); the entry's unique
    reference backs it up. A zero royalty moves nothing."""
    report = await get_report(session, principal, report_id)
    _check(report, S.settled, principal)
    now = clock.now()
    await _move(session, report, S.settled, {"settled_at": now, "updated_at": now})
    royalty = report.royalty or 0
    licensee_fee, licensor_fee = report.licensee_fee or 0, report.licensor_fee or 0
    parts: list[dict[str, Any]] = []
    moved = (report.amount_due or 0) > 0
    if moved:
        escrow = await account_id(session, AccountKind.escrow, report.id)
        held = int(await session.scalar(select(LedgerAccount.balance).where(LedgerAccount.id == escrow)) or 0)
        if held != report.amount_due:
            raise InvalidState("The report's escrow does not hold what was paid.")
        licence = await session.get(LicenceRecord, report.licence_record_id)
        assert licence is not None
        paid_out, parts = await _licensor_lines(session, report, licence, royalty - licensor_fee, at=now)
        fee_income = await exchange_account(session, AccountKind.fee_income)
        await post(
            session,
            EntryKind.royalty_settlement,
            [Line(escrow, -held), *paid_out, Line(fee_income, licensee_fee + licensor_fee)],
            at=now,
            actor=principal.label,
            reference=f"royalty:{report.id}",
            organization_id=report.licensor_org_id,
            memo=f"royalty {report.period} settled: the licensor's part and fee income",
        )
    await record(
        session,
        entity_type=ENTITY,
        entity_id=report.id,
        action="settled",
        actor=principal.label,
        at=now,
        data={
            **_facts(report),
            "royalty": royalty,
            "licensor_amount": royalty - licensor_fee if moved else 0,
            "parts": parts,
            "fee_income": licensee_fee + licensor_fee if moved else 0,
        },
    )
    return report


# --- statistics -------------------------------------------------------------------------------------------


async def turnover(
    session: AsyncSession, *, start: date | None, end: date | None, group_by: str
) -> dict[str, int]:
    """Settled royalties (fen) per turnover group (SPEC §18.4): by the Shanghai month of settlement, or by
    their licence record's keys — its kind, its originating deal's pricing mode or source, the licensor's
    kind. ``start``/``end``: inclusive Shanghai days of settlement."""
    low, high = day_range(start, end)
    filters: list[Any] = [RoyaltyReport.status == S.settled, RoyaltyReport.settled_at.is_not(None)]
    if low is not None:
        filters.append(RoyaltyReport.settled_at >= low)
    if high is not None:
        filters.append(RoyaltyReport.settled_at < high)
    sums: dict[str, int] = defaultdict(int)
    if group_by == "month":
        for at, amount in (
            await session.execute(select(RoyaltyReport.settled_at, RoyaltyReport.royalty).where(*filters))
        ).all():
            if at is not None:
                sums[month_key(at)] += int(amount or 0)
        return dict(sums)
    key: Any
    query = select().select_from(RoyaltyReport)
    if group_by == "transaction_kind":
        key = LicenceRecord.kind
        query = query.join(LicenceRecord, LicenceRecord.id == RoyaltyReport.licence_record_id)
    elif group_by == "pricing_mode":
        key = func.coalesce(Listing.pricing_mode, Deal.source, literal("trial"))
        query = (
            query.join(LicenceRecord, LicenceRecord.id == RoyaltyReport.licence_record_id)
            .outerjoin(Deal, Deal.id == LicenceRecord.deal_id)
            .outerjoin(Listing, Listing.id == Deal.listing_id)
        )
    else:  # seller_kind: the licensor's
        key = Organization.kind
        query = query.join(Organization, Organization.id == RoyaltyReport.licensor_org_id)
    rows = (
        await session.execute(
            query.add_columns(key, func.sum(RoyaltyReport.royalty)).where(*filters).group_by(key)
        )
    ).all()
    return {str(k): int(total or 0) for k, total in rows}
