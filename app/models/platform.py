from __future__ import annotations

from sqlalchemy import Float
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SandboxClock(Base):
    """The sandbox clock's offset from real time, shared by every server process (one row, id 1)."""

    __tablename__ = "sandbox_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    offset_seconds: Mapped[float] = mapped_column(Float, default=0.0)
