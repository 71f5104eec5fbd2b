"""The pure rules of technology-contract registration (SPEC §18.7)."""

from __future__ import annotations

import pytest

from app.models.techcontracts import TechContractCategory as C
from app.models.techcontracts import TechContractStatus as S
from app.techcontracts import rules


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("assignment", C.technology_transfer),
        ("equity_contribution", C.technology_transfer),
        ("exclusive_license", C.technology_licensing),
        ("sole_license", C.technology_licensing),
        ("nonexclusive_license", C.technology_licensing),
        ("consulting", None),
        ("", None),
    ],
)
def test_each_kind_has_one_category(kind: str, category: C | None) -> None:
    assert rules.category_for(kind) == category


def test_completed_counts_as_settled() -> None:
    assert [
        s for s in ("public_notice", "awaiting_signatures", "awaiting_payment", "paid") if rules.is_settled(s)
    ] == []
    assert rules.is_settled("settled") and rules.is_settled("completed")
    assert not rules.is_settled("cancelled") and not rules.is_settled("defaulted")


def test_filing_anew_only_after_a_rejection_and_decisions_only_on_a_filed_contract() -> None:
    assert rules.may_file(None) and rules.may_file(S.rejected)
    assert not rules.may_file(S.filed) and not rules.may_file(S.registered)
    moves = {(a, b) for a in S for b in S if rules.may_move(a, b)}
    assert moves == {(S.filed, S.registered), (S.filed, S.rejected)}
