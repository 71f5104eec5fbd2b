"""Pure rules of a deal's life (SPEC §11, §18.1): the state table, who makes each move, and what differs
between transaction kinds. No I/O; ``app.deals.service.move`` is the one function that applies a move.

Error codes (problem+json):

* 409 ``invalid_state`` — a move the table below does not allow, or not by whom it is made (``check_move``).

A new transaction kind adds a row to ``KINDS`` and leaves ``MOVES`` alone (SPEC §18.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.kit.errors import InvalidState
from app.models.trading import DealSource, DealStatus

S = DealStatus


class By(StrEnum):
    """Who or what makes a move."""

    sweeper = "sweeper"  # a deadline: the notice over, ``sign_by``, ``pay_by``
    operator = "operator"  # an operator's decision: an objection resolved, settlement
    parties = "parties"  # the second of the two signatures
    buyer = "buyer"  # payment
    open_licence = "open_licence"  # an open licence taken (§13): its deal is paid and settled at once
    rules = "rules"  # completion: every completion step of the deal's kind is done


# SPEC §18.1: every allowed move and who makes it. Any other (from, to, by) → 409 ``invalid_state``.
MOVES: Mapping[tuple[DealStatus, DealStatus], frozenset[By]] = {
    # the notice over with no objection pending; or the last pending objection dismissed after that
    (S.public_notice, S.awaiting_signatures): frozenset({By.sweeper, By.operator}),
    (S.public_notice, S.cancelled): frozenset({By.operator}),  # an objection upheld
    (S.awaiting_signatures, S.awaiting_payment): frozenset({By.parties}),
    (S.awaiting_signatures, S.defaulted): frozenset({By.sweeper}),  # ``sign_by``: the buyer has not signed
    (S.awaiting_signatures, S.cancelled): frozenset({By.sweeper}),  # ``sign_by``: only the seller has not
    (S.awaiting_payment, S.paid): frozenset({By.buyer}),  # before ``pay_by`` (the service's guard)
    (S.awaiting_payment, S.defaulted): frozenset({By.sweeper}),  # ``pay_by``
    (S.paid, S.settled): frozenset({By.operator, By.open_licence}),
    (S.settled, S.completed): frozenset({By.rules}),  # only for kinds with completion steps
}

# States no move leaves. ``settled`` is final too for a kind without completion steps.
FINAL = frozenset({S.completed, S.cancelled, S.defaulted})
# Wherever "settled deals" are counted (turnover, certificates, reward plans, statistics), SPEC §18.1.
SETTLED = frozenset({S.settled, S.completed})


def allowed(current: DealStatus, target: DealStatus, by: By, kind: str) -> bool:
    """Whether the table allows ``current`` → ``target`` made by ``by`` for a deal of ``kind``."""
    if by not in MOVES.get((DealStatus(current), DealStatus(target)), frozenset()):
        return False
    if target == S.completed:
        return bool(kind_of(kind).completion_steps)
    return True


def check_move(current: DealStatus, target: DealStatus, by: By, kind: str) -> None:
    """The one guard of every move of a deal: 409 ``invalid_state`` unless the table allows it."""
    if not allowed(current, target, by, kind):
        raise InvalidState(f"A deal in {current} cannot become {target}.")


def initial_status(
    source: DealSource, *, seller_is_public_institution: bool, notice_served: bool = False
) -> DealStatus:
    """The status a deal is made in (SPEC §8, §11, §13, §18.3): an accepted offer with a public-institution
    seller starts in ``public_notice``, and so does a trial's conversion whose terms have not been public for
    the notice period yet (``notice_served``: they have); an open licence's deal is made paid (the licensee
    pays into escrow in the same request, and ``paid`` → ``settled`` follows at once); every other deal
    ``awaiting_signatures``."""
    if source == DealSource.offer and seller_is_public_institution:
        return S.public_notice
    if source == DealSource.trial and not notice_served:
        return S.public_notice
    if source == DealSource.open_license:
        return S.paid
    return S.awaiting_signatures


# --- what differs between kinds ------------------------------------------------------------------------


class ContractForm(StrEnum):
    """The body of a contract's template: what the seller gives (``app.contracts.templates``)."""

    assignment = "assignment"  # 转让: every right in the patents
    licence = "licence"  # 许可: a right to use them, with licence terms
    equity = "equity"  # 作价入股: every right in the patents, contributed for a shareholding (SPEC §18.2)


class CashRule(StrEnum):
    """What the buyer pays in cash and where it goes at settlement."""

    # amount_due = max(price − deposit, 0) + buyer fee; settlement: escrow → seller (price − seller fee) and
    # fee income (both fees), a deposit above the price → buyer
    price = "price"
    # SPEC §18.2 (equity contribution): no price is paid in money; amount_due = max(buyer fee + seller fee −
    # deposit, 0); settlement: escrow → fee income (both fees), the rest of the deposit → buyer, seller nothing
    fees = "fees"


class SettlementEffect(StrEnum):
    """What settlement does besides the money."""

    transfer = "transfer"  # the patents' owner becomes the buyer; a transfer-registration task
    licence = "licence"  # a licence record, filing due within 3 months


@dataclass(frozen=True)
class Kind:
    """One row of SPEC §18.1's table of kinds."""

    contract_title: str  # the contract template's title
    contract_form: ContractForm
    name: str  # 交易方式 on the certificate
    seller_role: str
    buyer_role: str
    cash: CashRule
    settlement: SettlementEffect
    completion_steps: tuple[str, ...] = ()  # none: ``settled`` is final


_LICENSOR, _LICENSEE = "许可方", "被许可方"

KINDS: Mapping[str, Kind] = {
    "assignment": Kind(
        contract_title="专利权转让合同",
        contract_form=ContractForm.assignment,
        name="专利权转让",
        seller_role="转让方",
        buyer_role="受让方",
        cash=CashRule.price,
        settlement=SettlementEffect.transfer,
    ),
    "exclusive_license": Kind(
        contract_title="专利实施许可合同（独占）",
        contract_form=ContractForm.licence,
        name="专利实施许可（独占）",
        seller_role=_LICENSOR,
        buyer_role=_LICENSEE,
        cash=CashRule.price,
        settlement=SettlementEffect.licence,
    ),
    "sole_license": Kind(
        contract_title="专利实施许可合同（排他）",
        contract_form=ContractForm.licence,
        name="专利实施许可（排他）",
        seller_role=_LICENSOR,
        buyer_role=_LICENSEE,
        cash=CashRule.price,
        settlement=SettlementEffect.licence,
    ),
    "nonexclusive_license": Kind(
        contract_title="专利实施许可合同（普通）",
        contract_form=ContractForm.licence,
        name="专利实施许可（普通）",
        seller_role=_LICENSOR,
        buyer_role=_LICENSEE,
        cash=CashRule.price,
        settlement=SettlementEffect.licence,
    ),
    "equity_contribution": Kind(
        contract_title="专利权作价入股协议",
        contract_form=ContractForm.equity,
        name="专利权作价入股",
        seller_role="出资方",
        buyer_role="目标公司",
        cash=CashRule.fees,
        settlement=SettlementEffect.transfer,
        completion_steps=("assignment", "equity_registration"),  # app.equity.rules.STEPS
    ),
}


def kind_of(transaction_kind: str) -> Kind:
    """The row of a deal's kind (every kind a listing or an open licence can make has one)."""
    return KINDS[str(transaction_kind)]


def cash_price(transaction_kind: str, price: int) -> int:
    """The part of the price paid in money (SPEC §18.1): the price, or 0 when the kind pays none."""
    return price if kind_of(transaction_kind).cash == CashRule.price else 0


def amount_due(transaction_kind: str, *, price: int, deposit: int, buyer_fee: int, seller_fee: int) -> int:
    """The buyer's cash (fen), fixed when the deal is made (SPEC §11, §18.1), by the kind's cash rule."""
    rule = kind_of(transaction_kind).cash
    if rule == CashRule.price:
        return max(price - deposit, 0) + buyer_fee
    if rule == CashRule.fees:
        return max(buyer_fee + seller_fee - deposit, 0)
    raise AssertionError(f"no amount_due for {rule}")  # pragma: no cover - every rule is handled above


def completion_done(transaction_kind: str, done: frozenset[str]) -> bool:
    """``settled`` → ``completed`` is due when the kind has completion steps and every one is done."""
    steps = kind_of(transaction_kind).completion_steps
    return bool(steps) and set(steps) <= done
