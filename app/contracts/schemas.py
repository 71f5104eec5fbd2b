"""Request and response models of contracts, public notices and objections (SPEC §8, §11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from app.kit.money import MoneyOut
from app.kit.schemas import RequestModel, ResponseModel
from app.models.contracts import ContractStatus, ObjectionStatus, Party


class SignatureOut(ResponseModel):
    party: Party
    organization_id: uuid.UUID
    signed_at: datetime
    sha256: str


class ContractOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    transaction_kind: str
    text: str
    sha256: str
    signatures: list[SignatureOut]
    status: ContractStatus
    created_at: datetime


class SignIn(RequestModel):
    sha256: Annotated[
        str,
        Field(
            pattern=r"^[0-9a-fA-F]{64}$",
            description="SHA-256 (hex) of the UTF-8 contract text the party read and signs",
        ),
    ]


class NoticeOut(ResponseModel):
    """A deal's public notice (浙江条例 art. 17): name, summary, way of transfer and price, with the flag of a
    buyer related to the inventors. The buyer itself is not published."""

    deal_id: uuid.UUID
    listing_id: uuid.UUID | None
    title: str
    summary: str
    transaction_kind: str
    price: MoneyOut
    seller_org_id: uuid.UUID
    seller_name: str
    related_party: bool
    status: Literal["in_notice", "ended", "cancelled"]
    pending_objections: int
    notice_starts_at: datetime
    notice_ends_at: datetime


class RelatedPartyIn(RequestModel):
    related_party: Annotated[bool, Field(strict=True)]


class ObjectionIn(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


class ResolveObjectionIn(RequestModel):
    note: Annotated[str | None, Field(max_length=4000)] = None


class ObjectionOut(ResponseModel):
    """An objection as its reader may see it: ``organization_id`` (the objector) is null except for operators
    and the objector itself (SPEC §20)."""

    id: uuid.UUID
    deal_id: uuid.UUID
    organization_id: uuid.UUID | None
    status: ObjectionStatus
    reason: str
    resolution_note: str | None
    resolved_at: datetime | None
    created_at: datetime
