from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from app.kit.money import MoneyOut

GroupBy = Literal["month", "pricing_mode", "transaction_kind", "seller_kind"]
# SPEC §18.7: ``all`` deals as §15 counts them, or ``registered`` technology contracts only.
Measure = Literal["all", "registered"]


class TurnoverItem(BaseModel):
    key: str
    deals: int
    amount: MoneyOut
    technology_amount: MoneyOut | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="`measure=registered` only: the registered contracts' technology amounts (技术交易额)",
    )
    royalties: MoneyOut | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="`measure=all`: the part of `amount` that is royalties settled in the period (SPEC §18.4)",
    )


class TurnoverOut(BaseModel):
    """Technology contract turnover (技术合同成交金额): settled deals, summed prices."""

    group_by: GroupBy
    measure: Measure = "all"
    start: date | None = Field(serialization_alias="from")
    end: date | None = Field(serialization_alias="to")
    items: list[TurnoverItem]


class OrganizationStatsOut(BaseModel):
    organization_id: uuid.UUID
    patents_held: int = Field(description="Patents the organization owns now")
    patents_listed: int = Field(description="Its patents in listings that reached published")
    patents_transacted: int = Field(
        description="Patents assigned or licensed by it (as seller) in settled deals"
    )
    patents_assigned_away: int = Field(description="Patents it assigned to others in settled deals")
    industrialization_rate: float | None = Field(
        description="patents_transacted / (patents_held + patents_assigned_away); null without patents"
    )
