"""Request and response models of webhooks (SPEC §17.5)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

from app.kit.errors import CodedValueError
from app.kit.schemas import RequestModel, ResponseModel
from app.models.webhooks import DeliveryStatus
from app.notifications.kinds import KINDS
from app.webhooks.rules import MAX_URL_LENGTH


def _known_kind(kind: str) -> str:
    if kind not in KINDS:
        raise CodedValueError("invalid_event_kind", f"unknown event kind {kind[:40]!r}")
    return kind


EventKind = Annotated[
    str,
    AfterValidator(_known_kind),
    WithJsonSchema({"type": "string", "enum": list(KINDS)}),
]


class WebhookCreate(RequestModel):
    url: str = Field(
        description="Absolute http(s) URL (https only in production), no user info; its host must resolve to "
        "public addresses only",
        json_schema_extra={"maxLength": MAX_URL_LENGTH},
    )
    event_kinds: list[EventKind] = Field(
        min_length=1,
        max_length=len(KINDS) * 4,
        description="Notification kinds sent to this URL (SPEC §17.4)",
    )
    description: str | None = Field(default=None, max_length=500)


class WebhookOut(ResponseModel):
    id: uuid.UUID
    url: str
    event_kinds: list[str]
    description: str | None
    status: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="`whsec_…`: signs every request; shown by this response only")


class WebhookDeliveryOut(ResponseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    kind: str
    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
