"""``post_many`` on few and on many accounts (one guarded UPDATE each, or one executemany checked by one
read of the new balances): the same all-or-nothing guard — a guarded account never goes below zero, and a
refused post leaves nothing behind, in a savepoint too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.ledger.service import (
    Entry,
    InsufficientFunds,
    Line,
    account_ids,
    balances,
    exchange_account,
    post_many,
    trial_balance,
)
from app.models.ledger import AccountKind, EntryKind

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _withdrawals(bank: uuid.UUID, accounts: list[uuid.UUID], amounts: list[int]) -> list[Entry]:
    """One entry per account: ``amount`` from it to the bank (a negative amount: from the bank to it)."""
    return [
        Entry(EntryKind.withdrawal, [Line(account, -amount), Line(bank, amount)])
        for account, amount in zip(accounts, amounts, strict=True)
    ]


# 2 organizations: 3 accounts touched, one guarded UPDATE each; 6: 7 accounts, one executemany.
@pytest.mark.parametrize("organizations", [2, 6])
async def test_the_guard_holds_for_few_and_many_accounts(db, organizations: int) -> None:  # type: ignore[no-untyped-def]
    owners = [uuid.uuid4() for _ in range(organizations)]
    async with db.transaction() as session:
        bank = await exchange_account(session, AccountKind.bank_clearing)
        ids = await account_ids(session, [(AccountKind.available, o) for o in owners])
        available = [ids[AccountKind.available, o] for o in owners]
        await post_many(session, _withdrawals(bank, available, [-100] * organizations), at=AT, actor="t")

    # One of them short by one fen: nothing at all is posted.
    short = [100] * (organizations - 1) + [101]
    with pytest.raises(InsufficientFunds):
        async with db.transaction() as session:
            await post_many(session, _withdrawals(bank, available, short), at=AT, actor="t")
    # The same in a savepoint of a transaction that goes on and commits.
    async with db.transaction() as session:
        with pytest.raises(InsufficientFunds):
            async with session.begin_nested():
                await post_many(session, _withdrawals(bank, available, short[::-1]), at=AT, actor="t")
        await post_many(session, _withdrawals(bank, available, [40] * organizations), at=AT, actor="t")

    async with db.read() as session:
        for owner in owners:
            assert (await balances(session, owner))[AccountKind.available] == 60
        assert (await trial_balance(session)).balanced
