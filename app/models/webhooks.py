"""Webhooks (SPEC §17.5): an organization's subscriptions of URLs to notification kinds, and the deliveries of
each notification (an event) to each subscribed URL."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType


class WebhookStatus(StrEnum):
    active = "active"
    deleted = "deleted"  # never shown: a deleted webhook is 404 and nothing more is attempted


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class Webhook(IdMixin, Base):
    """A URL an organization's admin subscribed to some notification kinds. ``secret`` signs every request
    (it is shown once, by the creation's response)."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_organization_id_status", "organization_id", "status"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2000))
    event_kinds: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(IdMixin, Base):
    """One event (a notification) to be sent to one webhook, written in the notification's transaction.

    ``body`` is the event serialised once, sent byte for byte on every attempt and copied by a redelivery.
    Times are the business clock's, except the lease: ``lease_until`` (real time) marks a delivery a worker has
    claimed and is attempting, and ``lease_token`` names that claim, so a worker records only its own attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
    )

    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id"))
    kind: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[uuid.UUID | None]
