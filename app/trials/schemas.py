"""Request and response models of trial licences (SPEC §18.3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.kit.money import MoneyIn, MoneyOut
from app.kit.printing import Printable
from app.kit.schemas import RequestModel, ResponseModel
from app.licensing.schemas import ROYALTY_RATE_SCHEMAS
from app.models.trials import TrialOfferStatus, TrialStatus
from app.trials.rules import ConversionType

TrialKind = Literal["nonexclusive_license", "sole_license", "exclusive_license"]
RoyaltyPeriod = Literal["month", "quarter"]


class ConversionIn(RequestModel):
    """The terms a trial converts on. Each type takes exactly its fields: ``lump_sum`` (with ``term_months``);
    ``royalty`` (``royalty_rate``, optional ``royalty_base`` and ``royalty_period``, with ``term_months``);
    ``lump_sum_plus_royalty`` (both); ``assignment`` (``assignment_price`` only)."""

    type: ConversionType
    lump_sum: MoneyIn | None = None
    royalty_rate: Decimal | None = Field(
        default=None,
        description='Fraction of the royalty base, e.g. "0.05" for 5%: 0 < rate ≤ 1, at most six decimals',
        examples=["0.05"],
        json_schema_extra={"anyOf": [*ROYALTY_RATE_SCHEMAS, {"type": "null"}]},
    )
    royalty_base: Annotated[str, StringConstraints(min_length=1, max_length=500), Printable] | None = None
    royalty_period: RoyaltyPeriod | None = Field(
        default=None, description="Royalty types only (default quarter)"
    )
    term_months: int | None = Field(default=None, ge=1, le=360, description="Licence types: the licence term")
    assignment_price: MoneyIn | None = None


class TrialOfferCreate(RequestModel):
    patent_id: uuid.UUID
    kind: TrialKind = "nonexclusive_license"
    trial_months: int = Field(ge=1, le=36)
    max_trials: int = Field(default=1, ge=1, le=100)
    # Printed in the conversion deal's contract (SPEC §21).
    territory: Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
    field_of_use: Annotated[str, StringConstraints(min_length=1, max_length=500), Printable]
    conversion: ConversionIn


class ConversionOut(ResponseModel):
    type: ConversionType
    lump_sum: MoneyOut | None
    royalty_rate: str | None
    royalty_base: str | None
    royalty_period: RoyaltyPeriod | None
    term_months: int | None
    assignment_price: MoneyOut | None


class TrialOfferOut(ResponseModel):
    id: uuid.UUID
    patent_id: uuid.UUID
    owner_org_id: uuid.UUID
    kind: TrialKind
    trial_months: int
    max_trials: int
    territory: str
    field_of_use: str
    conversion: ConversionOut
    status: TrialOfferStatus
    approved_at: datetime | None
    withdrawn_at: datetime | None
    active_trials: int
    created_at: datetime
    updated_at: datetime


class TrialStartIn(RequestModel):
    """No fields: the trial takes every term from its offer."""


class TerminateIn(RequestModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class TrialOut(ResponseModel):
    id: uuid.UUID
    trial_offer_id: uuid.UUID
    patent_id: uuid.UUID
    licensor_org_id: uuid.UUID
    licensee_org_id: uuid.UUID
    kind: TrialKind
    status: TrialStatus
    started_at: datetime
    ends_on: date
    ends_at: datetime
    reminder_at: datetime
    conversion: ConversionOut
    licence_record_id: uuid.UUID | None
    deal_id: uuid.UUID | None
    status_reason: str | None
