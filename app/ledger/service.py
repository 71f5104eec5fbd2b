"""The ledger (SPEC §6, DESIGN.md "Money: a small double-entry ledger").

Every movement is one balanced journal entry; account balances are counters updated in the same
transaction, with a compare-and-set guard (``balance + delta >= 0``) on organization and escrow accounts,
so no balance can go negative even under concurrent requests: a lost race is ``insufficient_funds``. (A post
touching many accounts at once checks the same condition on the new balances, under the row locks its
UPDATEs took, and raises the same way: ``_apply``.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Table, Uuid, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import dialect_name
from app.kit.errors import Conflict
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.models.ledger import (
    EXCHANGE_OWNER,
    GUARDED_KINDS,
    AccountKind,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
)


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class PaymentConflict(Conflict):
    code = "payment_conflict"


@dataclass(frozen=True)
class Line:
    account_id: uuid.UUID
    amount: int


async def account_id(session: AsyncSession, kind: AccountKind, owner_id: uuid.UUID) -> uuid.UUID:
    """The id of an account, created on first use (race-free: INSERT … ON CONFLICT DO NOTHING)."""
    found = await session.scalar(
        select(LedgerAccount.id).where(LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id)
    )
    if found is not None:
        return found
    dialect_insert = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    await session.execute(
        dialect_insert(LedgerAccount)
        .values(id=uuid.uuid4(), kind=kind, owner_id=owner_id, balance=0)
        .on_conflict_do_nothing(index_elements=["kind", "owner_id"])
    )
    created = await session.scalar(
        select(LedgerAccount.id).where(LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id)
    )
    assert created is not None
    return created


async def exchange_account(session: AsyncSession, kind: AccountKind) -> uuid.UUID:
    return await account_id(session, kind, EXCHANGE_OWNER)


_ACCOUNTS = cast(Table, LedgerAccount.__table__)
_ENTRIES = cast(Table, JournalEntry.__table__)
_LINES = cast(Table, JournalLine.__table__)
_CREDIT = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("p_id", type_=Uuid()))
    .values(balance=_ACCOUNTS.c.balance + bindparam("p_amount", type_=BigInteger()))
)
_GUARDED_DEBIT = _CREDIT.where(_ACCOUNTS.c.balance + bindparam("p_amount", type_=BigInteger()) >= 0)
_KINDS_OF = select(LedgerAccount.id, LedgerAccount.kind).where(
    LedgerAccount.id.in_(bindparam("p_ids", expanding=True, type_=Uuid()))
)

# An account's kind never changes once it exists, and ids are random UUIDs: a per-process map from id to
# kind spares ``post`` a SELECT per entry. Bounded; cleared when full.
_KIND_CACHE: dict[uuid.UUID, str] = {}
_KIND_CACHE_MAX = 100_000


def _remember_kinds(pairs: Iterable[tuple[uuid.UUID, str]]) -> None:
    if len(_KIND_CACHE) > _KIND_CACHE_MAX:
        _KIND_CACHE.clear()
    _KIND_CACHE.update(pairs)


async def _guarded_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these accounts may never go below zero (``GUARDED_KINDS``)."""
    wanted = set(ids)
    missing = [i for i in wanted if i not in _KIND_CACHE]
    if missing:
        _remember_kinds((row.id, row.kind) for row in await session.execute(_KINDS_OF, {"p_ids": missing}))
    return {i for i in wanted if _KIND_CACHE.get(i) in GUARDED_KINDS}


# Above this many accounts, ``_apply`` sends its UPDATEs as one executemany and checks the guards with one
# read afterwards (a batch of closing auctions refunds the deposits of dozens of organizations at once).
_MANY_ACCOUNTS = 4
_BALANCES = select(_ACCOUNTS.c.id, _ACCOUNTS.c.balance).where(
    _ACCOUNTS.c.id.in_(bindparam("p_ids", expanding=True, type_=Uuid()))
)


async def _apply(session: AsyncSession, deltas: dict[uuid.UUID, int]) -> None:
    """Add each delta to its account's balance, in account-id order (so two transactions touching the same
    accounts never deadlock), refusing to take a guarded account below zero.

    A few accounts: one guarded UPDATE each. Many: the same UPDATEs, in the same order, as one executemany
    (one round trip instead of one per account), then one read of the new balances, our own under the row
    locks the UPDATEs took: a guarded one below zero (or an account missing) raises ``InsufficientFunds``
    as the guard would have, and the caller's transaction (or savepoint) rolls every UPDATE back."""
    guarded = await _guarded_ids(session, deltas)
    changes = sorted((account, amount) for account, amount in deltas.items() if amount != 0)
    if len(changes) > _MANY_ACCOUNTS:
        await session.execute(_CREDIT, [{"p_id": account, "p_amount": amount} for account, amount in changes])
        after = {
            row.id: row.balance
            for row in await session.execute(_BALANCES, {"p_ids": [a for a, _ in changes]})
        }
        if len(after) != len(changes) or any(
            after[account] < 0 for account, amount in changes if amount < 0 and account in guarded
        ):
            raise InsufficientFunds("The available balance is not enough for this.")
        return
    for account, amount in changes:
        stmt = _GUARDED_DEBIT if amount < 0 and account in guarded else _CREDIT
        result = await session.execute(stmt, {"p_id": account, "p_amount": amount})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InsufficientFunds("The available balance is not enough for this.")


@dataclass(frozen=True)
class Entry:
    """One journal entry of ``post_many``; ``at``: its own time, if not the call's."""

    kind: EntryKind
    lines: Sequence[Line]
    memo: str = ""
    reference: str | None = None
    organization_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    registration_id: uuid.UUID | None = None
    at: datetime | None = None


async def post(
    session: AsyncSession,
    kind: EntryKind,
    lines: Sequence[Line],
    *,
    at: datetime,
    actor: str,
    memo: str = "",
    reference: str | None = None,
    organization_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    registration_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Post one balanced entry. Raises ``InsufficientFunds`` (and the caller's transaction rolls back,
    leaving nothing behind) if a guarded balance would go negative."""
    entry = Entry(kind, lines, memo, reference, organization_id, deal_id, registration_id)
    return (await post_many(session, [entry], at=at, actor=actor))[0]


async def post_many(
    session: AsyncSession, entries: Sequence[Entry], *, at: datetime, actor: str
) -> list[uuid.UUID]:
    """Post several balanced entries at once (their ids, in order): one UPDATE per account touched, in
    account-id order, then every entry and every line in one INSERT each. All or nothing: raises
    ``InsufficientFunds`` if a guarded account's net change would take it below zero."""
    deltas: dict[uuid.UUID, int] = {}
    entry_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for entry in entries:
        if sum(line.amount for line in entry.lines) != 0:
            raise ValueError("journal entry does not balance")
        lines = [line for line in entry.lines if line.amount != 0]
        entry_id = uuid.uuid4()
        entry_rows.append(
            {
                "id": entry_id,
                "kind": entry.kind,
                "at": entry.at or at,
                "reference": entry.reference,
                "memo": entry.memo,
                "actor": actor,
                "amount": sum(line.amount for line in lines if line.amount > 0),
                "organization_id": entry.organization_id,
                "deal_id": entry.deal_id,
                "registration_id": entry.registration_id,
            }
        )
        for line in lines:
            deltas[line.account_id] = deltas.get(line.account_id, 0) + line.amount
            line_rows.append(
                {
                    "id": uuid.uuid4(),
                    "entry_id": entry_id,
                    "account_id": line.account_id,
                    "amount": line.amount,
                }
            )
    if not entry_rows:
        return []
    await _apply(session, deltas)
    await session.execute(insert(_ENTRIES), entry_rows)
    if line_rows:
        await session.execute(insert(_LINES), line_rows)
    return [row["id"] for row in entry_rows]


async def account_ids(
    session: AsyncSession, wanted: Iterable[tuple[AccountKind, uuid.UUID]]
) -> dict[tuple[AccountKind, uuid.UUID], uuid.UUID]:
    """The ids of several accounts in one SELECT (each created on first use, as ``account_id`` does)."""
    keys = set(wanted)
    if not keys:
        return {}
    rows = await session.execute(
        select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.owner_id).where(
            LedgerAccount.owner_id.in_({owner for _, owner in keys}),
            LedgerAccount.kind.in_({kind for kind, _ in keys}),
        )
    )
    found: dict[tuple[AccountKind, uuid.UUID], uuid.UUID] = {}
    for row in rows:
        key = (AccountKind(row.kind), row.owner_id)
        if key in keys:
            found[key] = row.id
    _remember_kinds((i, kind) for (kind, _), i in found.items())
    for key in keys - found.keys():
        found[key] = await account_id(session, *key)
    return found


async def transfer(
    session: AsyncSession,
    kind: EntryKind,
    source: uuid.UUID,
    target: uuid.UUID,
    amount: int,
    **kwargs: object,
) -> uuid.UUID:
    return await post(session, kind, [Line(source, -amount), Line(target, amount)], **kwargs)  # type: ignore[arg-type]


async def balances(session: AsyncSession, organization_id: uuid.UUID) -> dict[AccountKind, int]:
    rows = (
        await session.execute(
            select(LedgerAccount.kind, LedgerAccount.balance).where(LedgerAccount.owner_id == organization_id)
        )
    ).all()
    result = {AccountKind.available: 0, AccountKind.held: 0}
    result.update({AccountKind(kind): balance for kind, balance in rows})
    return result


async def find_entry(session: AsyncSession, kind: EntryKind, reference: str) -> JournalEntry | None:
    entry: JournalEntry | None = await session.scalar(
        select(JournalEntry).where(JournalEntry.kind == kind, JournalEntry.reference == reference)
    )
    return entry


@dataclass
class OrgEntry:
    id: uuid.UUID
    kind: str
    at: datetime
    memo: str
    reference: str | None
    deal_id: uuid.UUID | None
    registration_id: uuid.UUID | None
    available: int
    held: int


async def organization_history(
    session: AsyncSession, organization_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[OrgEntry], str | None]:
    """The organization's entries, newest first, with what each did to its available and held balances."""
    accounts = dict(
        (
            await session.execute(
                select(LedgerAccount.id, LedgerAccount.kind).where(LedgerAccount.owner_id == organization_id)
            )
        ).all()
    )
    if not accounts:
        return [], None
    entry_ids = select(JournalLine.entry_id).where(JournalLine.account_id.in_(list(accounts)))
    query = select(JournalEntry).where(JournalEntry.id.in_(entry_ids))
    keys = [
        datetime_key(JournalEntry.at, descending=True),
        SortKey(JournalEntry.id, uuid.UUID, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    entries, next_cursor = page_of(rows, limit, lambda e: (e.at, e.id))
    lines = (
        await session.execute(
            select(JournalLine.entry_id, JournalLine.account_id, JournalLine.amount).where(
                JournalLine.entry_id.in_([e.id for e in entries]), JournalLine.account_id.in_(list(accounts))
            )
        )
    ).all()
    deltas: dict[uuid.UUID, dict[str, int]] = {}
    for entry_id, acct, amount in lines:
        bucket = deltas.setdefault(entry_id, {"available": 0, "held": 0})
        bucket[str(accounts[acct])] = bucket.get(str(accounts[acct]), 0) + amount
    return [
        OrgEntry(
            id=e.id,
            kind=e.kind,
            at=e.at,
            memo=e.memo,
            reference=e.reference,
            deal_id=e.deal_id,
            registration_id=e.registration_id,
            available=deltas.get(e.id, {}).get("available", 0),
            held=deltas.get(e.id, {}).get("held", 0),
        )
        for e in entries
    ], next_cursor


@dataclass
class TrialBalance:
    balanced: bool
    total: int
    accounts: list[LedgerAccount]
    lines_match_balances: bool


async def trial_balance(session: AsyncSession) -> TrialBalance:
    """Sum of every balance (must be zero), and each counter checked against the sum of its lines."""
    accounts = list((await session.scalars(select(LedgerAccount).order_by(LedgerAccount.kind))).all())
    sums = dict(
        (
            await session.execute(
                select(JournalLine.account_id, func.sum(JournalLine.amount)).group_by(JournalLine.account_id)
            )
        ).all()
    )
    total = sum(a.balance for a in accounts)
    matches = all(int(sums.get(a.id) or 0) == a.balance for a in accounts)
    return TrialBalance(
        balanced=total == 0 and matches, total=total, accounts=accounts, lines_match_balances=matches
    )


async def record_bank_payment(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    amount: int,
    bank_reference: str,
    at: datetime,
    actor: str,
) -> tuple[JournalEntry, bool]:
    """Credit a bank transfer received (SPEC §6). The same ``bank_reference`` credits once: a repeat with the
    same organization and amount, even one racing the first, returns the first entry and ``False``; with other
    terms it is 409 ``payment_conflict`` (SPEC §20), since one bank transfer cannot be two different payments."""
    existing = await find_entry(session, EntryKind.bank_payment, bank_reference)
    if existing is not None:
        return _same_payment(existing, organization_id, amount), False
    available = await account_id(session, AccountKind.available, organization_id)
    bank = await exchange_account(session, AccountKind.bank_clearing)
    created = False
    try:
        async with session.begin_nested():
            await transfer(
                session,
                EntryKind.bank_payment,
                bank,
                available,
                amount,
                at=at,
                actor=actor,
                reference=bank_reference,
                organization_id=organization_id,
                memo="bank transfer received",
            )
            created = True
    except IntegrityError:
        pass  # a concurrent request with the same reference committed first: that one is the payment
    entry = await find_entry(session, EntryKind.bank_payment, bank_reference)
    assert entry is not None
    return _same_payment(entry, organization_id, amount), created


def _same_payment(entry: JournalEntry, organization_id: uuid.UUID, amount: int) -> JournalEntry:
    """The recorded payment of a bank reference, if the request names the same organization and amount."""
    if entry.organization_id != organization_id or entry.amount != amount:
        raise PaymentConflict("This bank reference was recorded before for another organization or amount.")
    return entry


async def withdraw(
    session: AsyncSession, *, organization_id: uuid.UUID, amount: int, at: datetime, actor: str
) -> JournalEntry:
    """Move available money out to the organization's bank account; 409 ``insufficient_funds`` if short."""
    available = await account_id(session, AccountKind.available, organization_id)
    bank = await exchange_account(session, AccountKind.bank_clearing)
    entry_id = await transfer(
        session,
        EntryKind.withdrawal,
        available,
        bank,
        amount,
        at=at,
        actor=actor,
        organization_id=organization_id,
        memo="withdrawal to the bank",
    )
    entry = await session.get(JournalEntry, entry_id)
    assert entry is not None
    return entry
