"""Pure settlement rules: certificate numbers and their check digit, licence periods, the escrow payout."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.settlement import rules


def test_certificate_number_format_and_check_digit() -> None:
    number = rules.certificate_number(2026, 123)
    assert number.startswith("JZ2026-000123-") and len(number) == len("JZ2026-000123-7")
    assert rules.is_valid_certificate_number(number)
    assert rules.certificate_number(2026, 1_234_567).startswith("JZ2026-1234567-")
    assert rules.is_valid_certificate_number(rules.certificate_number(2026, 1_234_567))


def test_check_digit_catches_a_changed_digit_and_a_swap() -> None:
    good = rules.certificate_number(2026, 4711)
    year, serial, check = good[2:6], good[7:13], good[14]
    for i in range(len(serial)):
        for d in "0123456789":
            if d != serial[i]:
                wrong = serial[:i] + d + serial[i + 1 :]
                assert not rules.is_valid_certificate_number(f"JZ{year}-{wrong}-{check}")
    swapped = serial[:3] + serial[4] + serial[3] + serial[5:]  # 004711 → 007411
    assert not rules.is_valid_certificate_number(f"JZ{year}-{swapped}-{check}")
    for bad in ("JZ2026-000123", "XX2026-000123-7", "JZ26-000123-7", ""):
        assert not rules.is_valid_certificate_number(bad)
    with pytest.raises(ValueError):
        rules.certificate_number(2026, 0)


def test_luhn_known_value() -> None:
    assert rules.luhn_check_digit("7992739871") == 3  # the textbook example


def test_licence_period_from_the_shanghai_settlement_day() -> None:
    # 2026-11-30T17:00Z is 1 December in Shanghai.
    period = rules.licence_period(datetime(2026, 11, 30, 17, 0, tzinfo=UTC), 12, [date(2040, 1, 1)])
    assert period == rules.LicencePeriod(
        starts_on=date(2026, 12, 1), ends_on=date(2027, 11, 30), filing_due=date(2027, 3, 1)
    )


def test_licence_period_is_capped_by_the_first_patent_to_expire() -> None:
    at = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    period = rules.licence_period(at, 60, [date(2030, 1, 1), date(2028, 3, 10)])
    assert period.ends_on == date(2028, 3, 9)
    assert rules.licence_period(at, None, [date(2028, 3, 10)]).ends_on == date(2028, 3, 9)


def test_payout_empties_the_escrow() -> None:
    p = rules.payout(escrow=10_100_000, price=10_000_000, buyer_fee=100_000, seller_fee=120_000)
    assert p == rules.Payout(seller=9_880_000, fee_income=220_000, buyer_refund=0)
    assert p.seller + p.fee_income + p.buyer_refund == 10_100_000
    # An applied deposit larger than the price: the rest goes back to the buyer.
    assert rules.payout(escrow=600, price=400, buyer_fee=100, seller_fee=50).buyer_refund == 100
    with pytest.raises(ValueError):
        rules.payout(escrow=100, price=400, buyer_fee=100, seller_fee=50)
