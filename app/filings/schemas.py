"""Request and response models of the filing workflow (SPEC §18.6)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints

from app.kit.dates import QueryDate
from app.kit.printing import Printable
from app.kit.schemas import RequestModel, ResponseModel
from app.models.settlement import LicenceRecordStatus, TransferTaskStatus

FilingNumber = Annotated[str, StringConstraints(min_length=1, max_length=64), Printable]


class TransferFiledIn(RequestModel):
    cnipa_receipt_number: FilingNumber = Field(description="CNIPA's receipt number (1–64 characters)")
    filed_at: AwareDatetime = Field(
        description="When it was filed, with its offset (its Shanghai day is the filing day): not before the "
        "settlement nor in the future"
    )


class TransferRegisteredIn(RequestModel):
    announcement_date: QueryDate = Field(
        description="The day CNIPA announced the registration: not before the filing day nor after today"
    )


class LicenceFiledIn(RequestModel):
    filing_number: FilingNumber = Field(description="CNIPA's filing number (1–64 characters)")
    filed_at: AwareDatetime = Field(
        description="When it was filed, with its offset: not before the record's creation nor in the future"
    )


class TransferTaskOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    patent_ids: list[uuid.UUID]
    from_org_id: uuid.UUID
    to_org_id: uuid.UUID
    status: TransferTaskStatus
    filing_due: date = Field(description="The last day to file (the settlement day + 30 days)")
    cnipa_receipt_number: str | None
    filed_at: datetime | None
    announcement_date: date | None
    overdue: bool = Field(
        description="`filing_due` passed before it was filed (stays true after a late filing)"
    )
    created_at: datetime
    updated_at: datetime


class LicenceRecordOut(ResponseModel):
    id: uuid.UUID
    deal_id: uuid.UUID | None = Field(description="The deal that granted it; null for a trial's licence")
    trial_id: uuid.UUID | None = Field(description="The trial that granted it (§18.3); null for a deal's")
    licensor_org_id: uuid.UUID
    licensee_org_id: uuid.UUID
    patent_ids: list[uuid.UUID]
    kind: str
    term_months: int | None
    territory: str | None
    field_of_use: str | None
    starts_on: date
    ends_on: date
    ended_on: date | None = Field(description="The day a terminated trial ended it")
    royalty: dict[str, Any] | None = Field(description='`{"rate", "base", "period"}` of a royalty licence')
    status: LicenceRecordStatus
    filing_due: date = Field(description="The last day to file (3 months after `starts_on`)")
    filing_number: str | None
    filed_at: datetime | None
    overdue: bool = Field(
        description="`filing_due` passed before it was filed (stays true after a late filing)"
    )
    created_at: datetime
    updated_at: datetime
