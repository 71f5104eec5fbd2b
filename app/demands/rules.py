"""Pure rules of technology demands (SPEC §17.6): the state machine, validation, expiry and the one matching
formula both directions use. No I/O.

Error codes (problem+json):

* 409 ``invalid_state`` — a transition the table below does not allow (``check_transition``), including any
  action on a demand whose ``expires_at`` has passed before the sweeper got to it (``current_status``).
* 422 ``invalid_ipc_code`` — more than 20 codes, or a code that is neither a full IPC symbol (§4) nor a
  subclass (``H01M``).
* 422 ``invalid_budget`` — ``budget_min`` > ``budget_max``.
* 422 ``invalid_deadline`` — a deadline not after today (Asia/Shanghai, business clock) or more than 365 days
  ahead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from app.kit.errors import CodedValueError, InvalidState, Unprocessable
from app.kit.money import round_half_up
from app.kit.workdays import SHANGHAI
from app.listings import search
from app.models.demands import EXPIRING_STATUSES, DemandStatus
from app.patents.rules import INVALID_IPC, parse_ipc

S = DemandStatus

# Owner: submit, close. Operator: approve, reject. The sweeper: expire at ``expires_at``.
TRANSITIONS: dict[DemandStatus, frozenset[DemandStatus]] = {
    S.draft: frozenset({S.pending_review, S.expired}),
    S.pending_review: frozenset({S.published, S.draft, S.expired}),
    S.published: frozenset({S.closed, S.expired}),
    S.closed: frozenset(),
    S.expired: frozenset(),
}


def current_status(status: DemandStatus | str, expires_at: datetime, now: datetime) -> DemandStatus:
    """The status as of ``now``: a demand whose ``expires_at`` has passed is ``expired`` even if the sweeper has
    not written it yet, so no action slips in between (the sweeper runs every second, reads do not wait)."""
    status = DemandStatus(status)
    if status in EXPIRING_STATUSES and now >= expires_at:
        return S.expired
    return status


def check_transition(current: DemandStatus | str, target: DemandStatus) -> None:
    """The one guard of every status change: 409 ``invalid_state`` unless the table allows it."""
    if target not in TRANSITIONS[DemandStatus(current)]:
        raise InvalidState(f"A demand cannot go from {current} to {target}.")


# --- validation -------------------------------------------------------------------------------------------

MAX_IPC_CODES = 20
MAX_DEADLINE_DAYS = 365
_SUBCLASS = re.compile(r"^[A-H][0-9]{2}[A-Z]$")
_SPACES = re.compile(r"\s+")


def normalise_ipc_code(value: str) -> str:
    """A full symbol in its §4 display form (``H01M 10/0525``) or a subclass (``H01M``); spaces and case do
    not matter. Anything else → ``invalid_ipc_code``."""
    compact = _SPACES.sub("", unicodedata.normalize("NFKC", value)).upper()
    if _SUBCLASS.fullmatch(compact):
        return compact
    return parse_ipc(value).display  # CodedValueError(invalid_ipc_code) if not a symbol


def normalise_ipc_codes(values: Sequence[str]) -> list[str]:
    """0–20 codes, each normalised, duplicates dropped (order kept)."""
    if len(values) > MAX_IPC_CODES:
        raise CodedValueError(INVALID_IPC, f"at most {MAX_IPC_CODES} IPC codes")
    return list(dict.fromkeys(normalise_ipc_code(v) for v in values))


def check_budget(budget_min: int | None, budget_max: int | None) -> None:
    if budget_min is not None and budget_max is not None and budget_min > budget_max:
        raise Unprocessable(
            "budget_min must not exceed budget_max.",
            code="invalid_budget",
            errors=[{"loc": ["body", "budget_min"], "msg": "greater than budget_max"}],
        )


def shanghai_today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def check_deadline(deadline: date, now: datetime) -> None:
    """After today (Asia/Shanghai, as the business clock reads ``now``) and at most 365 days ahead."""
    today = shanghai_today(now)
    if not today < deadline <= today + timedelta(days=MAX_DEADLINE_DAYS):
        raise Unprocessable(
            f"The deadline must be after {today.isoformat()} and at most {MAX_DEADLINE_DAYS} days ahead.",
            code="invalid_deadline",
            errors=[{"loc": ["body", "deadline"], "msg": "not after today or over a year ahead"}],
        )


def expires_at(deadline: date) -> datetime:
    """00:00 Asia/Shanghai of the day after ``deadline``: the deadline day is the last one of the demand."""
    return datetime.combine(deadline + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


# --- matching ---------------------------------------------------------------------------------------------


class IpcMatch(StrEnum):
    group = "group"
    subclass = "subclass"
    none = "none"


IPC_POINTS = {IpcMatch.group: 2, IpcMatch.subclass: 1, IpcMatch.none: 0}
MIN_TEXT_SCORE = Decimal("0.50")  # an item without an IPC match needs this much of the title


def subclass_of(code: str) -> str:
    return code[:4]


def main_group_of(code: str) -> str | None:
    """``10`` of ``H01M 10/0525``; None for a subclass-only code."""
    if len(code) <= 4:
        return None
    return code[4:].strip().partition("/")[0]


def ipc_match(demand_codes: Iterable[str], listing_codes: Iterable[str]) -> IpcMatch:
    """``group`` when a demand code and a listing code share subclass and main group, ``subclass`` when they
    share the subclass only (a subclass-only demand code matches at ``subclass`` at most), else ``none``.
    Codes are normalised (``normalise_ipc_code``, §4's display form)."""
    listing = [(subclass_of(c), main_group_of(c)) for c in listing_codes]
    best = IpcMatch.none
    for code in demand_codes:
        sub, group = subclass_of(code), main_group_of(code)
        for other_sub, other_group in listing:
            if other_sub != sub:
                continue
            if group is not None and other_group == group:
                return IpcMatch.group
            best = IpcMatch.subclass
    return best


def title_terms(title: str) -> list[str]:
    """The distinct index terms of a title (CJK bigrams, a lone CJK character, Latin words), cut exactly as
    listings are indexed (``app.listings.search.index_terms``)."""
    return list(dict.fromkeys(search.index_terms(title).split()))


@lru_cache(maxsize=4096)
def is_cjk_term(term: str) -> bool:
    return bool(search.parse_query(term).fragments)


def term_found(term: str, listing_terms: Set[str], listing_body: str) -> bool:
    """A Latin word is found when the listing's text has it as a word; a CJK term (a bigram, or a lone
    character) when the text contains it, in a longer run too."""
    return term in listing_terms or (is_cjk_term(term) and term in listing_body)


def text_score(terms: Sequence[str], listing_terms: Set[str], listing_body: str) -> Decimal:
    """The share of ``terms`` (a demand title's, ``title_terms``) found in a listing's search text, rounded
    half-up to 2 decimals; 0 for a title without terms."""
    if not terms:
        return Decimal("0.00")
    found = sum(1 for t in terms if term_found(t, listing_terms, listing_body))
    return Decimal(round_half_up(Decimal(found * 100) / len(terms))) / 100


def min_terms_found(count: int) -> int:
    """The fewest of ``count`` title terms a listing must have for ``text_score`` ≥ 0.5 (``count`` > 0): with
    it, a listing holding that many must hold one of any ``count − k + 1`` of the terms (pigeonhole), which
    lets the search start from the rarest ones."""
    for found in range(1, count + 1):
        if Decimal(round_half_up(Decimal(found * 100) / count)) / 100 >= MIN_TEXT_SCORE:
            return found
    return count


@dataclass(frozen=True)
class Match:
    """How well one listing answers one demand (SPEC §17.6), the same in both directions."""

    ipc_match: IpcMatch
    text_score: Decimal

    @property
    def score(self) -> Decimal:
        return IPC_POINTS[self.ipc_match] + self.text_score

    @property
    def included(self) -> bool:
        return self.ipc_match != IpcMatch.none or self.text_score >= MIN_TEXT_SCORE


def match(
    demand_codes: Iterable[str],
    demand_title_terms: Sequence[str],
    listing_codes: Iterable[str],
    listing_terms: Set[str],
    listing_body: str,
) -> Match:
    """The one formula: ``score`` = 2 (``group``), 1 (``subclass``) or 0, plus ``text_score``."""
    return Match(
        ipc_match(demand_codes, listing_codes),
        text_score(demand_title_terms, listing_terms, listing_body),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def ranking_key(score: Decimal, published_at: datetime, item_id: str) -> tuple[int, int, str]:
    """Sorts ascending into the specified order: ``score`` descending, then newest ``published_at``, then id
    (ascending). Exact integers (hundredths, microseconds), so a cursor holding them compares exactly."""
    return (-int(score * 100), -((published_at - _EPOCH) // _MICROSECOND), item_id)
