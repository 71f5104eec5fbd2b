"""Pure rules of organizations and users."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

from app.kit.errors import CodedValueError
from app.models.accounts import PUBLIC_INSTITUTION_KINDS, OrgKind

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_FAILURES = 10
# No password check takes this long: an attempt still pending after it (its process died) counts as a failure.
LOGIN_CHECK_TIMEOUT = timedelta(seconds=30)
# SPEC §21: a refresh token lasts 30 days (real time); each refresh issues a new one for another 30 days.
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
# A token family is deleted this long after its last refresh token expired (its access tokens, which last
# minutes, are long dead by then; a deleted family refuses them anyway).
TOKEN_FAMILY_KEPT = timedelta(days=1)


def normalise_credit_code(value: str) -> str:
    """The unified social credit code (GB 32100-2015): 18 characters and its check character."""
    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise CodedValueError(
            "invalid_credit_code", f"not a valid unified social credit code: {exc}"
        ) from None


def default_public_institution(kind: OrgKind) -> bool:
    return kind in PUBLIC_INSTITUTION_KINDS


def password_problem(password: str) -> str | None:
    """What is wrong with a new password, or None (SPEC §3: at least 10 characters; taken as typed, §20). The
    API's models check the same bounds; this serves the command line. NUL can never be signed in with."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if "\x00" in password:
        return "must not contain NUL characters"
    return None


def normalise_email(value: str) -> str:
    return value.strip().lower()


def login_retry_after(attempts: Sequence[datetime], now: datetime) -> int | None:
    """SPEC §3: ten failed sign-ins for one email, or from one client address, within 15 minutes are refused
    until the window passes. ``attempts`` are the failed (or still running) attempts of one email or
    address; None when one more may be checked, else the whole seconds until one may (``Retry-After``)."""
    recent = sorted(at for at in attempts if at > now - LOGIN_WINDOW)
    if len(recent) < LOGIN_MAX_FAILURES:
        return None
    frees_at = recent[len(recent) - LOGIN_MAX_FAILURES] + LOGIN_WINDOW
    return max(1, math.ceil((frees_at - now).total_seconds()))


def login_still_checking(attempts: Sequence[tuple[datetime, bool]], now: datetime) -> bool:
    """Whether some of the attempts (``(at, pending)``) are still being checked: their slots may yet be given
    back by a right password, so a caller refused only because of them waits instead of getting 429."""
    return any(pending and at > now - LOGIN_CHECK_TIMEOUT for at, pending in attempts)
