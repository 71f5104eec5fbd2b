"""Request and response models of listings (SPEC §5). Responses never carry the reserve price."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from app.kit.money import MoneyIn, MoneyOut
from app.kit.printing import Printable
from app.kit.schemas import NotNull, RequestModel, ResponseModel
from app.listings import rules
from app.models.listings import AuctionFormat, ListingStatus, PricingMode, SealedPricing, TransactionKind
from app.models.patents import LegalStatus, PatentKind

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Summary = Annotated[str, StringConstraints(max_length=10_000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


def _unique(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("patent_ids must not repeat")
    return ids


PatentIds = Annotated[
    list[uuid.UUID],
    Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_unique),
]


class LicenseTermsIn(RequestModel):
    term_months: int = Field(ge=1, le=1200)
    # Printed in the contract (SPEC §21).
    territory: Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
    field_of_use: Annotated[str, StringConstraints(min_length=1, max_length=500), Printable]


class AuctionTermsIn(RequestModel):
    format: AuctionFormat
    increment: MoneyIn
    reserve_price: MoneyIn | None = None
    free_bidding_minutes: int = Field(default=rules.DEFAULT_FREE_BIDDING_MINUTES, ge=0, le=30 * 1440)
    countdown_seconds: int = Field(default=rules.DEFAULT_COUNTDOWN_SECONDS, ge=1, le=86_400)
    sealed_pricing: SealedPricing = SealedPricing.first_price
    decrement: MoneyIn | None = None
    step_seconds: int | None = Field(default=None, ge=1, le=86_400)
    floor_price: MoneyIn | None = None


class ListingCreate(RequestModel):
    title: Title
    summary: Summary
    patent_ids: PatentIds
    transaction_kind: TransactionKind
    pricing_mode: PricingMode
    price: MoneyIn | None = None
    deposit: MoneyIn | None = None
    listing_days: int = Field(default=rules.DEFAULT_LISTING_DAYS, ge=rules.MIN_LISTING_DAYS, le=250)
    extension_days: int = Field(default=rules.DEFAULT_EXTENSION_DAYS, ge=1, le=250)
    max_extensions: int = Field(default=rules.DEFAULT_MAX_EXTENSIONS, ge=0, le=20)
    min_bidders_for_auction: int = Field(
        default=rules.DEFAULT_MIN_BIDDERS, ge=2, le=1000, description="Listed mode only (SPEC §9)."
    )
    requires_qualification_review: bool = False
    license: LicenseTermsIn | None = None
    auction: AuctionTermsIn | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "一种锂电池隔膜的制备方法",
                    "summary": "高孔隙率隔膜，适用于动力电池。",
                    "patent_ids": ["3f1c2a8e-0000-4000-8000-000000000001"],
                    "transaction_kind": "assignment",
                    "pricing_mode": "auction",
                    "price": "500000.00",
                    "deposit": "50000.00",
                    "auction": {"format": "english", "increment": "5000.00", "reserve_price": "800000.00"},
                }
            ]
        }
    )


class ListingUpdate(RequestModel):
    """Every field optional; ``null`` clears an optional field (price, deposit, license, auction) and is
    refused for the others (their schema has no ``null``)."""

    title: Title | NotNull = None
    summary: Summary | NotNull = None
    patent_ids: PatentIds | NotNull = None
    transaction_kind: TransactionKind | NotNull = None
    pricing_mode: PricingMode | NotNull = None
    price: MoneyIn | None = None
    deposit: MoneyIn | None = None
    listing_days: Annotated[int, Field(ge=rules.MIN_LISTING_DAYS, le=250)] | NotNull = None
    extension_days: Annotated[int, Field(ge=1, le=250)] | NotNull = None
    max_extensions: Annotated[int, Field(ge=0, le=20)] | NotNull = None
    min_bidders_for_auction: Annotated[int, Field(ge=2, le=1000)] | NotNull = None
    requires_qualification_review: bool | NotNull = None
    license: LicenseTermsIn | None = None
    auction: AuctionTermsIn | None = None


NULLABLE_FIELDS = frozenset({"price", "deposit", "license", "auction"})


class RelistIn(RequestModel):
    """What a relist may change (SPEC §17.3); everything else is copied from the old listing."""

    price: MoneyIn | NotNull = Field(
        default=None, description="Replaces the price: at least 80% of the old one, rounded up to the fen."
    )
    deposit: MoneyIn | NotNull = Field(
        default=None, description="Replaces the deposit (0 < deposit ≤ 30% of the price, SPEC §5)."
    )


class ReasonIn(RequestModel):
    reason: Reason


class ListingSort(StrEnum):
    newest = "-published_at"
    price = "price"
    price_desc = "-price"
    ends_soonest = "listing_ends_at"


class PatentBrief(ResponseModel):
    id: uuid.UUID
    application_number: str
    patent_number: str | None
    title: str
    kind: PatentKind
    legal_status: LegalStatus


class SellerBrief(ResponseModel):
    id: uuid.UUID
    name: str
    kind: str


class LicenseTermsOut(ResponseModel):
    term_months: int
    territory: str
    field_of_use: str


class AuctionTermsOut(ResponseModel):
    """The public auction settings. There is deliberately no reserve price field here."""

    format: AuctionFormat
    increment: MoneyOut
    free_bidding_minutes: int
    countdown_seconds: int
    sealed_pricing: SealedPricing
    decrement: MoneyOut | None = None
    step_seconds: int | None = None
    floor_price: MoneyOut | None = None

    @staticmethod
    def public_terms(terms: dict[str, Any] | None) -> dict[str, Any] | None:
        """The stored settings (defaults filled in) without what the public may not see: the reserve."""
        if terms is None:
            return None
        stored = rules.auction_defaults(terms) or {}
        return {k: v for k, v in stored.items() if k in _PUBLIC_AUCTION_FIELDS}


_PUBLIC_AUCTION_FIELDS = frozenset(AuctionTermsOut.model_fields)


class ListingOut(ResponseModel):
    id: uuid.UUID
    title: str
    summary: str
    transaction_kind: TransactionKind
    pricing_mode: PricingMode
    price: MoneyOut | None
    deposit: MoneyOut | None
    listing_days: int
    extension_days: int
    max_extensions: int
    min_bidders_for_auction: int
    requires_qualification_review: bool
    license: LicenseTermsOut | None
    auction: AuctionTermsOut | None
    status: ListingStatus
    rejection_reason: str | None
    status_reason: str | None
    published_at: datetime | None
    listing_ends_at: datetime | None
    extensions_used: int
    auction_id: uuid.UUID | None
    previous_listing_id: uuid.UUID | None = Field(description="The listing this one relists (SPEC §17.3).")
    next_listing_id: uuid.UUID | None = Field(description="The listing that relists this one.")
    relist_by: datetime | None = Field(
        description="Until when the seller may relist it: null unless `failed` or `expired`."
    )
    seller: SellerBrief
    patents: list[PatentBrief]
    created_at: datetime
    updated_at: datetime
