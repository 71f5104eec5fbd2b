"""The pure rules of patents as equity (SPEC §18.2): validity of a report, the 90% line, the split of the equity
among co-owners, the terms' bounds, the completion steps and their deadlines."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from app.equity import rules
from app.kit.errors import ExchangeError
from app.kit.workdays import SHANGHAI


def test_a_report_is_valid_until_the_day_before_one_year_on() -> None:
    assert rules.valid_until(date(2026, 3, 10)) == date(2027, 3, 9)
    assert rules.valid_until(date(2024, 2, 29)) == date(2025, 2, 27)  # 2025-02-28 is the same date a year on
    report = {"valid_until": "2026-12-09"}
    rules.check_report_current(report, date(2026, 12, 9))  # its last day
    with pytest.raises(ExchangeError) as raised:
        rules.check_report_current(report, date(2026, 12, 10))
    assert raised.value.code == "valuation_expired"


def test_the_ninety_percent_line_is_exact() -> None:
    assert not rules.below_valuation(900_000, 1_000_000)  # exactly 90% passes
    assert rules.below_valuation(899_999, 1_000_000)
    assert not rules.below_valuation(1_000_000, 1_111_111)  # 90.00009% of the value
    assert rules.below_valuation(1_000_000, 1_111_112)
    with pytest.raises(ExchangeError) as raised:
        rules.check_price(price=1, value=2, seller_is_public_institution=True, justification=None)
    assert raised.value.code == "price_below_valuation"
    rules.check_price(price=1, value=2, seller_is_public_institution=True, justification="理由")
    rules.check_price(price=1, value=2, seller_is_public_institution=False, justification=None)


@pytest.mark.parametrize(
    ("capital", "percent", "price", "ok"),
    [
        (1, 1, 1, True),
        (100, 10_000, 100, True),
        (0, 1, 1, False),
        (101, 1, 100, False),
        (1, 0, 1, False),
        (1, 10_001, 1, False),
    ],
)
def test_terms_bounds(capital: int, percent: int, price: int, ok: bool) -> None:
    if ok:
        rules.check_terms(registered_capital=capital, equity_bp=percent, price=price)
    else:
        with pytest.raises(ExchangeError) as raised:
            rules.check_terms(registered_capital=capital, equity_bp=percent, price=price)
        assert raised.value.code == "invalid_equity_terms"


def test_contributors_split_the_percentage_exactly() -> None:
    owners = [rules.Contributor("uni", "大学", 6_000), rules.Contributor("inst", "研究所", 4_000)]
    parts = rules.contributors(owners, 1_001, "uni")  # 10.01%
    assert parts == [
        {"owner_id": "uni", "name": "大学", "equity_percent": 601},  # the seller: the rest
        {"owner_id": "inst", "name": "研究所", "equity_percent": 400},  # floor of 40% of 10.01
    ]
    assert sum(p["equity_percent"] for p in parts) == 1_001
    assert rules.contributors([rules.Contributor("uni", "大学", 10_000)], 1_500, "uni") == [
        {"owner_id": "uni", "name": "大学", "equity_percent": 1_500}
    ]


def test_waiver_basis_and_signing_checks() -> None:
    with pytest.raises(ExchangeError) as raised:
        rules.waiver_basis({"equity_percent": None})
    assert raised.value.code == "equity_terms_required"
    assert (
        rules.waiver_basis({"equity_percent": 1, "investee_state_owned": True}).value
        == "wholly_state_owned_investee"
    )
    assert rules.waiver_basis({"equity_percent": 1, "investee_state_owned": False}).value == "unit_decision"
    today = date(2026, 12, 9)
    for equity, code in (
        (None, "equity_terms_required"),
        ({"equity_percent": 1}, "valuation_required"),
        ({"equity_percent": 1, "valuation": {"valid_until": "2026-12-08"}}, "valuation_expired"),
    ):
        with pytest.raises(ExchangeError) as raised:
            rules.check_signable(equity, today)
        assert raised.value.code == code
    rules.check_signable({"equity_percent": 1, "appraisal_waiver": {"basis": "unit_decision"}}, today)


def test_completion_steps_and_their_deadlines() -> None:
    completion = rules.completion(date(2026, 12, 1))
    assert completion["assignment"]["due_on"] == completion["equity_registration"]["due_on"] == "2027-01-30"
    assert rules.done_steps(completion) == frozenset()
    assert rules.overdue_steps(completion, date(2027, 1, 30)) == []  # due on that day
    assert rules.overdue_steps(completion, date(2027, 1, 31)) == list(rules.STEPS)
    assert rules.first_overdue_at(completion) == datetime(2027, 1, 31, tzinfo=SHANGHAI)
    completion["assignment"]["done_on"] = "2027-01-05"
    completion["equity_registration"]["overdue"] = True
    assert rules.done_steps(completion) == {"assignment"}
    assert rules.overdue_steps(completion, date(2027, 2, 1)) == []  # one done, one flagged already
    assert rules.first_overdue_at(completion) is None
    assert rules.registration_day_problem(
        date(2026, 11, 30), settled_on=date(2026, 12, 1), today=date(2026, 12, 5)
    )
    assert rules.registration_day_problem(
        date(2026, 12, 6), settled_on=date(2026, 12, 1), today=date(2026, 12, 5)
    )
    assert (
        rules.registration_day_problem(
            date(2026, 12, 1), settled_on=date(2026, 12, 1), today=date(2026, 12, 5)
        )
        is None
    )


def test_only_enterprises_take_equity() -> None:
    rules.check_investee("equity_contribution", "enterprise")
    rules.check_investee("assignment", "hospital")
    with pytest.raises(ExchangeError) as raised:
        rules.check_investee("equity_contribution", "university")
    assert raised.value.code == "forbidden"
