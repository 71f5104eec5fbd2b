"""Invariants checked after every scenario (SPEC §6, §15): the books balance, no organization balance is
negative, each deposit hold is resolved at most once (and exactly once when ``all_resolved``), every audit
chain verifies."""

from __future__ import annotations

from sqlalchemy import func, select

from app.audit.service import verify_all
from app.kit.db import Database
from app.ledger.service import trial_balance
from app.models.ledger import EntryKind, JournalEntry, LedgerAccount
from app.models.trading import DepositStatus, Registration

RESOLUTIONS = (EntryKind.deposit_refund, EntryKind.deposit_apply, EntryKind.deposit_forfeit)


async def assert_invariants(db: Database, *, all_resolved: bool = False) -> None:
    async with db.read() as session:
        tb = await trial_balance(session)
        assert tb.total == 0, f"the books do not balance: {tb.total}"
        assert tb.lines_match_balances, "an account's balance differs from the sum of its journal lines"
        negative = (
            await session.scalars(
                select(LedgerAccount).where(LedgerAccount.balance < 0, LedgerAccount.kind != "bank_clearing")
            )
        ).all()
        assert not negative, f"negative balances: {[(a.kind, a.balance) for a in negative]}"

        holds = dict(
            (
                await session.execute(
                    select(JournalEntry.registration_id, func.count())
                    .where(JournalEntry.kind == EntryKind.deposit_hold)
                    .group_by(JournalEntry.registration_id)
                )
            ).all()
        )
        resolved = dict(
            (
                await session.execute(
                    select(JournalEntry.registration_id, func.count())
                    .where(JournalEntry.kind.in_(RESOLUTIONS))
                    .group_by(JournalEntry.registration_id)
                )
            ).all()
        )
        assert all(n == 1 for n in holds.values()), "a registration was held twice"
        assert all(n == 1 for n in resolved.values()), "a deposit was resolved twice"
        assert set(resolved) <= set(holds), "a deposit was resolved without a hold"
        registrations = (await session.scalars(select(Registration))).all()
        for reg in registrations:
            assert (reg.deposit_status != DepositStatus.held) == (reg.id in resolved), reg.id
            if all_resolved:
                assert reg.deposit_status != DepositStatus.held, f"deposit of {reg.id} still held"

        report = await verify_all(session)
        assert report.ok, report.broken
