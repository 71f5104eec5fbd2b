"""Request and response models of watchlists, saved searches and the inbox (SPEC §17.4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from app.kit.money import MoneyIn, MoneyOut
from app.kit.pagination import Page
from app.kit.schemas import RequestModel, ResponseModel
from app.listings.schemas import ListingOut
from app.models.listings import PricingMode, TransactionKind


class WatchOut(ResponseModel):
    listing_id: uuid.UUID
    created_at: datetime


class WatchItem(WatchOut):
    listing: ListingOut


# The criteria of a saved search are the filters of the public search (SPEC §5, ``GET /listings``), with its
# limits: ``q`` up to 200 characters, ``ipc`` a prefix up to 32.
CRITERIA = ("q", "pricing_mode", "transaction_kind", "ipc", "min_price", "max_price")


class SavedSearchCreate(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    q: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Full text, Chinese or Latin, as the search's `q`"
    )
    pricing_mode: PricingMode | None = None
    transaction_kind: TransactionKind | None = None
    ipc: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="IPC prefix, e.g. H01M"
    )
    min_price: MoneyIn | None = None
    max_price: MoneyIn | None = None

    @model_validator(mode="after")
    def _at_least_one_criterion(self) -> SavedSearchCreate:
        # Text of whitespace alone is no criterion (the search ignores it too).
        if self.q == "":
            self.q = None
        if self.ipc == "":
            self.ipc = None
        if all(getattr(self, name) is None for name in CRITERIA):
            raise ValueError("a saved search needs at least one criterion: " + ", ".join(CRITERIA))
        return self


class SavedSearchOut(ResponseModel):
    id: uuid.UUID
    name: str
    q: str | None
    pricing_mode: PricingMode | None
    transaction_kind: TransactionKind | None
    ipc: str | None
    min_price: MoneyOut | None
    max_price: MoneyOut | None
    created_at: datetime


class NotificationOut(ResponseModel):
    id: uuid.UUID
    kind: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationPage(Page[NotificationOut]):
    unread_count: int = Field(description="Unread notifications of the organization (of `kind`, if given)")


class ReadAllOut(ResponseModel):
    updated: int
