"""Request and response models of patents as equity (SPEC §18.2). Inside, money is fen and percentages are basis
points; the API shows §2 money strings and §18 percentage strings (``"15.00"``)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.accounts.schemas import CreditCode
from app.equity.rules import JUSTIFICATION_MAX, ValuationMethod, WaiverBasis
from app.kit.money import MoneyIn, MoneyOut, PositiveMoneyIn
from app.kit.printing import Printable
from app.kit.schemas import RequestModel, ResponseModel
from app.owners import rules as owner_rules

_PERCENT_SCHEMA = {"type": "string", "pattern": owner_rules.PERCENT_PATTERN, "examples": ["15.00"]}
PercentIn = Annotated[int, BeforeValidator(owner_rules.parse_percent), WithJsonSchema(_PERCENT_SCHEMA)]
PercentOut = Annotated[
    int,
    PlainSerializer(owner_rules.format_percent, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,3}\.[0-9]{2}$", "examples": ["15.00"]}),
]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100), Printable]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
Justification = Annotated[str, StringConstraints(min_length=1, max_length=JUSTIFICATION_MAX), Printable]


# --- requests ----------------------------------------------------------------------------------------------


class EquityTermsIn(RequestModel):
    registered_capital: MoneyIn = Field(
        description="0 < registered capital ≤ the price (422 invalid_equity_terms)"
    )
    equity_percent: PercentIn = Field(
        description="0 < p ≤ 100, at most two decimals (422 invalid_equity_terms)"
    )
    investee_state_owned: bool


class ValuationReportIn(RequestModel):
    appraiser_name: Text200
    appraiser_credit_code: CreditCode
    method: ValuationMethod
    value: PositiveMoneyIn
    base_date: date = Field(description="Not in the future")
    report_number: Text100


class AppraisalWaiverIn(RequestModel):
    decision_number: Text100
    decided_on: date


class ValuationIn(RequestModel):
    """Exactly one of ``report`` (the seller) or ``appraisal_waiver`` (operators)."""

    report: ValuationReportIn | None = None
    price_justification: Justification | None = None
    appraisal_waiver: AppraisalWaiverIn | None = None

    @model_validator(mode="after")
    def _one(self) -> ValuationIn:
        if (self.report is None) == (self.appraisal_waiver is None):
            raise ValueError("give either report or appraisal_waiver")
        if self.appraisal_waiver is not None and self.price_justification is not None:
            raise ValueError("price_justification goes with a report")
        return self


class EquityRegistrationIn(RequestModel):
    registration_number: Text100
    registered_on: date = Field(description="From the settlement day to today")
    authority: Text200


# --- the deal's equity object ------------------------------------------------------------------------------


class InvesteeOut(ResponseModel):
    organization_id: uuid.UUID
    name: str
    credit_code: str


class ValuationOut(ResponseModel):
    appraiser_name: str
    appraiser_credit_code: str
    method: ValuationMethod
    value: MoneyOut
    base_date: date
    valid_until: date
    report_number: str


class AppraisalWaiverOut(ResponseModel):
    decision_number: str
    decided_on: date
    basis: WaiverBasis
    recorded_by: str


class ContributorOut(ResponseModel):
    owner_id: str | None
    name: str
    equity_percent: PercentOut | None


class AssignmentStepOut(ResponseModel):
    due_on: date
    done_on: date | None
    overdue: bool


class EquityRegistrationStepOut(ResponseModel):
    registration_number: str | None
    authority: str | None
    registered_on: date | None
    due_on: date
    overdue: bool


class CompletionOut(ResponseModel):
    assignment: AssignmentStepOut
    equity_registration: EquityRegistrationStepOut


class EquityOut(ResponseModel):
    investee: InvesteeOut
    investee_state_owned: bool | None
    registered_capital: MoneyOut | None
    equity_percent: PercentOut | None
    valuation: ValuationOut | None
    appraisal_waiver: AppraisalWaiverOut | None
    price_justification: str | None
    contributors: list[ContributorOut]
    completion: CompletionOut | None
