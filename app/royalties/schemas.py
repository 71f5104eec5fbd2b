"""Request and response models of royalty reports (SPEC §18.4)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from app.kit.money import MoneyIn, MoneyOut
from app.kit.schemas import RequestModel, ResponseModel
from app.models.royalties import RoyaltyReportStatus


class RoyaltyFileIn(RequestModel):
    base_amount: MoneyIn = Field(
        description="The period's sales revenue on the agreed royalty base, in yuan (≥ 0.00)"
    )


class RoyaltyReportOut(ResponseModel):
    id: uuid.UUID
    licence_record_id: uuid.UUID
    licensor_org_id: uuid.UUID
    licensee_org_id: uuid.UUID
    period: str = Field(description="`YYYY-MM` (monthly) or `YYYY-Qn` (quarterly), Asia/Shanghai")
    period_start: date = Field(description="First day covered, clamped to the licence")
    period_end: date = Field(description="Last day covered, clamped to the licence")
    due_at: datetime
    status: RoyaltyReportStatus
    base_amount: MoneyOut | None
    royalty_rate: str
    royalty: MoneyOut | None = Field(description="base × rate, rounded half-up to the fen")
    licensee_fee: MoneyOut | None
    licensor_fee: MoneyOut | None
    amount_due: MoneyOut | None = Field(description="royalty + the licensee's fee")
    overdue: bool
    filed_at: datetime | None
    paid_at: datetime | None
    settled_at: datetime | None
