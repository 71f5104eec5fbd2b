"""``rules.capital_numerals``: amounts in Chinese capital numerals, checked against the examples of the
PBoC's rules for filling in bills (《支付结算办法》附件一) and other hand-checked amounts."""

from __future__ import annotations

import hashlib

import pytest

from app.contracts.rules import capital_numerals, contract_hash, figures


def yuan(amount: str) -> int:
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int((cents or "0").ljust(2, "0"))


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        # The PBoC's own examples.
        ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
        ("107000.53", "壹拾万柒仟元零伍角叁分"),
        ("16.00", "壹拾陆元整"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("1409.50", "壹仟肆佰零玖元伍角整"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        # Round amounts and 整.
        ("1000000.00", "壹佰万元整"),
        ("500000.00", "伍拾万元整"),
        ("450000.00", "肆拾伍万元整"),
        ("10.00", "壹拾元整"),
        ("1.00", "壹元整"),
        # Zeros in the middle: one 零 for a run of zeros.
        ("1005.00", "壹仟零伍元整"),
        ("1010.00", "壹仟零壹拾元整"),
        ("100100.00", "壹拾万零壹佰元整"),
        ("20000001.00", "贰仟万零壹元整"),
        ("100010000.00", "壹亿零壹万元整"),
        ("100000100.00", "壹亿零壹佰元整"),
        ("101000000.00", "壹亿零壹佰万元整"),
        ("110000000.00", "壹亿壹仟万元整"),
        # 万 and 亿 groups, large amounts.
        ("10000.00", "壹万元整"),
        ("100000000.00", "壹亿元整"),
        ("1000000000.00", "壹拾亿元整"),
        ("10000000000.00", "壹佰亿元整"),
        ("1000000000000.00", "壹万亿元整"),
        ("1000100000000.00", "壹万零壹亿元整"),
        ("123456789.01", "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元零壹分"),
        ("9999999999999999.99", "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        # 角 and 分.
        ("1.05", "壹元零伍分"),
        ("1.50", "壹元伍角整"),
        ("10.50", "壹拾元零伍角整"),
        ("0.50", "伍角整"),
        ("0.05", "伍分"),
        ("0.55", "伍角伍分"),
        ("0.00", "零元整"),
    ],
)
def test_capital_numerals(amount: str, expected: str) -> None:
    assert capital_numerals(yuan(amount)) == "人民币" + expected
    assert capital_numerals(yuan(amount), prefix="") == expected


def test_capital_numerals_refuses_negative_and_huge_amounts() -> None:
    with pytest.raises(ValueError):
        capital_numerals(-1)
    with pytest.raises(ValueError):
        capital_numerals(10**18)


def test_every_amount_up_to_ten_thousand_yuan_is_well_formed() -> None:
    for n in range(1, 10001):
        text = capital_numerals(n * 100, prefix="")
        assert text.endswith("元整")
        assert "零零" not in text and not text.startswith("零")
        assert "零元" not in text  # 零 never stands right before a unit


def test_figures() -> None:
    assert figures(100000000) == "1,000,000.00"
    assert figures(5) == "0.05"
    assert figures(123456789012) == "1,234,567,890.12"


def test_contract_hash_is_sha256_of_utf8() -> None:
    assert contract_hash("合同\n") == hashlib.sha256("合同\n".encode()).hexdigest()
