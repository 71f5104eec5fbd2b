"""Browser sessions of the web client (SPEC §19.2)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin


class WebSession(IdMixin, Base):
    """A signed-in browser. The cookie holds an opaque random id (256 bits); the server keeps only its
    SHA-256 (``id_hash``), so the table leaks no usable cookie. Expiry runs on real time, like tokens:
    ``last_seen_at`` for the idle limit, ``created_at`` for the absolute one."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
