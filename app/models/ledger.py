"""A small double-entry ledger in integer fen (SPEC §6, DESIGN.md "Money").

Sign convention: an account's balance is what the exchange owes its owner, so organization and escrow
balances are positive, and ``bank_clearing`` (money the exchange holds at its bank) is negative. Every
journal entry's lines sum to zero, hence so do all balances together.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin

# Owner of the exchange's own accounts (fee income, bank clearing).
EXCHANGE_OWNER = uuid.UUID(int=0)


class AccountKind(StrEnum):
    available = "available"  # an organization's spendable money
    held = "held"  # an organization's deposits on hold
    escrow = "escrow"  # a deal's paid money, until settlement (owner = the deal)
    fee_income = "fee_income"  # the exchange's service fees
    bank_clearing = "bank_clearing"  # the outside world: money in and out through the bank
    # An institution's inventors' parts of co-owned income, until paid out (SPEC §18.5; not spendable).
    payable_to_inventors = "payable_to_inventors"


# Balances that may never go below zero (guarded by a conditional UPDATE).
GUARDED_KINDS = frozenset(
    {AccountKind.available, AccountKind.held, AccountKind.escrow, AccountKind.payable_to_inventors}
)


class LedgerAccount(IdMixin, Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("kind", "owner_id"),)

    kind: Mapped[AccountKind] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID]
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class EntryKind(StrEnum):
    bank_payment = "bank_payment"
    withdrawal = "withdrawal"
    deposit_hold = "deposit_hold"
    deposit_refund = "deposit_refund"
    deposit_apply = "deposit_apply"
    deposit_forfeit = "deposit_forfeit"
    deal_payment = "deal_payment"
    settlement = "settlement"
    open_license = "open_license"
    inventor_payout = "inventor_payout"
    royalty_payment = "royalty_payment"
    royalty_settlement = "royalty_settlement"


class JournalEntry(IdMixin, Base):
    """An immutable, balanced set of lines. ``reference`` makes an entry unique per kind (bank references)."""

    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("kind", "reference"),)

    kind: Mapped[EntryKind] = mapped_column(String(32))
    at: Mapped[datetime]
    reference: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)  # the headline amount moved, for display
    memo: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[uuid.UUID | None]
    deal_id: Mapped[uuid.UUID | None]
    registration_id: Mapped[uuid.UUID | None]


class JournalLine(IdMixin, Base):
    __tablename__ = "journal_lines"
    __table_args__ = (Index("ix_journal_lines_account_id_entry_id", "account_id", "entry_id"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
