"""Pure rules of the filing workflow (SPEC §18.6). No I/O.

A transfer task (an assignment to register with CNIPA) is filed by a party within ``TRANSFER_FILING_DAYS``
days of the settlement day and registered by an operator once CNIPA announces it; a licence record is filed
within ``LICENCE_FILING_MONTHS`` months of its first day. Each has one table of moves; any other move is 409
``invalid_state``. A filing is dated by an instant, whose Shanghai day is the filing day: never before the
settlement (a licence record: its creation) nor in the future; an announcement is a day, never before the
filing day nor after today. A deadline "on day D" passes at 00:00 Asia/Shanghai on D + 1 (SPEC §18).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from app.calendar.rules import add_months
from app.kit.workdays import SHANGHAI
from app.models.settlement import LicenceRecordStatus, TransferTaskStatus

TRANSFER_FILING_DAYS = 30
LICENCE_FILING_MONTHS = 3  # 专利法实施细则: a licence contract is filed within 3 months

TRANSFER_MOVES: dict[TransferTaskStatus, frozenset[TransferTaskStatus]] = {
    TransferTaskStatus.pending: frozenset({TransferTaskStatus.filed}),
    TransferTaskStatus.filed: frozenset({TransferTaskStatus.registered}),
    TransferTaskStatus.registered: frozenset(),
}

LICENCE_MOVES: dict[LicenceRecordStatus, frozenset[LicenceRecordStatus]] = {
    LicenceRecordStatus.pending: frozenset({LicenceRecordStatus.filed}),
    LicenceRecordStatus.filed: frozenset(),
}


def may_move_transfer(current: str, new: TransferTaskStatus) -> bool:
    return new in TRANSFER_MOVES[TransferTaskStatus(current)]


def may_move_licence(current: str, new: LicenceRecordStatus) -> bool:
    return new in LICENCE_MOVES[LicenceRecordStatus(current)]


def shanghai_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def transfer_filing_due(settled_at: datetime) -> date:
    """The last day to file an assignment: the settlement day (Shanghai) + ``TRANSFER_FILING_DAYS``."""
    return shanghai_day(settled_at) + timedelta(days=TRANSFER_FILING_DAYS)


def licence_filing_due(starts_on: date) -> date:
    """The last day to file a licence: ``LICENCE_FILING_MONTHS`` months after its first day (DOMAIN.md)."""
    return add_months(starts_on, LICENCE_FILING_MONTHS)


def passes_at(day: date) -> datetime:
    """The instant a deadline on ``day`` passes: 00:00 Asia/Shanghai on the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)


def last_passed_day(now: datetime) -> date:
    """The latest deadline day that has passed at ``now`` (yesterday, Shanghai)."""
    return shanghai_day(now) - timedelta(days=1)


def filing_problem(filed_at: datetime, *, earliest: datetime, since: str, now: datetime) -> str | None:
    """Why ``filed_at`` cannot date a filing (None when it can): not before ``earliest`` (``since`` names it:
    the settlement, or the licence record's creation) nor after ``now``."""
    if filed_at < earliest:
        return f"must not be before {since}"
    if filed_at > now:
        return "must not be in the future"
    return None


def announcement_problem(announced_on: date, *, filed_on: date, today: date) -> str | None:
    """Why ``announced_on`` cannot be a registration's announcement day (None when it can)."""
    if announced_on < filed_on:
        return "must not be before the filing day"
    if announced_on > today:
        return "must not be after today"
    return None
