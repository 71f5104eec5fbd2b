"""Request and response models of open licensing (SPEC §13)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from app.kit.money import MoneyIn, MoneyOut
from app.kit.schemas import RequestModel, ResponseModel
from app.models.patents import PatentKind
from app.models.policy import FeeType, OpenLicenseStatus
from app.models.royalties import RoyaltyPeriod

_SIX_DECIMALS = (  # 1 to 6 decimals, not all zero (then any trailing zeros)
    r"(?:[1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9])0*"
)
# What ``rules.fee_errors`` accepts as a rate, as JSON Schema: a number or a decimal string, 0 < rate ≤ 1 (the
# six-decimal bound is the string's; a number's is the server's to check).
ROYALTY_RATE_SCHEMAS: tuple[dict[str, Any], ...] = (
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    {"type": "string", "pattern": rf"^0*(?:1(?:\.0*)?|\.{_SIX_DECIMALS})$"},
)


class OpenLicenseCreate(RequestModel):
    """A declaration of willingness to license anyone. The fee fields depend on ``fee_type``: ``lump_sum`` for
    lump-sum kinds, ``royalty_rate`` (0 < rate ≤ 1, at most six decimals) and an optional ``royalty_base`` for
    royalty kinds, none for ``free``."""

    patent_id: uuid.UUID
    fee_type: FeeType
    lump_sum: MoneyIn | None = None
    royalty_rate: Decimal | None = Field(
        default=None,
        description='Fraction of the royalty base, e.g. "0.05" for 5%: 0 < rate ≤ 1, at most six decimals',
        examples=["0.05"],
        json_schema_extra={"anyOf": [*ROYALTY_RATE_SCHEMAS, {"type": "null"}]},
    )
    royalty_base: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="What the royalty is a share of, e.g. net sales of licensed products"
    )
    term_months: int = Field(ge=1, le=360, description="Licence term from the day a licence is taken")
    royalty_period: RoyaltyPeriod = Field(
        default=RoyaltyPeriod.quarter,
        description="Royalty kinds: how often licensees report royalties, by Shanghai calendar month or quarter "
        "(SPEC §18.4)",
    )


class OpenLicenseOut(ResponseModel):
    id: uuid.UUID
    patent_id: uuid.UUID
    patent_number: str | None
    patent_title: str
    patent_kind: PatentKind
    owner_org_id: uuid.UUID
    fee_type: FeeType
    lump_sum: MoneyOut | None
    royalty_rate: str | None
    royalty_base: str | None
    royalty_period: RoyaltyPeriod | None = Field(description="Royalty kinds only: `month` or `quarter`")
    term_months: int
    status: OpenLicenseStatus
    declared_at: datetime | None
    withdrawn_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OpenLicenceGrantOut(ResponseModel):
    """A non-exclusive licence taken under an open licence, paid and settled at once."""

    id: uuid.UUID
    open_license_id: uuid.UUID
    licensee_org_id: uuid.UUID
    deal_id: uuid.UUID
    starts_on: date
    ends_on: date
    filing_due: date
    created_at: datetime
