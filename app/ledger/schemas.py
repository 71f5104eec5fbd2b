from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel


class PaymentCreate(RequestModel):
    organization_id: uuid.UUID
    amount: PositiveMoneyIn
    bank_reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organization_id": "0b7c2c1e-6c1f-4a53-9d0e-2f1d5b0c9a11",
                    "amount": "300000.00",
                    "bank_reference": "ICBC-20261127-000123",
                }
            ]
        }
    )


class PaymentOut(ResponseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    amount: MoneyOut
    bank_reference: str
    at: datetime


class WithdrawalCreate(RequestModel):
    amount: PositiveMoneyIn

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": "5000.00"}]})


class WithdrawalOut(ResponseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    amount: MoneyOut
    at: datetime


class AccountOut(ResponseModel):
    available: MoneyOut
    held: MoneyOut
    payable_to_inventors: MoneyOut | None = Field(
        default=None,
        description="Inventors' parts of co-owned income not paid out yet (SPEC §18.5): neither spendable nor "
        "withdrawable; paid out with POST /organizations/{id}/inventor-payouts. Present once the organization "
        "has been credited such parts",
    )


class LedgerEntryOut(ResponseModel):
    id: uuid.UUID
    kind: str
    at: datetime
    memo: str
    reference: str | None
    deal_id: uuid.UUID | None
    registration_id: uuid.UUID | None
    available: MoneyOut
    held: MoneyOut


class TrialAccountOut(ResponseModel):
    kind: str
    owner_id: uuid.UUID
    balance: MoneyOut


class TrialBalanceOut(ResponseModel):
    balanced: bool
    total: MoneyOut
    accounts: list[TrialAccountOut]
