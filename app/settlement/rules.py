"""Pure rules of settlement: certificate numbers, licence dates, how escrow is paid out. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.calendar.rules import add_months
from app.filings.rules import licence_filing_due
from app.kit.workdays import SHANGHAI

CERTIFICATE_PREFIX = "JZ"  # 交(Jiao)易凭证 of the exchange (浙 Zhe)
CERTIFICATE_PATTERN = re.compile(r"^JZ(\d{4})-(\d{6,})-(\d)$")


def luhn_check_digit(digits: str) -> int:
    """The Luhn check digit of a string of digits: catches every single-digit error and most swaps of
    neighbouring digits, which is what someone typing a certificate number gets wrong."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, starting with the rightmost
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def certificate_number(year: int, seq: int) -> str:
    """``JZ2026-000123-7``: prefix, the Shanghai year of settlement, the year's serial number (at least six
    digits) and a Luhn check digit over year and serial."""
    if seq < 1:
        raise ValueError("serial numbers start at 1")
    serial = f"{seq:06d}"
    return f"{CERTIFICATE_PREFIX}{year:04d}-{serial}-{luhn_check_digit(f'{year:04d}{serial}')}"


def is_valid_certificate_number(number: str) -> bool:
    match = CERTIFICATE_PATTERN.match(number)
    if match is None:
        return False
    year, serial, check = match.groups()
    return luhn_check_digit(year + serial) == int(check)


def shanghai_date(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


@dataclass(frozen=True)
class LicencePeriod:
    starts_on: date
    ends_on: date
    filing_due: date


def licence_period(
    settled_at: datetime, term_months: int | None, patents_expire_on: list[date]
) -> LicencePeriod:
    """A licence runs from the settlement day (Shanghai) for ``term_months`` (its last day is the day before
    the same date ``term_months`` later), but never past the patents' term (DOMAIN.md: licences are valid only
    within the patent term): it ends at the latest on the last day of the first patent to expire. No term
    means the rest of the patents' term. Filing is due ``LICENCE_FILING_MONTHS`` months after settlement."""
    starts_on = shanghai_date(settled_at)
    last_valid = min(patents_expire_on) - timedelta(days=1) if patents_expire_on else None
    if term_months is not None:
        ends_on = add_months(starts_on, term_months) - timedelta(days=1)
        if last_valid is not None:
            ends_on = min(ends_on, last_valid)
    elif last_valid is not None:
        ends_on = last_valid
    else:  # no patents and no term: a one-day licence is the only honest reading; callers never do this
        ends_on = starts_on
    return LicencePeriod(
        starts_on=starts_on,
        ends_on=max(ends_on, starts_on),
        filing_due=licence_filing_due(starts_on),
    )


@dataclass(frozen=True)
class Payout:
    """How a deal's escrow is paid out at settlement (one balanced entry)."""

    seller: int  # price − seller fee
    fee_income: int  # buyer fee + seller fee
    buyer_refund: int  # what escrow holds beyond price + buyer fee (a deposit larger than the price)


def payout(*, escrow: int, price: int, buyer_fee: int, seller_fee: int) -> Payout:
    """Split the escrow: the seller gets the price less its fee, the exchange both fees, and anything left
    (only when an applied deposit exceeded the price) goes back to the buyer, so escrow ends at zero.
    Raises ``ValueError`` when escrow holds less than price + buyer fee (the deal was not fully paid)."""
    refund = escrow - price - buyer_fee
    if refund < 0:
        raise ValueError(f"escrow {escrow} is short of price {price} + buyer fee {buyer_fee}")
    return Payout(seller=price - seller_fee, fee_income=buyer_fee + seller_fee, buyer_refund=refund)


def payout_of_fees(*, escrow: int, buyer_fee: int, seller_fee: int) -> Payout:
    """An equity contribution's escrow (SPEC §18.2): the exchange gets both fees, the seller nothing (no price is
    paid in money), the buyer the rest (an applied deposit above the fees). ``ValueError`` when escrow holds
    less than both fees."""
    refund = escrow - buyer_fee - seller_fee
    if refund < 0:
        raise ValueError(f"escrow {escrow} is short of the fees {buyer_fee} + {seller_fee}")
    return Payout(seller=0, fee_income=buyer_fee + seller_fee, buyer_refund=refund)
