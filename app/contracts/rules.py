"""Pure rules of contracts and public notices (SPEC §8, §11). No I/O.

* ``capital_numerals`` — an amount in Chinese capital numerals (大写金额) as banks and contracts write it
  (中国人民银行《支付结算办法》附件一「正确填写票据和结算凭证的基本规定」).
* ``contract_hash`` — SHA-256 of the exact UTF-8 text: what a party signs.
* ``notice_can_end`` / ``signing_default`` — who is at fault when a deadline passes.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_MAX_YUAN = 10**16 - 1  # 9999 9999 9999 9999 yuan: past the largest amount the exchange stores


def _below_ten_thousand(n: int) -> str:
    """0 < n < 10,000 → e.g. 1005 → 壹仟零伍, 1010 → 壹仟零壹拾, 10 → 壹拾 (banks always write 壹拾)."""
    out: list[str] = []
    zero = False
    for position in range(3, -1, -1):
        digit = n // 10**position % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(DIGITS[digit] + _SMALL_UNITS[position])
    return "".join(out)


def _integer(n: int) -> str:
    """0 < n → capital numerals with 万 and 亿 groups. One 零 stands for any run of zeros between two
    non-zero digits across groups (100010000 → 壹亿零壹万); a lower group of 1,000 or more needs none
    (107000 → 壹拾万柒仟)."""
    if n >= 10**8:
        high, low = divmod(n, 10**8)
        return _integer(high) + "亿" + ("" if not low else ("零" if low < 10**7 else "") + _integer(low))
    if n >= 10**4:
        high, low = divmod(n, 10**4)
        return (
            _below_ten_thousand(high)
            + "万"
            + ("" if not low else ("零" if low < 10**3 else "") + _below_ten_thousand(low))
        )
    return _below_ten_thousand(n)


def capital_numerals(fen: int, *, prefix: str = "人民币") -> str:
    """An amount of fen in Chinese capital numerals, e.g. 100000000 → 人民币壹佰万元整.

    * 元 always closes the yuan part; 整 follows when there is no 分 (壹佰万元整, 壹元伍角整);
    * zeros inside the number are written as one 零 (壹仟零伍元整, 壹亿零壹万元整, 壹拾万零壹佰元整);
    * 零 between 元 and 角 when the yuan's last digit is 0 (壹仟陆佰捌拾元零叁角贰分), and between 元 and 分
      when there is no 角 (壹元零伍分);
    * below one yuan the yuan part is left out (伍角整, 伍分); zero is 零元整.
    """
    if fen < 0:
        raise ValueError("amount must not be negative")
    yuan, cents = divmod(fen, 100)
    if yuan > _MAX_YUAN:
        raise ValueError("amount is too large")
    jiao, fen_digit = divmod(cents, 10)
    if yuan == 0 and cents == 0:
        return prefix + "零元整"
    out = _integer(yuan) + "元" if yuan else ""
    if jiao:
        if yuan and yuan % 10 == 0:
            out += "零"
        out += DIGITS[jiao] + "角"
    elif fen_digit and yuan:
        out += "零"
    if fen_digit:
        out += DIGITS[fen_digit] + "分"
    else:
        out += "整"
    return prefix + out


def figures(fen: int) -> str:
    """Fen as yuan in figures with thousands separators: 100000000 → 1,000,000.00."""
    yuan, cents = divmod(fen, 100)
    return f"{yuan:,}.{cents:02d}"


def contract_hash(text: str) -> str:
    """SHA-256 (hex) of the exact UTF-8 bytes of a contract text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SigningOutcome(StrEnum):
    buyer_default = "buyer_default"  # deal defaulted, deposit forfeited to the seller, listing failed
    seller_cancel = "seller_cancel"  # deal cancelled, deposit refunded, listing per SPEC §5
    complete = "complete"


def signing_outcome(buyer_signed: bool, seller_signed: bool) -> SigningOutcome:
    """What ``sign_by`` passing means (SPEC §11). A buyer who has not signed defaults even if the seller has
    not signed either: the SPEC names the buyer's default without condition, and only the seller's failure
    alone cancels the deal."""
    if not buyer_signed:
        return SigningOutcome.buyer_default
    if not seller_signed:
        return SigningOutcome.seller_cancel
    return SigningOutcome.complete
