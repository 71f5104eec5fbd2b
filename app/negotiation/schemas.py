"""Request and response models of negotiation (SPEC §8)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel
from app.models.trading import OfferStatus
from app.negotiation.rules import Party

Message = Annotated[str, StringConstraints(max_length=2000)]


class OfferCreate(RequestModel):
    """A buyer's offer, or a counter to the offer the caller received."""

    price: PositiveMoneyIn
    message: Message | None = None
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the offer lapses; without it the offer stays open until the listing closes.",
    )


class OfferOut(ResponseModel):
    id: uuid.UUID
    listing_id: uuid.UUID
    buyer_org_id: uuid.UUID
    price: MoneyOut
    message: str | None
    status: OfferStatus
    made_by: Party
    expires_at: datetime | None
    previous_offer_id: uuid.UUID | None
    deal_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
