from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel

from app.kit.money import MoneyOut


class PartyOut(BaseModel):
    id: uuid.UUID
    name: str
    credit_code: str


class CertificatePatentOut(BaseModel):
    id: uuid.UUID
    application_number: str
    patent_number: str | None
    title: str


class CertificateOut(BaseModel):
    """A transaction certificate (交易凭证), public: anyone holding the number may verify it."""

    number: str
    deal_id: uuid.UUID
    issued_at: datetime
    seller: PartyOut
    buyer: PartyOut
    patents: list[CertificatePatentOut]
    price: MoneyOut
    transaction_kind: str
    pricing_mode: str | None
    settled_at: datetime
    settled_on: date  # the settlement day in Asia/Shanghai
    contract_sha256: str | None
