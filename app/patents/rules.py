"""Pure rules of the patent registry (SPEC §4, DOMAIN.md "Patent numbers"): no I/O, no clock.

Application numbers follow ZC 0006-2003: ``YYYY K NNNNNNN . C`` since October 2003 and ``YY K NNNNN . C``
before, where K is the kind digit and C the check character (weights 2..9,2..5, sum mod 11, 10 → ``X``).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import mul
from typing import Any

from app.kit import dates
from app.kit.errors import CodedValueError
from app.models.patents import LegalStatus, PatentKind

INVALID_NUMBER = "invalid_patent_number"
INVALID_IPC = "invalid_ipc_code"

_NEW_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_OLD_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9)
_NUMBER = re.compile(r"^(?:CN|ZL)?(\d{12}|\d{8})\.?([0-9X])$")
_NORMAL_NUMBER = re.compile(r"^(\d{12}|\d{8})\.([0-9X])$")
_SPACES = re.compile(r"\s+")

KIND_BY_DIGIT = {
    "1": PatentKind.invention,
    "8": PatentKind.invention,  # PCT application entering the national phase
    "2": PatentKind.utility_model,
    "9": PatentKind.utility_model,  # PCT
    "3": PatentKind.design,
}

# Patent Law art. 42 (4th amendment, in force 2021-06-01): designs filed from that day run 15 years.
DESIGN_15_YEARS_FROM = date(2021, 6, 1)
TERM_YEARS = {PatentKind.invention: 20, PatentKind.utility_model: 10}

# Operators set these; the other statuses are derived from the dates (SPEC §4).
OPERATOR_STATUSES = frozenset({LegalStatus.lapsed, LegalStatus.invalidated})


@dataclass(frozen=True)
class ApplicationNumber:
    number: str  # normalised: ``201510703489.3`` or ``97101765.4``
    kind: PatentKind


def check_character(digits: str) -> str:
    """The check character of 12 (new format) or 8 (old format) digits."""
    weights = _NEW_WEIGHTS if len(digits) == 12 else _OLD_WEIGHTS
    if len(digits) != len(weights) or not digits.isdigit():
        raise ValueError("an application number has 12 or 8 digits before its check character")
    remainder = sum(map(mul, map(int, digits), weights)) % 11
    return "X" if remainder == 10 else str(remainder)


def parse_application_number(value: str) -> ApplicationNumber:
    """Normalise an application number: ``CN``/``ZL`` prefixes, spaces, full-width characters and a missing
    dot are accepted; the check character must match. Raises ``CodedValueError(invalid_patent_number)``."""
    match = _NORMAL_NUMBER.match(value)  # most imported numbers are already normalised
    if match is None:
        match = _NUMBER.match(_SPACES.sub("", unicodedata.normalize("NFKC", value)).upper())
    if match is None:
        raise CodedValueError(
            INVALID_NUMBER, "an application number is YYYYKNNNNNNN.C (or YYKNNNNN.C before October 2003)"
        )
    digits, check = match.groups()
    kind_digit = digits[4] if len(digits) == 12 else digits[2]
    kind = KIND_BY_DIGIT.get(kind_digit)
    if kind is None:
        raise CodedValueError(
            INVALID_NUMBER, f"unknown kind digit {kind_digit} (1/8 invention, 2/9 utility model, 3 design)"
        )
    if len(digits) == 12 and int(digits[:4]) < 2003:
        raise CodedValueError(INVALID_NUMBER, "12-digit application numbers start in 2003")
    expected = check_character(digits)
    if check != expected:
        raise CodedValueError(INVALID_NUMBER, f"wrong check character {check} (expected {expected})")
    return ApplicationNumber(number=f"{digits}.{check}", kind=kind)


def patent_number(application_number: str, grant_date: date | None) -> str | None:
    """``ZL`` + the application number once granted (DOMAIN.md)."""
    return None if grant_date is None else "ZL" + application_number


def _add_years(day: date, years: int) -> date:
    """The anniversary; a 29 February filing's anniversary in a common year is 1 March, so the term is never
    shortened (the last day in force is the day before ``expires_on``)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def term_years(kind: PatentKind, filing_date: date) -> int:
    if kind == PatentKind.design:
        return 15 if filing_date >= DESIGN_15_YEARS_FROM else 10
    return TERM_YEARS[kind]


def expires_on(kind: PatentKind, filing_date: date) -> date:
    """The first day the patent is no longer in force: filing date + the term (Patent Law art. 42)."""
    return _add_years(filing_date, term_years(kind, filing_date))


def derive_legal_status(
    *, override: LegalStatus | None, expires: date, grant_date: date | None, today: date
) -> LegalStatus:
    """An operator's lapsed/invalidated wins, then expiry, then granted/pending (SPEC §4)."""
    if override is not None:
        return LegalStatus(override)
    if expires <= today:
        return LegalStatus.expired
    return LegalStatus.granted if grant_date is not None else LegalStatus.pending


# --- IPC -------------------------------------------------------------------------------------------------

_IPC = re.compile(r"^([A-H])(\d{2})([A-Z])(\d{1,4})/(\d{2,6})$")
# A section, or the start of a class (one digit of two), or a whole class and more: a subclass letter follows
# two digits only (``H0M`` is no prefix of any symbol).
_IPC_PREFIX = re.compile(r"^[A-H](?:\d{1,2}|\d{2}[A-Z](?:\d{1,4}(?:/\d{0,6})?)?)?$")


@dataclass(frozen=True)
class IpcCode:
    display: str  # ``H01M 10/0525``: how the API shows it and how ``patent_ipc.code`` indexes it
    key: str  # the indexed form (``patent_ipc.code``), equal to ``display``


@lru_cache(maxsize=8192)
def parse_ipc(value: str) -> IpcCode:
    """Validate an IPC symbol: section A–H, two-digit class, subclass letter, main group (1–4 digits), ``/``,
    subgroup of at least two digits. Spaces are ignored; letters are upper-cased."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", value)).upper()
    match = _IPC.match(text)
    if match is None or int(match.group(4)) == 0:
        raise CodedValueError(INVALID_IPC, f"not an IPC symbol like 'H01M 10/0525': {value[:40]!r}")
    section, klass, subclass, group, subgroup = match.groups()
    display = f"{section}{klass}{subclass} {int(group)}/{subgroup}"
    return IpcCode(display=display, key=display)


def normalise_ipc_codes(values: Iterable[str]) -> list[str]:
    """Validated display forms, duplicates removed, order kept."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(parse_ipc(value).display, None)
    return list(seen)


def ipc_key(display: str) -> str:
    """The ``patent_ipc.code`` of a normalised code: its display form (listings search filters it too)."""
    return display


def ipc_prefix(value: str) -> str:
    """The ``patent_ipc.code`` prefix for ``?ipc=``: ``H01M``, ``H01M 10/`` (group 10 exactly),
    ``H01M 10/05``… Spaces and case in the query do not matter; a complete main group gets its ``/`` so
    ``H01M 1`` does not match group 10."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", value)).upper()
    if not _IPC_PREFIX.match(text):
        raise CodedValueError(INVALID_IPC, "ipc must be the start of an IPC symbol, e.g. H01M or H01M 10/05")
    if len(text) <= 4:
        return text
    group, _, subgroup = text[4:].partition("/")
    return f"{text[:4]} {int(group)}/{subgroup}"


# --- descriptive fields ----------------------------------------------------------------------------------


def check_dates(filing_date: date, grant_date: date | None) -> None:
    if grant_date is not None and grant_date < filing_date:
        raise ValueError("grant_date must not precede filing_date")


INVALID_DATE = "invalid_date"


class PatentDateError(CodedValueError):
    """A date a patent cannot carry; ``field`` names it (a 422 over HTTP, a failed row in an import)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(INVALID_DATE, f"{field} {message}")
        self.field = field


def check_patent_dates(
    *, filing_date: date, grant_date: date | None, annual_fee_paid_until: date | None, today: date
) -> None:
    """SPEC §20: filing and grant happened between 1900-01-01 and ``today`` (the business clock's day in
    Asia/Shanghai), the grant not before the filing; annual fees are paid until a day in 1900-01-01 …
    2199-12-31 (ahead of today is normal). Keeps ``expires_on`` (filing + up to 20 years) a real date.
    Raises ``PatentDateError`` naming the first offending field."""
    for field, day in (("filing_date", filing_date), ("grant_date", grant_date)):
        if day is None:
            continue
        if day < dates.EARLIEST:
            raise PatentDateError(field, f"must not be before {dates.EARLIEST.isoformat()}")
        if day > today:
            raise PatentDateError(field, f"must not be later than today ({today.isoformat()})")
    if grant_date is not None and grant_date < filing_date:
        raise PatentDateError("grant_date", "must not precede filing_date")
    if annual_fee_paid_until is not None and not dates.in_range(annual_fee_paid_until):
        raise PatentDateError(
            "annual_fee_paid_until",
            f"must be a date from {dates.EARLIEST.isoformat()} to {dates.LATEST.isoformat()}",
        )


# --- dates in a stock-taking import ----------------------------------------------------------------------

# SPEC §21: how Chinese spreadsheets write a date. ASCII digits only; year first, four digits (``19/1/2`` names
# no century, ``1/2/2019`` no order); one separator used twice; an Excel date cell arrives as ``YYYY-MM-DD``.
_IMPORT_DATE = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})|([0-9]{4})([0-9]{2})([0-9]{2})")
IMPORT_DATE_FORMS = "2019-01-02, 2019/1/2, 2019.1.2 or 20190102"


def parse_import_date(text: str, field: str) -> date | None:
    """A date cell of an import: ``YYYY-MM-DD``, ``YYYY/M/D``, ``YYYY.M.D`` (month and day of one or two digits,
    any of the three separators) or ``YYYYMMDD``; surrounding spaces are ignored and an empty cell is ``None``.
    Raises ``PatentDateError`` naming ``field`` for anything else or a day that does not exist. Only the import
    reads these forms: the API takes ISO dates. Range rules are ``check_patent_dates``'s."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # the ISO form, most cells: the C parser
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    match = _IMPORT_DATE.fullmatch(text)
    if match is not None:
        year, _, month, day, year8, month8, day8 = match.groups()
        try:
            return date(int(year or year8), int(month or month8), int(day or day8))
        except ValueError:
            pass
    raise PatentDateError(field, f"must be a date such as {IMPORT_DATE_FORMS}")


def normalise_names(values: Iterable[str]) -> list[str]:
    """Inventor names: trimmed, empty ones dropped, duplicates removed, order kept."""
    seen: dict[str, None] = {}
    for value in values:
        name = value.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


FINGERPRINT_FIELDS = (
    "application_number",
    "title",
    "abstract",
    "ipc_codes",
    "inventors",
    "filing_date",
    "grant_date",
    "annual_fee_paid_until",
)


def fingerprint(fields: dict[str, Any]) -> str:
    """SHA-256 of the descriptive fields (``FINGERPRINT_FIELDS``): equal fingerprints mean an import row changes
    nothing. A JSON array of plain strings, so the C encoder does all the work (100,000 rows per import)."""
    parts = [
        fields["application_number"],
        fields["title"],
        fields["abstract"],
        fields["ipc_codes"],
        fields["inventors"],
        _iso(fields["filing_date"]),
        _iso(fields["grant_date"]),
        _iso(fields["annual_fee_paid_until"]),
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def split_list(cell: str) -> Sequence[str]:
    """A CSV list cell: values separated by ``;`` (full-width ``；`` too)."""
    return [part for part in cell.replace("；", ";").split(";") if part.strip()]
