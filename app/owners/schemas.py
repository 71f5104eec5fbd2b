"""Request and response models of co-ownership and 赋权 (SPEC §18.5)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.printing import Printable
from app.kit.schemas import NotNull, RequestModel, ResponseModel
from app.models.owners import EmpowermentForm, OwnerKind
from app.owners import rules

MAX_OWNERS = 100
MAX_INVENTORS = 50

# A share in: a percentage string of §18 conventions, held as basis points.
Percent = Annotated[
    int,
    BeforeValidator(rules.parse_percent),
    WithJsonSchema({"type": "string", "pattern": rules.PERCENT_PATTERN, "examples": ["12.50"]}),
]
IdNumber = Annotated[
    str,
    StringConstraints(max_length=18),
    AfterValidator(rules.validate_id_number),
    WithJsonSchema({"type": "string", "pattern": rules.ID_NUMBER_PATTERN, "format": "cn-resident-id-number"}),
]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class OrganizationOwnerIn(RequestModel):
    kind: Literal["organization"]
    organization_id: uuid.UUID
    share: Percent


class InventorOwnerIn(RequestModel):
    kind: Literal["inventor"]
    name: PersonName
    id_number: IdNumber
    share: Percent


class OwnersIn(RequestModel):
    owners: list[Annotated[OrganizationOwnerIn | InventorOwnerIn, Field(discriminator="kind")]] = Field(
        min_length=1, max_length=MAX_OWNERS
    )


class EmpoweredInventorIn(RequestModel):
    name: PersonName
    id_number: IdNumber
    share: Percent | NotNull = None


class EmpowermentIn(RequestModel):
    form: EmpowermentForm
    decision_number: Annotated[str, StringConstraints(min_length=1, max_length=100), Printable]
    decided_on: date
    inventors: list[EmpoweredInventorIn] = Field(min_length=1, max_length=MAX_INVENTORS)
    term_years: Annotated[int, Field(ge=1, le=100)] | NotNull = None

    @model_validator(mode="after")
    def _per_form(self) -> EmpowermentIn:
        if self.form == EmpowermentForm.ownership:
            if any(i.share is None for i in self.inventors):
                raise ValueError("every inventor needs a share when the form is ownership")
            if self.term_years is not None:
                raise ValueError("term_years is for a use right")
        elif self.term_years is None:
            raise ValueError("term_years is required for a use right")
        return self


class HolderOut(ResponseModel):
    name: str
    id_number_masked: str


class EmpoweredInventorOut(ResponseModel):
    name: str
    id_number_masked: str
    share: str | None = None


class EmpowermentOut(ResponseModel):
    id: uuid.UUID
    patent_id: uuid.UUID
    form: EmpowermentForm
    decision_number: str
    decided_on: date
    inventors: list[EmpoweredInventorOut]
    starts_on: date | None
    ends_on: date | None


class OwnerOut(ResponseModel):
    id: uuid.UUID
    kind: OwnerKind
    organization_id: uuid.UUID | None = None
    name: str
    id_number_masked: str | None = None
    institution_org_id: uuid.UUID | None = None
    share: str = Field(json_schema_extra={"pattern": r"^[0-9]{1,3}\.[0-9]{2}$"})


class UseRightOut(ResponseModel):
    id: uuid.UUID
    holders: list[HolderOut]
    decision_number: str
    starts_on: date
    ends_on: date


class OwnerConsentIn(RequestModel):
    """A member of an organization owner sends ``{}``; an operator names a natural person (``owner_id``) or a
    use right (``use_right_id``) with the SHA-256 of the signed paper."""

    owner_id: uuid.UUID | NotNull = None
    use_right_id: uuid.UUID | NotNull = None
    document_sha256: Sha256 | NotNull = None

    @model_validator(mode="after")
    def _one(self) -> OwnerConsentIn:
        if self.owner_id is not None and self.use_right_id is not None:
            raise ValueError("name an owner_id or a use_right_id, not both")
        named = self.owner_id is not None or self.use_right_id is not None
        if named and self.document_sha256 is None:
            raise ValueError("document_sha256 is required with owner_id or use_right_id")
        if not named and self.document_sha256 is not None:
            raise ValueError("document_sha256 goes with owner_id or use_right_id")
        return self


class OwnerConsentOut(ResponseModel):
    id: uuid.UUID
    organization_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    use_right_id: uuid.UUID | None
    document_sha256: str | None
    given_at: datetime
    recorded_by: str


class PayoutIn(RequestModel):
    owner_id: uuid.UUID
    amount: PositiveMoneyIn
    bank_reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PayoutOut(ResponseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    owner_id: uuid.UUID
    amount: MoneyOut
    bank_reference: str
    at: datetime
