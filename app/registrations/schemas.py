"""Request and response models of registrations (SPEC §7)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.kit.money import MoneyOut
from app.kit.schemas import RequestModel, ResponseModel
from app.models.trading import DepositStatus, RegistrationStatus


class RegistrationOut(ResponseModel):
    """A registration as its reader may see it. ``organization_id`` is null for the seller: bidders stay
    anonymous to the seller (only their ``bidder_code`` shows) until a deal names the buyer."""

    id: uuid.UUID
    listing_id: uuid.UUID
    organization_id: uuid.UUID | None
    status: RegistrationStatus
    bidder_code: str
    deposit: MoneyOut
    deposit_status: DepositStatus
    reason: str | None = None
    created_at: datetime


class DisqualifyIn(RequestModel):
    reason: str = Field(min_length=1, max_length=1000)
