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
    """Exactly one of ``listing_id`` (a draft listing of the pledged patent), ``open_license_id`` (its
    declaration pending review) or ``trial_offer_id`` (its trial offer pending review, SPEC §18.3)."""

    listing_id: uuid.UUID | None = None
    open_license_id: uuid.UUID | None = None
    trial_offer_id: uuid.UUID | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [  # exactly one of the two is given (an id, not null)
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("listing_id", "open_license_id", "trial_offer_id")
            ]
        }
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ConsentCreate:
        given = [x for x in (self.listing_id, self.open_license_id, self.trial_offer_id) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of listing_id, open_license_id and trial_offer_id")
        return self


class ConsentOut(ResponseModel):
    id: uuid.UUID
    pledge_id: uuid.UUID
    listing_id: uuid.UUID | None
    open_license_id: uuid.UUID | None
    trial_offer_id: uuid.UUID | None
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
