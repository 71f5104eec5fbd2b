"""Pure rules of the inventor reward plan (SPEC §12; 促进科技成果转化法 art. 45; 浙江省促进科技成果转化条例
arts 37, 39, 40; DOMAIN.md "Inventor rewards"). No I/O; amounts are integer fen and every share is compared
exactly (``amount × denominator ≥ numerator × base``), so a bound is met at exactly its value and missed one
fen below it.

Zhejiang (the default): pool ≥ 70% of net income; main contributors ≥ 70% of the pool; technology-transfer
staff and managers together ≥ 5% of the pool. National: pool ≥ 50% of net income (the law sets no split
within the pool). The pool is the sum of the allocations.

An equity contribution's plan is in equity (SPEC §18.2): allocations are percentages of the company (basis
points), and the same shares apply to the deal's ``equity_percent`` in place of net income
(``check_equity_plan``). The plan's form must be the deal's (rule ``form``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from app.kit.money import format_fen
from app.models.accounts import RewardRules

NOTICE_DAYS = 15  # publicised within the unit for ≥ 15 days
PAY_WITHIN_MONTHS = 6  # paid within 6 months of the income


class RewardForm(StrEnum):
    """How the people behind the result are rewarded: cash from the net income, or equity of an equity
    contribution (SPEC §18.2)."""

    cash = "cash"
    equity = "equity"


def form_violation(form: RewardForm, *, equity_deal: bool) -> Violation | None:
    """A cash plan on an equity deal, or an equity plan on another deal (rule ``form``)."""
    expected = RewardForm.equity if equity_deal else RewardForm.cash
    if form == expected:
        return None
    return Violation("form", ("form",), f"form: the plan of this deal is in {expected.value}")


class RewardRole(StrEnum):
    """What an inventor or staff member did for the result (the OpenAPI names it ``RewardRole``: a user's
    ``Role`` is another enum)."""

    main_contributor = "main_contributor"
    transfer_staff = "transfer_staff"
    manager = "manager"
    other = "other"


@dataclass(frozen=True)
class RuleSet:
    name: RewardRules
    pool_share: Fraction
    main_share: Fraction | None
    staff_share: Fraction | None


ZHEJIANG = RuleSet(RewardRules.zhejiang, Fraction(70, 100), Fraction(70, 100), Fraction(5, 100))
NATIONAL = RuleSet(RewardRules.national, Fraction(50, 100), None, None)
RULE_SETS = {r.name: r for r in (ZHEJIANG, NATIONAL)}


@dataclass(frozen=True)
class Allocation:
    name: str
    role: RewardRole
    amount: int


@dataclass(frozen=True)
class Violation:
    rule: str
    loc: tuple[str, ...]
    msg: str

    def as_error(self) -> dict[str, object]:
        return {"loc": ["body", *self.loc], "msg": self.msg}


def net_income(price: int, seller_fee: int, costs: int) -> int:
    """Net income = price − the seller's fee − costs (costs include taxes)."""
    return price - seller_fee - costs


def at_least(amount: int, share: Fraction, base: int) -> bool:
    """``amount ≥ share × base``, exactly."""
    return amount * share.denominator >= share.numerator * base


def minimum(share: Fraction, base: int) -> int:
    """The smallest whole fen meeting ``share × base`` (for messages)."""
    return -((-share.numerator * base) // share.denominator)


def _pct(share: Fraction) -> str:
    value = share * 100
    return f"{value.numerator}%" if value.denominator == 1 else f"{float(value):g}%"


def check_plan(
    rule_set: RuleSet, *, price: int, seller_fee: int, costs: int, allocations: Sequence[Allocation]
) -> list[Violation]:
    """Every rule the plan breaks (empty when valid), each named in its message."""
    violations: list[Violation] = []
    if costs < 0 or costs > price - seller_fee:
        violations.append(
            Violation(
                "costs_range",
                ("costs",),
                f"costs_range: costs must be between 0 and the price less the seller's fee "
                f"({format_fen(price - seller_fee)})",
            )
        )
        return violations
    for i, a in enumerate(allocations):
        if a.amount <= 0:
            violations.append(
                Violation(
                    "positive_amount", ("allocations", str(i), "amount"), "positive_amount: must be > 0"
                )
            )
    net = net_income(price, seller_fee, costs)
    pool = sum(a.amount for a in allocations)
    if not at_least(pool, rule_set.pool_share, net):
        violations.append(
            Violation(
                "pool_share",
                ("allocations",),
                f"pool_share ({rule_set.name}): the reward pool {format_fen(pool)} must be at least "
                f"{_pct(rule_set.pool_share)} of net income {format_fen(net)} "
                f"({format_fen(minimum(rule_set.pool_share, net))})",
            )
        )
    if rule_set.main_share is not None:
        main = sum(a.amount for a in allocations if a.role == RewardRole.main_contributor)
        if not at_least(main, rule_set.main_share, pool):
            violations.append(
                Violation(
                    "main_contributor_share",
                    ("allocations",),
                    f"main_contributor_share ({rule_set.name}): main contributors' {format_fen(main)} must be "
                    f"at least {_pct(rule_set.main_share)} of the pool {format_fen(pool)} "
                    f"({format_fen(minimum(rule_set.main_share, pool))})",
                )
            )
    if rule_set.staff_share is not None:
        staff = sum(
            a.amount for a in allocations if a.role in (RewardRole.transfer_staff, RewardRole.manager)
        )
        if not at_least(staff, rule_set.staff_share, pool):
            violations.append(
                Violation(
                    "transfer_staff_share",
                    ("allocations",),
                    f"transfer_staff_share ({rule_set.name}): transfer staff and managers' {format_fen(staff)} "
                    f"must be at least {_pct(rule_set.staff_share)} of the pool {format_fen(pool)} "
                    f"({format_fen(minimum(rule_set.staff_share, pool))})",
                )
            )
    return violations


def check_equity_plan(
    rule_set: RuleSet, *, equity_bp: int, allocations: Sequence[tuple[RewardRole, int]]
) -> list[Violation]:
    """An equity plan's rules (SPEC §18.2): the rule set's shares applied to the deal's equity percentage
    (basis points) exactly; ``allocations`` are (role, basis points), each above zero."""
    violations = [
        Violation(
            "positive_amount", ("allocations", str(i), "equity_percent"), "positive_amount: must be > 0"
        )
        for i, (_, bp) in enumerate(allocations)
        if bp <= 0
    ]
    pool = sum(bp for _, bp in allocations)
    if not at_least(pool, rule_set.pool_share, equity_bp):
        violations.append(
            Violation(
                "pool_share",
                ("allocations",),
                f"pool_share ({rule_set.name}): the reward pool {_bp(pool)} must be at least "
                f"{_pct(rule_set.pool_share)} of the deal's equity {_bp(equity_bp)}",
            )
        )
    if rule_set.main_share is not None:
        main = sum(bp for role, bp in allocations if role == RewardRole.main_contributor)
        if not at_least(main, rule_set.main_share, pool):
            violations.append(
                Violation(
                    "main_contributor_share",
                    ("allocations",),
                    f"main_contributor_share ({rule_set.name}): main contributors' {_bp(main)} must be at least "
                    f"{_pct(rule_set.main_share)} of the pool {_bp(pool)}",
                )
            )
    if rule_set.staff_share is not None:
        staff = sum(bp for role, bp in allocations if role in (RewardRole.transfer_staff, RewardRole.manager))
        if not at_least(staff, rule_set.staff_share, pool):
            violations.append(
                Violation(
                    "transfer_staff_share",
                    ("allocations",),
                    f"transfer_staff_share ({rule_set.name}): transfer staff and managers' {_bp(staff)} must be "
                    f"at least {_pct(rule_set.staff_share)} of the pool {_bp(pool)}",
                )
            )
    return violations


def _bp(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}%"
