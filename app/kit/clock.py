"""The business clock.

Business rules read only this clock (SPEC §2). In sandbox mode the clock runs at real speed plus an offset
stored in the database, so every server process sees the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    """Real wall-clock time; for token lifetimes, rate-limit windows and retention only."""
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SystemClock:
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class FrozenClock:
    """A clock for tests that moves only when told."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)
