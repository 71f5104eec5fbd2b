from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.equity.schemas import EquityOut
from app.kit.money import MoneyOut
from app.kit.schemas import ResponseModel
from app.models.trading import DealSource, DealStatus


class DealOut(ResponseModel):
    id: uuid.UUID
    listing_id: uuid.UUID | None
    buyer_org_id: uuid.UUID
    seller_org_id: uuid.UUID
    price: MoneyOut
    cash_price: MoneyOut
    source: DealSource
    transaction_kind: str
    status: DealStatus
    buyer_fee: MoneyOut
    seller_fee: MoneyOut
    deposit_applied: MoneyOut
    amount_due: MoneyOut
    contract_id: uuid.UUID | None
    notice_ends_at: datetime | None
    sign_by: datetime | None
    pay_by: datetime | None
    paid_at: datetime | None
    settled_at: datetime | None
    certificate_number: str | None
    completed_at: datetime | None
    trial_id: uuid.UUID | None
    equity: EquityOut | None = Field(
        description="An equity contribution's terms, valuation and completion (SPEC §18.2); null for other kinds"
    )
    created_at: datetime
