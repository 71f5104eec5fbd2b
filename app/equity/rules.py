"""Pure rules of patents as equity (作价入股, SPEC §18.2). No I/O, no clock: facts and today in, decisions out.

The deal's ``equity`` object is plain JSON (money in fen, percentages in basis points inside; the API shows
them as §2 money and §18 percentage strings, ``app.equity.schemas``):

``{"investee": {"organization_id", "name", "credit_code"}, "investee_state_owned", "registered_capital",
"equity_percent", "valuation", "appraisal_waiver", "price_justification", "contributors", "completion"}``

Error codes (problem+json):

* 422 ``invalid_equity_terms`` — registered capital not in (0, price], or the percentage not in (0, 100];
* 409 ``equity_terms_required`` — a waiver, or a signature, before the terms;
* 409 ``valuation_required`` — a signature without a report or a waiver;
* 409 ``valuation_expired`` — a report (recorded or signed) whose ``valid_until`` is before today;
* 409 ``price_below_valuation`` — a public institution's price below ``BELOW_VALUATION_SHARE`` of the report's
  value without a justification.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from app.calendar.rules import add_months
from app.kit.errors import Conflict, Forbidden, Unprocessable
from app.kit.workdays import SHANGHAI
from app.models.owners import FULL_SHARE
from app.owners.rules import split

KIND = "equity_contribution"
# SPEC §18.2: a public institution's price below 90% of the appraised value needs a justification (the 90% line
# of state-owned property transfers). A setting: change it here.
BELOW_VALUATION_SHARE = Fraction(9, 10)
COMPLETION_DAYS = 60  # both completion steps are due on the settlement day + 60 days
JUSTIFICATION_MAX = 2000


class Step(StrEnum):
    """The completion steps of an equity contribution (the kind's row in ``app.deals.rules.KINDS``)."""

    assignment = "assignment"  # the transfer task registered with CNIPA
    equity_registration = "equity_registration"  # the 市场监管 change registration of the shareholding


STEPS = (Step.assignment, Step.equity_registration)


class ValuationMethod(StrEnum):
    income = "income"  # 收益法
    market = "market"  # 市场法
    cost = "cost"  # 成本法


METHOD_NAMES = {
    ValuationMethod.income: "收益法",
    ValuationMethod.market: "市场法",
    ValuationMethod.cost: "成本法",
}


class WaiverBasis(StrEnum):
    """财资〔2019〕57号: why a result of a state-established university or institute may go unappraised."""

    wholly_state_owned_investee = "wholly_state_owned_investee"  # appraisal may be omitted
    unit_decision = "unit_decision"  # the unit decides whether to appraise


class EquityTermsRequired(Conflict):
    code = "equity_terms_required"


class ValuationRequired(Conflict):
    code = "valuation_required"


class ValuationExpired(Conflict):
    code = "valuation_expired"


class PriceBelowValuation(Conflict):
    code = "price_below_valuation"


class InvalidEquityTerms(Unprocessable):
    code = "invalid_equity_terms"


# --- the object --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Investee:
    organization_id: str
    name: str
    credit_code: str


def initial(investee: Investee) -> dict[str, Any]:
    """The ``equity`` of a new equity deal: the investee as it is now, nothing agreed yet."""
    return {
        "investee": {
            "organization_id": investee.organization_id,
            "name": investee.name,
            "credit_code": investee.credit_code,
        },
        "investee_state_owned": None,
        "registered_capital": None,
        "equity_percent": None,
        "valuation": None,
        "appraisal_waiver": None,
        "price_justification": None,
        "contributors": [],
        "completion": None,
    }


@dataclass(frozen=True)
class Contributor:
    """An owner of the contributed patents with its share (basis points of 100.00)."""

    owner_id: str
    name: str
    share_bp: int


def contributors(owners: Sequence[Contributor], equity_bp: int, seller_owner_id: str) -> list[dict[str, Any]]:
    """``equity_percent`` (basis points) split by the owners' shares (SPEC §18.2, §18.5): every owner but the
    seller gets its share of it rounded down to 0.01%, the seller the rest, so the parts add up to
    ``equity_percent`` exactly. One owner: one entry of the whole percentage."""
    parts = split(equity_bp, [(o.owner_id, o.share_bp) for o in owners], seller_owner_id)
    names = {o.owner_id: o.name for o in owners}
    order = [o.owner_id for o in owners] + ([] if seller_owner_id in names else [seller_owner_id])
    return [{"owner_id": k, "name": names.get(k, ""), "equity_percent": parts[k]} for k in order]


def check_terms(*, registered_capital: int, equity_bp: int, price: int) -> None:
    """0 < registered capital ≤ price (a contribution is never credited above its agreed value) and
    0 < equity percent ≤ 100 → else 422 ``invalid_equity_terms``."""
    errors: list[dict[str, Any]] = []
    if not 0 < registered_capital <= price:
        errors.append(
            {
                "loc": ["body", "registered_capital"],
                "msg": "must be above 0 and at most the price (the agreed value)",
            }
        )
    if not 0 < equity_bp <= FULL_SHARE:
        errors.append({"loc": ["body", "equity_percent"], "msg": "must be above 0 and at most 100.00"})
    if errors:
        raise InvalidEquityTerms("The equity terms are not valid.", errors=errors)


def valid_until(base_date: date) -> date:
    """The day before the same date one year after ``base_date`` (2024-02-29 → 2025-02-27)."""
    return add_months(base_date, 12) - timedelta(days=1)


def check_report_current(valuation: Mapping[str, Any], today: date) -> None:
    """409 ``valuation_expired`` when the report's ``valid_until`` is before today."""
    if date.fromisoformat(str(valuation["valid_until"])) < today:
        raise ValuationExpired(
            f"The appraisal report was valid until {valuation['valid_until']}: record a current one."
        )


def below_valuation(price: int, value: int, share: Fraction = BELOW_VALUATION_SHARE) -> bool:
    """``price × 10 < value × 9`` for the default share: exactly 90% passes."""
    return price * share.denominator < value * share.numerator


def check_price(
    *, price: int, value: int, seller_is_public_institution: bool, justification: str | None
) -> None:
    """409 ``price_below_valuation``: a public institution's price below the share of the value needs a
    justification; other sellers are not checked."""
    if seller_is_public_institution and below_valuation(price, value) and not justification:
        raise PriceBelowValuation(
            f"The price is below {BELOW_VALUATION_SHARE.numerator * 100 // BELOW_VALUATION_SHARE.denominator}% "
            "of the appraised value: give a price_justification."
        )


def basis(investee_state_owned: bool | None) -> WaiverBasis:
    """A waiver's basis follows the terms: a wholly state-owned investee, else the unit's own decision."""
    return (
        WaiverBasis.wholly_state_owned_investee if investee_state_owned is True else WaiverBasis.unit_decision
    )


def waiver_basis(equity: Mapping[str, Any]) -> WaiverBasis:
    """A waiver needs the terms first (409 ``equity_terms_required``); its basis follows them."""
    if equity.get("equity_percent") is None:
        raise EquityTermsRequired("Record the equity terms before an appraisal waiver.")
    return basis(equity.get("investee_state_owned"))


def check_signable(equity: Mapping[str, Any] | None, today: date) -> None:
    """What signing an equity deal checks after the deal's state and before the hash (SPEC §18.2): terms
    (``equity_terms_required``), a report or a waiver (``valuation_required``), the report current
    (``valuation_expired``)."""
    equity = equity or {}
    if equity.get("equity_percent") is None:
        raise EquityTermsRequired("The equity terms are not recorded yet.")
    valuation = equity.get("valuation")
    if valuation is None and equity.get("appraisal_waiver") is None:
        raise ValuationRequired("Neither an appraisal report nor a waiver is recorded.")
    if valuation is not None:
        check_report_current(valuation, today)


# --- completion --------------------------------------------------------------------------------------------


def completion(settled_on: date) -> dict[str, Any]:
    """Both steps due on the settlement day + ``COMPLETION_DAYS``, none done."""
    due = (settled_on + timedelta(days=COMPLETION_DAYS)).isoformat()
    return {
        Step.assignment.value: {"due_on": due, "done_on": None, "overdue": False},
        Step.equity_registration.value: {
            "registration_number": None,
            "authority": None,
            "registered_on": None,
            "due_on": due,
            "overdue": False,
        },
    }


def step_done(completion_: Mapping[str, Any], step: Step) -> bool:
    entry = completion_[step.value]
    return (entry["done_on"] if step == Step.assignment else entry["registered_on"]) is not None


def done_steps(completion_: Mapping[str, Any] | None) -> frozenset[str]:
    if not completion_:
        return frozenset()
    return frozenset(s.value for s in STEPS if step_done(completion_, s))


def overdue_steps(completion_: Mapping[str, Any] | None, today: date) -> list[Step]:
    """Steps not done and not flagged whose ``due_on`` is before ``today`` (Shanghai): it passed at 00:00."""
    if not completion_:
        return []
    return [
        s
        for s in STEPS
        if not step_done(completion_, s)
        and not completion_[s.value]["overdue"]
        and date.fromisoformat(completion_[s.value]["due_on"]) < today
    ]


def registration_day_problem(registered_on: date, *, settled_on: date, today: date) -> str | None:
    """``registered_on`` from the settlement day to today, else what is wrong."""
    if registered_on < settled_on:
        return "must not be before the settlement day"
    if registered_on > today:
        return "must not be later than today"
    return None


def check_investee(transaction_kind: str, org_kind: str | None) -> None:
    """Only an ``enterprise`` may register for, offer on or bid in an equity contribution's listing: the buyer
    is the investee company (403 ``forbidden``)."""
    if transaction_kind == KIND and org_kind != "enterprise":
        raise Forbidden("Only a company (enterprise) can take a patent as equity.")


def shanghai_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def passes_at(day: date) -> datetime:
    """A deadline "on day D" passes at 00:00 Asia/Shanghai on D + 1 (SPEC §18 conventions)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)


def first_overdue_at(completion_: Mapping[str, Any] | None) -> datetime | None:
    """When the first unflagged, unfinished step passes its ``due_on`` (None: nothing left to flag)."""
    if not completion_:
        return None
    days = [
        date.fromisoformat(completion_[s.value]["due_on"])
        for s in STEPS
        if not step_done(completion_, s) and not completion_[s.value]["overdue"]
    ]
    return passes_at(min(days)) if days else None
