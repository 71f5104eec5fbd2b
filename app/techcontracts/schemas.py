"""Request and response models of technology-contract registration (SPEC §18.7)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, field_validator

from app.kit.dates import QueryDate
from app.kit.errors import CodedValueError
from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.printing import Printable
from app.kit.schemas import NotNull, RequestModel, ResponseModel
from app.models.techcontracts import TechContractCategory, TechContractStatus

_CATEGORIES = frozenset(c.value for c in TechContractCategory)


def _known_category(value: Any) -> Any:
    """A category outside the technology contracts is as wrong as one that does not fit the deal: the same
    code (``invalid_contract_category``), not a generic enum error."""
    if not isinstance(value, str) or value not in _CATEGORIES:
        raise CodedValueError("invalid_contract_category", "must be one of " + ", ".join(sorted(_CATEGORIES)))
    return value


class TechContractFilingIn(RequestModel):
    category: Annotated[TechContractCategory, BeforeValidator(_known_category)] = Field(
        description="`technology_transfer` for an assignment or equity contribution, `technology_licensing` "
        "for a licence; any other → 422 `invalid_contract_category`"
    )
    technology_amount: PositiveMoneyIn = Field(
        description="技术交易额: the technical part of the contract amount, 0 < amount ≤ the deal's price"
    )


class TechContractRegisterIn(RequestModel):
    registration_number: Annotated[str, StringConstraints(min_length=1, max_length=32), Printable] = Field(
        description="The registration number the technology market office gave (1–32 characters)"
    )
    registered_on: QueryDate | NotNull = Field(
        default=None, description="Shanghai day of registration, not after today; default today"
    )

    @field_validator("registered_on", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # left out means today; null is not a day
            raise ValueError("leave it out for today; null is not a day")
        return value


class TechContractRejectIn(RequestModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000), Printable]


class TechContractRegistrationOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    category: TechContractCategory
    contract_amount: MoneyOut = Field(description="The deal's price")
    technology_amount: MoneyOut
    status: TechContractStatus
    registration_number: str | None
    registered_on: date | None
    rejection_reason: str | None
