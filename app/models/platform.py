from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType


class SandboxClock(Base):
    """The sandbox clock's offset from real time, shared by every server process (one row, id 1)."""

    __tablename__ = "sandbox_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    offset_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class CalendarYear(Base):
    """A year of the working-day calendar loaded by an operator (SPEC §21), for a year the bundled official
    calendar does not cover yet. ``holidays`` are weekdays off, ``workdays`` weekend days worked (ISO dates)."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSONType, default=list)
    workdays: Mapped[list[str]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))


class ReadVersion(Base):
    """A counter per public read kept rendered by the server processes (``app.kit.pagecache``): ``listings``
    counts the committed changes of what the public search shows. Only database triggers write it
    (migration ``r3adv3rs10n1``), so that no writer, however it writes, can forget to."""

    __tablename__ = "read_versions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
