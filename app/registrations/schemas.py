"""Request and response models of registrations (SPEC §7)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.kit.money import MoneyOut
from app.kit.schemas import RequestModel, ResponseModel
from app.models.listings import PriorityBasis
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


class PriorityHolderIn(RequestModel):
    registration_id: uuid.UUID = Field(description="A `qualified` registration of this listing.")
    rank: int = Field(ge=1, le=9, description="1 comes first; several holders may share a rank.")
    basis: PriorityBasis
    note: str | None = Field(default=None, max_length=1000)


class PriorityHolderOut(ResponseModel):
    """A designation (SPEC §17.2): the holder's bidder code, never its organization."""

    id: uuid.UUID
    listing_id: uuid.UUID
    registration_id: uuid.UUID
    bidder_code: str
    rank: int
    basis: PriorityBasis
    note: str | None
    created_at: datetime
