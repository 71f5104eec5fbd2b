"""Request and response models of pledges (SPEC §14)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import ConfigDict, Field, model_validator

from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel
from app.models.policy import PledgeStatus


class PledgeCreate(RequestModel):
    pledgee_org_id: uuid.UUID = Field(description="A verified financial institution")
    amount: PositiveMoneyIn = Field(description="The secured claim")
    ends_on: date = Field(description="End of the pledge registration's term; after today")


class ConsentCreate(RequestModel):
    """Exactly one of ``listing_id`` (a draft listing of the pledged patent) or ``open_license_id`` (its
    declaration pending review)."""

    listing_id: uuid.UUID | None = None
    open_license_id: uuid.UUID | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [  # exactly one of the two is given (an id, not null)
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("listing_id", "open_license_id")
            ]
        }
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ConsentCreate:
        if (self.listing_id is None) == (self.open_license_id is None):
            raise ValueError("give exactly one of listing_id and open_license_id")
        return self


class ConsentOut(ResponseModel):
    id: uuid.UUID
    pledge_id: uuid.UUID
    listing_id: uuid.UUID | None
    open_license_id: uuid.UUID | None
    given_at: datetime


class PledgeOut(ResponseModel):
    id: uuid.UUID
    patent_id: uuid.UUID
    pledgor_org_id: uuid.UUID
    pledgee_org_id: uuid.UUID
    amount: MoneyOut
    ends_on: date
    status: PledgeStatus
    confirmed_at: datetime | None
    released_at: datetime | None
    consents: list[ConsentOut]
    created_at: datetime
    updated_at: datetime
