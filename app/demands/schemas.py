"""Request and response models of technology demands (SPEC §17.6)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints

from app.demands import rules
from app.kit.money import MoneyIn, MoneyOut
from app.kit.schemas import NotNull, RequestModel, ResponseModel
from app.listings.schemas import ListingOut
from app.models.demands import DemandResponseStatus, DemandStatus
from app.patents.schemas import IPC_PATTERN

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Message = Annotated[str, StringConstraints(min_length=1, max_length=5000)]

# A full symbol as in §4, or a subclass (``H01M``).
DEMAND_IPC_PATTERN = r"^(?:[A-Ha-h][0-9]{2}[A-Za-z]|" + IPC_PATTERN.removeprefix("^").removesuffix("$") + ")$"
IpcCodes = Annotated[
    list[
        Annotated[
            str, StringConstraints(max_length=40), Field(json_schema_extra={"pattern": DEMAND_IPC_PATTERN})
        ]
    ],
    Field(
        description="0–20 IPC codes, full (`H01M 10/0525`) or a subclass (`H01M`); returned normalised. "
        "More, or one that is neither → 422 `invalid_ipc_code`.",
        json_schema_extra={"maxItems": rules.MAX_IPC_CODES},
    ),
    AfterValidator(rules.normalise_ipc_codes),
]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """Only ``YYYY-MM-DD``: Pydantic's lax mode would otherwise read a number as a day of 1970."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


Deadline = Annotated[
    date,
    BeforeValidator(_iso_date),
    Field(
        description="The last day (Asia/Shanghai) of the demand: after today, at most 365 days ahead "
        "(else 422 `invalid_deadline`). The demand expires at 00:00 Shanghai time of the next day."
    ),
]


class DemandCreate(RequestModel):
    title: Title
    description: Description
    ipc_codes: IpcCodes = Field(default_factory=list)
    budget_min: MoneyIn | None = None
    budget_max: MoneyIn | None = None
    deadline: Deadline
    anonymous: bool = Field(
        default=False,
        description="Hide the organization from everyone but itself, operators and the sellers whose "
        "response it accepts.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "寻求海参养殖设备技术",
                    "description": "需要适用于近海养殖的自动投喂与水质监测设备技术。",
                    "ipc_codes": ["A01K 61/00", "A01K"],
                    "budget_min": "200000.00",
                    "budget_max": "800000.00",
                    "deadline": "2027-03-31",
                    "anonymous": True,
                }
            ]
        }
    )


class DemandUpdate(RequestModel):
    """Every field optional; ``null`` clears a budget bound and is refused for the others."""

    title: Title | NotNull = None
    description: Description | NotNull = None
    ipc_codes: IpcCodes | NotNull = None
    budget_min: MoneyIn | None = None
    budget_max: MoneyIn | None = None
    deadline: Deadline | NotNull = None
    anonymous: bool | NotNull = None


NULLABLE_FIELDS = frozenset({"budget_min", "budget_max"})


class DemandSort(StrEnum):
    newest = "-published_at"
    deadline = "deadline"


class OrganizationBrief(ResponseModel):
    id: uuid.UUID
    name: str
    kind: str


class DemandOut(ResponseModel):
    id: uuid.UUID
    title: str
    description: str
    ipc_codes: list[str]
    budget_min: MoneyOut | None
    budget_max: MoneyOut | None
    deadline: date
    anonymous: bool
    status: DemandStatus
    organization: OrganizationBrief | None = Field(
        description="null for an anonymous demand, except to its owner, operators and the sellers whose "
        "response the owner accepted"
    )
    rejection_reason: str | None
    published_at: datetime | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class ListingMatchOut(ResponseModel):
    listing: ListingOut
    score: float = Field(description="2 (`group`), 1 (`subclass`) or 0, plus `text_score`")
    ipc_match: rules.IpcMatch
    text_score: float = Field(
        description="Share of the demand title's index terms found in the listing's text"
    )


class DemandMatchOut(ResponseModel):
    demand: DemandOut
    score: float = Field(description="2 (`group`), 1 (`subclass`) or 0, plus `text_score`")
    ipc_match: rules.IpcMatch
    text_score: float = Field(
        description="Share of the demand title's index terms found in the listing's text"
    )


class DemandResponseCreate(RequestModel):
    listing_id: uuid.UUID = Field(description="A published listing of the caller's organization")
    message: Message


class DemandResponseOut(ResponseModel):
    id: uuid.UUID
    demand_id: uuid.UUID
    listing_id: uuid.UUID
    seller_org_id: uuid.UUID
    message: str
    status: DemandResponseStatus
    created_at: datetime
