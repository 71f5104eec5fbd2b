"""Pure rules of trial licences 先使用后付费 (SPEC §18.3). No I/O.

The two state tables (offers, trials) with who makes each move, the terms an offer may carry, a trial's dates,
and what a conversion makes (the deal's kind and price, whether it starts in public notice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.calendar.rules import add_months
from app.filings.rules import licence_filing_due
from app.kit.errors import InvalidState
from app.kit.workdays import SHANGHAI
from app.licensing.rules import fee_errors, ppm_to_rate
from app.models.policy import FeeType
from app.models.trials import TrialOfferStatus, TrialStatus

OS = TrialOfferStatus
T = TrialStatus

TRIAL_MONTHS = (1, 36)
MAX_TRIALS = (1, 100)
REMINDER_BEFORE = timedelta(days=30)  # ``trial_ending`` goes out 30 days before ``ends_at``
PUBLIC_NOTICE = timedelta(days=15)  # SPEC §8: a conversion within 15 days of the offer's approval is noticed

EXCLUSIVE_TRIAL_KINDS = frozenset({"sole_license", "exclusive_license"})
TRIAL_KINDS = ("nonexclusive_license", "sole_license", "exclusive_license")


class By(StrEnum):
    owner = "owner"  # a member of the offering organization
    operator = "operator"
    licensee = "licensee"
    licensor = "licensor"
    sweeper = "sweeper"
    rules = "rules"  # the conversion deal was cancelled or defaulted


OFFER_MOVES: Mapping[tuple[TrialOfferStatus, TrialOfferStatus], frozenset[By]] = {
    (OS.pending_review, OS.offered): frozenset({By.operator}),
    (OS.pending_review, OS.withdrawn): frozenset({By.owner}),
    (OS.offered, OS.withdrawn): frozenset({By.owner}),
}

TRIAL_MOVES: Mapping[tuple[TrialStatus, TrialStatus], frozenset[By]] = {
    (T.trial_active, T.converted): frozenset({By.licensee}),  # before ``ends_at`` (the service's guard)
    (T.trial_active, T.lapsed): frozenset({By.sweeper}),  # at ``ends_at``
    (T.trial_active, T.terminated): frozenset({By.licensee, By.licensor, By.operator}),
    (T.converted, T.terminated): frozenset({By.rules}),
}


def check_offer_move(current: TrialOfferStatus, target: TrialOfferStatus, by: By) -> None:
    """409 ``invalid_state`` unless the offer table allows ``current`` → ``target`` by ``by``."""
    if by not in OFFER_MOVES.get((TrialOfferStatus(current), TrialOfferStatus(target)), frozenset()):
        raise InvalidState(f"A trial offer in {current} cannot become {target}.")


def check_trial_move(current: TrialStatus, target: TrialStatus, by: By) -> None:
    """409 ``invalid_state`` unless the trial table allows ``current`` → ``target`` by ``by``."""
    if by not in TRIAL_MOVES.get((TrialStatus(current), TrialStatus(target)), frozenset()):
        raise InvalidState(f"A trial in {current} cannot become {target}.")


# --- offer terms ----------------------------------------------------------------------------------------------


class ConversionType(StrEnum):
    lump_sum = "lump_sum"
    royalty = "royalty"
    lump_sum_plus_royalty = "lump_sum_plus_royalty"
    assignment = "assignment"


@dataclass(frozen=True)
class Conversion:
    """Conversion terms as stored (fen, rate in millionths)."""

    type: ConversionType
    lump_sum: int | None = None
    royalty_rate_ppm: int | None = None
    royalty_base: str | None = None
    royalty_period: str | None = None
    term_months: int | None = None
    assignment_price: int | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "type": str(self.type),
            "lump_sum": self.lump_sum,
            "royalty_rate_ppm": self.royalty_rate_ppm,
            "royalty_base": self.royalty_base,
            "royalty_period": self.royalty_period,
            "term_months": self.term_months,
            "assignment_price": self.assignment_price,
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Conversion:
        return cls(
            type=ConversionType(stored["type"]),
            lump_sum=stored.get("lump_sum"),
            royalty_rate_ppm=stored.get("royalty_rate_ppm"),
            royalty_base=stored.get("royalty_base"),
            royalty_period=stored.get("royalty_period"),
            term_months=stored.get("term_months"),
            assignment_price=stored.get("assignment_price"),
        )

    @property
    def has_royalty(self) -> bool:
        return self.type in (ConversionType.royalty, ConversionType.lump_sum_plus_royalty)


def _err(field: str, msg: str) -> dict[str, object]:
    return {"loc": ["body", "conversion", field], "msg": msg}


def conversion_errors(
    type_: ConversionType,
    *,
    lump_sum: int | None,
    royalty_rate: Decimal | None,
    royalty_base: str | None,
    royalty_period: str | None,
    term_months: int | None,
    assignment_price: int | None,
) -> list[dict[str, object]]:
    """The fields each conversion type needs and refuses (SPEC §18.3: as §13's fee fields; licence types need
    ``term_months``; an assignment takes ``assignment_price`` only). 422 ``errors`` entries; empty when valid."""
    errors: list[dict[str, object]] = []
    if type_ == ConversionType.assignment:
        if assignment_price is None or assignment_price <= 0:
            errors.append(_err("assignment_price", "an assignment price greater than zero is required"))
        for name, value in (
            ("lump_sum", lump_sum),
            ("royalty_rate", royalty_rate),
            ("royalty_base", royalty_base),
            ("royalty_period", royalty_period),
            ("term_months", term_months),
        ):
            if value is not None:
                errors.append(_err(name, "an assignment conversion takes no " + name))
        return errors
    for entry in fee_errors(FeeType(str(type_)), lump_sum, royalty_rate, royalty_base):
        loc = entry["loc"]
        assert isinstance(loc, list)
        errors.append(_err(str(loc[-1]), str(entry["msg"])))
    if royalty_period is not None and type_ == ConversionType.lump_sum:
        errors.append(_err("royalty_period", "a lump-sum conversion takes no royalty period"))
    if assignment_price is not None:
        errors.append(_err("assignment_price", "only an assignment conversion takes an assignment price"))
    if term_months is None:
        errors.append(_err("term_months", "a licence conversion needs term_months (1..360)"))
    return errors


def offer_errors(kind: str, max_trials: int, conversion: ConversionType) -> list[dict[str, object]]:
    """A sole or exclusive kind, or an assignment conversion, allows one trial at a time (``max_trials: 1``)."""
    if max_trials != 1 and (kind in EXCLUSIVE_TRIAL_KINDS or conversion == ConversionType.assignment):
        return [
            {
                "loc": ["body", "max_trials"],
                "msg": "a sole or exclusive kind, or an assignment conversion, needs max_trials 1",
            }
        ]
    return []


def restricted(kind: str, stored: Mapping[str, Any]) -> bool:
    """A sole or exclusive trial, or an assignment conversion, is an act every co-owner must consent to (SPEC
    §18.5, 专利法 art. 14); a non-exclusive trial converting to a licence is not."""
    return kind in EXCLUSIVE_TRIAL_KINDS or Conversion.of(stored).type == ConversionType.assignment


def conversion_out(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The conversion terms as the API writes them: amounts in fen (the schema formats them), the rate as a
    decimal string, the royalty period of a royalty type (default quarter)."""
    c = Conversion.of(stored)
    return {
        "type": c.type,
        "lump_sum": c.lump_sum,
        "royalty_rate": ppm_to_rate(c.royalty_rate_ppm),
        "royalty_base": c.royalty_base,
        "royalty_period": (c.royalty_period or "quarter") if c.has_royalty else None,
        "term_months": c.term_months,
        "assignment_price": c.assignment_price,
    }


# --- a trial's dates ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialDates:
    starts_on: date
    ends_on: date
    ends_at: datetime
    reminder_at: datetime
    filing_due: date


def trial_dates(started_at: datetime, trial_months: int) -> TrialDates:
    """SPEC §18.3: ``ends_on`` = the day before the same date ``trial_months`` after the start day (Shanghai);
    ``ends_at`` = 00:00 Shanghai after ``ends_on``; ``reminder_at`` = max(``started_at``, ``ends_at`` − 30 days);
    the licence record's ``filing_due`` as for any licence (``licence_filing_due``)."""
    start = started_at.astimezone(SHANGHAI).date()
    end_exclusive = add_months(start, trial_months)
    ends_at = datetime.combine(end_exclusive, time(0), tzinfo=SHANGHAI).astimezone(started_at.tzinfo)
    return TrialDates(
        starts_on=start,
        ends_on=end_exclusive - timedelta(days=1),
        ends_at=ends_at,
        reminder_at=max(started_at, ends_at - REMINDER_BEFORE),
        filing_due=licence_filing_due(start),
    )


# --- conversion -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealTerms:
    transaction_kind: str
    price: int
    term_months: int | None


def deal_terms(offer_kind: str, stored: Mapping[str, Any]) -> DealTerms:
    """The conversion deal exactly at the agreed terms (SPEC §18.3): the offer's kind (``assignment`` for an
    assignment conversion); price = the lump sum, the assignment price, or 0 for royalty only."""
    c = Conversion.of(stored)
    if c.type == ConversionType.assignment:
        return DealTerms("assignment", c.assignment_price or 0, None)
    return DealTerms(offer_kind, c.lump_sum or 0, c.term_months)


def royalty_terms(stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """The licence record's ``royalty`` (§18.4: ``{"rate", "base", "period"}``) of a royalty-bearing conversion."""
    c = Conversion.of(stored)
    if not c.has_royalty:
        return None
    return {
        "rate": ppm_to_rate(c.royalty_rate_ppm),
        "base": c.royalty_base,
        "period": c.royalty_period or "quarter",
    }


def conversion_in_notice(approved_at: datetime, now: datetime) -> datetime | None:
    """When the offer has been ``offered`` for less than §8's 15 days, the conversion deal stays in
    ``public_notice`` until 15 days after the approval: that instant; else None (no second notice)."""
    ends = approved_at + PUBLIC_NOTICE
    return ends if now < ends else None
