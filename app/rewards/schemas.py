"""Request and response models of the inventor reward plan (SPEC §12)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from app.equity.schemas import PercentIn, PercentOut
from app.kit.money import MoneyIn, MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel
from app.models.accounts import RewardRules
from app.models.policy import RewardPlanStatus
from app.rewards.rules import RewardForm, RewardRole


class AllocationIn(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: RewardRole
    amount: PositiveMoneyIn | None = Field(default=None, description="A cash plan's allocation")
    equity_percent: PercentIn | None = Field(
        default=None, description="An equity plan's allocation: a percentage of the company (SPEC §18.2)"
    )


class RewardPlanIn(RequestModel):
    form: RewardForm = Field(
        default=RewardForm.cash, description="`equity` for an equity contribution's deal, else `cash`"
    )
    costs: MoneyIn | None = Field(
        default=None,
        description="A cash plan's costs of the transfer, taxes included; 0 ≤ costs ≤ price − seller fee",
    )
    allocations: list[AllocationIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _fields_of_the_form(self) -> RewardPlanIn:
        cash = self.form == RewardForm.cash
        if cash and self.costs is None:
            raise ValueError("a cash plan needs costs")
        if not cash and self.costs is not None:
            raise ValueError("an equity plan has no costs")
        for a in self.allocations:
            if (a.amount is not None, a.equity_percent is not None) != (cash, not cash):
                raise ValueError("a cash plan's allocations carry amount, an equity plan's equity_percent")
        return self


class AllocationOut(ResponseModel):
    name: str
    role: RewardRole
    amount: MoneyOut | None = None
    equity_percent: PercentOut | None = None


class RewardPlanOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    rule_set: RewardRules
    form: RewardForm
    price: MoneyOut | None = Field(description="Null for an equity plan")
    seller_fee: MoneyOut | None
    costs: MoneyOut | None
    net_income: MoneyOut | None
    pool: MoneyOut | None
    equity_percent: PercentOut | None = Field(description="An equity plan's: the deal's equity percentage")
    pool_percent: PercentOut | None = Field(description="An equity plan's: the sum of its allocations")
    allocations: list[AllocationOut]
    status: RewardPlanStatus
    notice_ends_at: datetime = Field(description="End of the 15-day notice within the unit")
    pay_by: date = Field(description="Six months after settlement")
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
