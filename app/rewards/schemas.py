"""Request and response models of the inventor reward plan (SPEC §12)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from app.kit.money import MoneyIn, MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel
from app.models.accounts import RewardRules
from app.models.policy import RewardPlanStatus
from app.rewards.rules import RewardRole


class AllocationIn(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: RewardRole
    amount: PositiveMoneyIn


class RewardPlanIn(RequestModel):
    costs: MoneyIn = Field(
        description="Costs of the transfer, taxes included; 0 ≤ costs ≤ price − seller fee"
    )
    allocations: list[AllocationIn] = Field(min_length=1, max_length=500)


class AllocationOut(ResponseModel):
    name: str
    role: RewardRole
    amount: MoneyOut


class RewardPlanOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    rule_set: RewardRules
    price: MoneyOut
    seller_fee: MoneyOut
    costs: MoneyOut
    net_income: MoneyOut
    pool: MoneyOut
    allocations: list[AllocationOut]
    status: RewardPlanStatus
    notice_ends_at: datetime = Field(description="End of the 15-day notice within the unit")
    pay_by: date = Field(description="Six months after settlement")
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
