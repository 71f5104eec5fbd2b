from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType


class Notification(IdMixin, Base):
    """One organization's notice of one change (SPEC §17.4), written in the change's own transaction (an outbox:
    a refused or rolled-back request leaves none). Its id is also the webhook event's id (§17.5)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_organization_id_created_at", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
