"""Request and response models of decision records and the deal dossier (SPEC §18.7)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from app.kit.dates import QueryDate
from app.kit.printing import Printable
from app.kit.schemas import RequestModel, ResponseModel


class DecisionRecordIn(RequestModel):
    body: Annotated[str, StringConstraints(min_length=1, max_length=100), Printable] = Field(
        description="The collective body that decided, e.g. 校长办公会 (1–100 characters)"
    )
    number: Annotated[str, StringConstraints(min_length=1, max_length=64), Printable] = Field(
        description="The decision's number, e.g. 校办〔2026〕12号 (1–64 characters)"
    )
    decided_on: QueryDate = Field(description="The Shanghai day of the decision, not after today")
    document_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] = Field(
        description="SHA-256 (hex) of the signed decision document"
    )


class DecisionRecordOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    body: str
    number: str
    decided_on: date
    document_sha256: str
    recorded_at: datetime
    recorded_by: uuid.UUID


class DossierAuditRef(ResponseModel):
    """The audit event (SPEC §15) that recorded an item's facts: its ``hash`` is that event's in
    ``GET /audit-events?entity_type=&entity_id=``."""

    entity_type: str
    entity_id: str
    seq: int
    hash: str


class DossierItem(ResponseModel):
    kind: str = Field(description="One row of SPEC §18.7's table: decision_record, listing, pricing, …")
    at: datetime = Field(description="The cited audit event's `at`")
    facts: dict[str, Any]
    audit: DossierAuditRef


class DossierOut(ResponseModel):
    deal_id: uuid.UUID
    generated_at: datetime
    items: list[DossierItem]
    digest: str = Field(
        description='SHA-256 (hex) of the items\' `audit.hash` joined with "\\n", in item order'
    )
    chain_ok: bool = Field(description="Every chain the items come from re-verifies (SPEC §15)")
