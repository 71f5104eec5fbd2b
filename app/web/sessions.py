"""Browser sessions and the rules around them (SPEC §19.2): the server-side session table, the cookie, the
CSRF token and where a sign-in may send the browser next.

A session is an opaque random id of 256 bits in an HttpOnly cookie; the table keeps only its SHA-256, with
the user, a random CSRF token and the created and last-seen times. Expiry runs on real time, like tokens
(SPEC §2): ``EXCHANGE_SESSION_IDLE_MINUTES`` since it was last seen, ``EXCHANGE_SESSION_MAX_HOURS`` since
sign-in. An expired, unknown or tampered cookie is no session at all ("dead").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update

from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database
from app.kit.statements import prepared
from app.models.accounts import User
from app.models.web import WebSession

COOKIE = "exchange_session"
SECURE_COOKIE = "__Host-exchange_session"  # with Secure: the browser refuses it with a Domain or another Path
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
MAX_COOKIE_LENGTH = 128
# last_seen_at is written at most this often per session (and at least four times per idle period), so a
# page view is a read, not a write, most of the time.
TOUCH_EVERY = timedelta(seconds=60)


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if settings.secure_cookies else COOKIE


def hash_session_id(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session that is alive now, with what a page shows of its user."""

    id: uuid.UUID
    user_id: uuid.UUID
    csrf_token: str
    user_name: str
    user_email: str
    role: str

    def token_matches(self, presented: str | None) -> bool:
        """The CSRF token compared in constant time (SPEC §19.2)."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), self.csrf_token.encode())


def expired(created_at: datetime, last_seen_at: datetime, now: datetime, settings: Settings) -> bool:
    idle = timedelta(minutes=settings.session_idle_minutes)
    absolute = timedelta(hours=settings.session_max_hours)
    return now >= last_seen_at + idle or now >= created_at + absolute


def touch_due(last_seen_at: datetime, now: datetime, settings: Settings) -> bool:
    return now - last_seen_at >= min(TOUCH_EVERY, timedelta(minutes=settings.session_idle_minutes) / 4)


_LOOKUP = prepared(  # on every request of a signed-in browser
    select(
        WebSession.id,
        WebSession.user_id,
        WebSession.csrf_token,
        WebSession.created_at,
        WebSession.last_seen_at,
        User.name,
        User.email,
        User.role,
    )
    .join(User, User.id == WebSession.user_id)
    .where(WebSession.id_hash == bindparam("p_hash"))
)


async def lookup(db: Database, cookie: str | None, settings: Settings) -> LiveSession | None:
    """The live session of a cookie value, or None. A dead session found on the way is deleted."""
    if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
        return None
    row = await db.read_first(_LOOKUP, {"p_hash": hash_session_id(cookie)})
    if row is None:
        return None
    now = utcnow()
    if expired(row.created_at, row.last_seen_at, now, settings):
        async with db.transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.id == row.id))
        return None
    if touch_due(row.last_seen_at, now, settings):
        async with db.transaction() as session:
            await session.execute(update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now))
    return LiveSession(row.id, row.user_id, row.csrf_token, row.name, row.email, row.role)


async def start(db: Database, user_id: uuid.UUID, *, replacing: str | None = None) -> str:
    """A new session of ``user_id`` (the old one of this browser, if any, ends: a sign-in never keeps a
    session id it did not make). Returns the cookie value; only its hash is stored."""
    value = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.transaction() as session:
        if replacing:
            await session.execute(delete(WebSession).where(WebSession.id_hash == hash_session_id(replacing)))
        await session.execute(
            insert(WebSession).values(
                id=uuid.uuid4(),
                id_hash=hash_session_id(value),
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
            )
        )
    return value


async def end(db: Database, cookie: str | None) -> None:
    """Sign out: the session is deleted, so its cookie value never works again."""
    if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
        return
    async with db.transaction() as session:
        await session.execute(delete(WebSession).where(WebSession.id_hash == hash_session_id(cookie)))


def local_path(value: str | None) -> str | None:
    """``value`` when it is a path on this site, else None (SPEC §19.2, open redirects): one leading ``/``,
    not ``//`` or ``/\\``, and no backslash, whitespace or control character anywhere (browsers drop tabs and
    newlines, so ``/<TAB>/x.com`` would act as ``//x.com``)."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")):
        return None
    for ch in value:
        if ch == "\\" or ch.isspace() or unicodedata.category(ch).startswith("C"):
            return None
    return value


def home_of(role: str) -> str:
    """Where a sign-in lands without a usable ``next``: operators at their desk, others at the dashboard."""
    return "/operator" if role == "operator" else "/dashboard"
