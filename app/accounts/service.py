"""Organizations, users, login and API keys (SPEC §3)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anyio import to_thread
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import schemas
from app.accounts.rules import (
    LOGIN_WINDOW,
    REFRESH_TOKEN_LIFETIME,
    TOKEN_FAMILY_KEPT,
    default_public_institution,
    login_retry_after,
    login_still_checking,
    normalise_email,
)
from app.audit.service import record
from app.kit.clock import Clock, utcnow
from app.kit.db import Database, dialect_name
from app.kit.errors import (
    Conflict,
    ExchangeError,
    Forbidden,
    InvalidState,
    NotFound,
    RateLimited,
    Unauthorized,
)
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import (
    Principal,
    hash_api_key,
    hash_password,
    hash_refresh_token,
    new_api_key,
    new_refresh_token,
    verify_password,
)
from app.models.accounts import (
    ApiKey,
    LoginFailure,
    Organization,
    OrgKind,
    OrgStatus,
    RefreshToken,
    Role,
    TokenFamily,
    User,
)

log = logging.getLogger("app.accounts")


async def _hash(password: str) -> str:
    # Argon2 is deliberately slow: keep it off the event loop.
    return await to_thread.run_sync(hash_password, password)


async def _email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(func.count()).where(User.email == email)) != 0


async def create_organization(
    session: AsyncSession, data: schemas.OrganizationCreate, clock: Clock
) -> Organization:
    if await session.scalar(select(Organization.id).where(Organization.credit_code == data.credit_code)):
        raise Conflict(
            "An organization with this credit code is registered already.", code="organization_exists"
        )
    if await _email_taken(session, data.admin.email):
        raise Conflict("This email is registered already.", code="email_taken")
    now = clock.now()
    org = Organization(
        id=uuid.uuid4(),
        name=data.name,
        kind=data.kind,
        credit_code=data.credit_code,
        status=OrgStatus.pending,
        is_public_institution=(
            data.is_public_institution
            if data.is_public_institution is not None
            else default_public_institution(data.kind)
        ),
        created_at=now,
        updated_at=now,
    )
    admin = User(
        id=uuid.uuid4(),
        organization_id=org.id,
        email=data.admin.email,
        name=data.admin.name,
        password_hash=await _hash(data.admin.password),
        role=Role.admin,
        created_at=now,
        updated_at=now,
    )
    session.add(org)
    await _flush_unique(
        session, "organization_exists", "An organization with this credit code is registered already."
    )
    session.add(admin)
    await _flush_unique(session, "email_taken", "This email is registered already.")
    await record(
        session,
        entity_type="organization",
        entity_id=org.id,
        action="created",
        actor=f"user:{admin.id}",
        at=now,
        data={"name": org.name, "kind": org.kind, "credit_code": org.credit_code, "admin_user_id": admin.id},
    )
    return org


async def _flush_unique(session: AsyncSession, code: str, detail: str) -> None:
    """Flush, turning a unique-key race lost to a concurrent request into the same 409 as the pre-check."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(detail, code=code) from None


def _can_see_org(principal: Principal, org_id: uuid.UUID) -> bool:
    return principal.is_operator or principal.organization_id == org_id


async def get_organization(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None or not _can_see_org(principal, org_id):
        raise NotFound("No such organization.")
    return org


async def list_organizations(
    session: AsyncSession, *, status: OrgStatus | None, limit: int, cursor: str | None
) -> tuple[list[Organization], str | None]:
    query = select(Organization)
    if status is not None:
        query = query.where(Organization.status == status)
    keys = [datetime_key(Organization.created_at), uuid_key(Organization.id)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda o: (o.created_at, o.id))


def _require_org_admin(principal: Principal, org_id: uuid.UUID) -> None:
    if principal.organization_id != org_id and not principal.is_operator:
        raise NotFound("No such organization.")
    if not principal.is_org_admin or principal.organization_id != org_id:
        raise Forbidden("Only the organization's admin may do this.")


async def update_organization(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    data: schemas.OrganizationUpdate,
    clock: Clock,
) -> Organization:
    _require_org_admin(principal, org_id)
    org = await session.get(Organization, org_id, with_for_update=True)
    if org is None:
        raise NotFound("No such organization.")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for key, value in changes.items():
        setattr(org, key, value)
    org.updated_at = clock.now()
    await record(
        session,
        entity_type="organization",
        entity_id=org.id,
        action="updated",
        actor=principal.label,
        at=org.updated_at,
        data=changes,
    )
    return org


async def verify_organization(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, clock: Clock
) -> Organization:
    org = await session.get(Organization, org_id, with_for_update=True)
    if org is None:
        raise NotFound("No such organization.")
    if org.status != OrgStatus.pending:
        raise InvalidState("The organization is verified already.")
    now = clock.now()
    org.status, org.verified_at, org.updated_at = OrgStatus.verified, now, now
    await record(
        session,
        entity_type="organization",
        entity_id=org.id,
        action="verified",
        actor=principal.label,
        at=now,
        data={"status": OrgStatus.verified},
    )
    return org


async def set_sme(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, sme: bool, clock: Clock
) -> Organization:
    """An operator sets (``sme``) or clears an enterprise's ``sme_verified_at`` (SPEC §18.3: the national SME
    classification standard, which the operator checks); another kind of organization → 409 ``invalid_state``.
    Setting it again keeps the first instant."""
    org = await session.get(Organization, org_id, with_for_update=True)
    if org is None:
        raise NotFound("No such organization.")
    if org.kind != OrgKind.enterprise:
        raise InvalidState("Only an enterprise can be an SME.")
    now = clock.now()
    if sme and org.sme_verified_at is None:
        org.sme_verified_at, org.updated_at = now, now
    elif not sme and org.sme_verified_at is not None:
        org.sme_verified_at, org.updated_at = None, now
    else:
        return org
    await session.flush()
    await record(
        session,
        entity_type="organization",
        entity_id=org.id,
        action="sme_set" if sme else "sme_cleared",
        actor=principal.label,
        at=now,
        data={"sme_verified_at": org.sme_verified_at},
    )
    return org


async def add_member(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, data: schemas.MemberCreate, clock: Clock
) -> User:
    _require_org_admin(principal, org_id)
    if await _email_taken(session, data.email):
        raise Conflict("This email is registered already.", code="email_taken")
    now = clock.now()
    user = User(
        id=uuid.uuid4(),
        organization_id=org_id,
        email=data.email,
        name=data.name,
        password_hash=await _hash(data.password),
        role=data.role,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await _flush_unique(session, "email_taken", "This email is registered already.")
    await record(
        session,
        entity_type="organization",
        entity_id=org_id,
        action="member_added",
        actor=principal.label,
        at=now,
        data={"user_id": user.id, "email": user.email, "role": user.role},
    )
    return user


async def list_members(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> list[User]:
    if not _can_see_org(principal, org_id) or await session.get(Organization, org_id) is None:
        raise NotFound("No such organization.")
    return list(
        (
            await session.scalars(
                select(User).where(User.organization_id == org_id).order_by(User.created_at)
            )
        ).all()
    )


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# How long an attempt waits for a slot held by attempts still being checked, and how often it looks again.
SLOT_WAIT_SECONDS = 5.0
_SLOT_POLL_SECONDS = (0.02, 0.25)


async def _take_slot(
    db: Database, email: str, client: str, now: datetime
) -> tuple[uuid.UUID, User | None] | int:
    """One try at one of the window's ten attempts for ``email`` and for ``client``: the new attempt's id and
    the user, or the seconds until the window lets one more in when it is full only because of attempts still
    being checked (they may give their slots back). 429 when it is full of failures.

    Counting and taking happen in one write transaction serialised per email and per address (PostgreSQL:
    transaction-scoped advisory locks, taken in a fixed order; SQLite runs one write transaction at a time),
    so parallel attempts never get more than ten checks in, on any number of processes."""
    async with db.transaction() as session:
        if dialect_name(session) == "postgresql":
            for key in sorted(
                {_advisory_key(f"login|email|{email}"), _advisory_key(f"login|client|{client}")}
            ):
                await session.execute(select(func.pg_advisory_xact_lock(key)))
        since = now - LOGIN_WINDOW
        for column, value in ((LoginFailure.email, email), (LoginFailure.client, client)):
            rows = (
                await session.execute(
                    select(LoginFailure.at, LoginFailure.pending).where(
                        column == value, LoginFailure.at > since
                    )
                )
            ).all()
            attempts = [(row.at, row.pending) for row in rows]
            retry_after = login_retry_after([at for at, _ in attempts], now)
            if retry_after is None:
                continue
            if login_still_checking(attempts, now):
                return retry_after
            raise RateLimited(
                f"Too many failed sign-ins; try again in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )
        attempt = LoginFailure(id=uuid.uuid4(), email=email, client=client, at=now, pending=True)
        session.add(attempt)
        # Attempts outside every window are of no use. Rows another transaction is deleting are skipped,
        # not waited for: two deletes of the same rows in different orders could deadlock.
        stale = (
            select(LoginFailure.id)
            .where(LoginFailure.at < now - 2 * LOGIN_WINDOW)
            .limit(1000)
            .with_for_update(skip_locked=True)
        )
        await session.execute(delete(LoginFailure).where(LoginFailure.id.in_(stale)))
        user = await session.scalar(select(User).where(User.email == email))
    return attempt.id, user


async def _reserve_attempt(db: Database, email: str, client: str) -> tuple[uuid.UUID, User | None]:
    """Take a slot before the password is checked (SPEC §20), waiting up to ``SLOT_WAIT_SECONDS`` while the
    window is full only of attempts still being checked: many people behind one address signing in at once
    queue for a moment instead of locking each other out."""
    pause, deadline = _SLOT_POLL_SECONDS[0], time.monotonic() + SLOT_WAIT_SECONDS
    while True:
        taken = await _take_slot(db, email, client, utcnow())
        if not isinstance(taken, int):
            return taken
        if time.monotonic() + pause > deadline:
            raise RateLimited(
                f"Too many sign-ins; try again in {taken} seconds.", headers={"Retry-After": str(taken)}
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, _SLOT_POLL_SECONDS[1])


async def authenticate(db: Database, email: str, password: str, client: str) -> User:
    """Check credentials under the rate limit of SPEC §3 and §20: ten failures for one email, or from one
    client address, within 15 minutes (real time) → 429 with ``Retry-After`` until the window passes. The
    attempt takes its slot before the password is checked, in a transaction of its own shared by every
    process: a failure keeps it (the 401 does not roll it back), a success gives it back."""
    email = normalise_email(email)[:254]
    client = client[:64]
    attempt_id, user = await _reserve_attempt(db, email, client)
    ok = False
    try:
        ok = await to_thread.run_sync(verify_password, password, user.password_hash if user else None)
    finally:
        # Settled whatever happens: a pending row would make others wait for it.
        async with db.transaction() as session:
            attempt = LoginFailure.id == attempt_id
            if ok and user is not None:
                await session.execute(delete(LoginFailure).where(attempt))
            else:
                await session.execute(update(LoginFailure).where(attempt).values(pending=False))
    if not ok or user is None:
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    return user


class UnsupportedGrantType(ExchangeError):
    """RFC 6749 §5.2: a token request with a grant type this server does not issue tokens for."""

    status, code = 400, "unsupported_grant_type"


@dataclass(frozen=True)
class IssuedTokens:
    """A refresh token just issued in a token family, for the access token to go with it."""

    user_id: uuid.UUID
    family_id: uuid.UUID
    refresh_token: str
    refresh_expires_in: int  # seconds


def _invalid_refresh_token() -> Unauthorized:
    return Unauthorized("The refresh token is not valid or has expired.", code="invalid_token")


async def _add_refresh_token(
    session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime
) -> IssuedTokens:
    secret = new_refresh_token()
    await session.execute(
        insert(RefreshToken).values(
            id=uuid.uuid4(),
            family_id=family_id,
            token_hash=hash_refresh_token(secret),
            created_at=now,
            expires_at=now + REFRESH_TOKEN_LIFETIME,
        )
    )
    return IssuedTokens(user_id, family_id, secret, int(REFRESH_TOKEN_LIFETIME.total_seconds()))


async def start_token_family(db: Database, user_id: uuid.UUID) -> IssuedTokens:
    """After a password grant: a new token family with its first refresh token (SPEC §21). Refresh tokens
    run on real time, like access tokens (SPEC §2). Runs in a transaction of its own, like the sign-in's
    attempt bookkeeping (``authenticate``): the endpoint reads no other data."""
    now = utcnow()
    family_id = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            insert(TokenFamily).values(
                id=family_id, user_id=user_id, created_at=now, expires_at=now + REFRESH_TOKEN_LIFETIME
            )
        )
        issued = await _add_refresh_token(session, user_id, family_id, now)
        # Families whose refresh tokens have all expired are of no use: each sign-in deletes a few (their
        # tokens go with them, ON DELETE CASCADE). Rows another transaction holds are skipped, not waited for.
        stale = (
            select(TokenFamily.id)
            .where(TokenFamily.expires_at < now - TOKEN_FAMILY_KEPT)
            .limit(100)
            .with_for_update(skip_locked=True)
        )
        await session.execute(delete(TokenFamily).where(TokenFamily.id.in_(stale)))
    return issued


_REFRESH_TOKEN = (
    select(
        RefreshToken.id,
        RefreshToken.family_id,
        RefreshToken.expires_at,
        RefreshToken.retired_at,
        TokenFamily.user_id,
        TokenFamily.revoked_at,
    )
    .join(TokenFamily, TokenFamily.id == RefreshToken.family_id)
    .where(RefreshToken.token_hash == bindparam("p_hash"))
)


async def _revoke_family(
    session: AsyncSession, now: datetime, reason: str, family_id: Any
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """Revoke a family not revoked yet: ``(family id, user id)`` when this call revoked it, else None."""
    revoked = await session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(TokenFamily.id, TokenFamily.user_id)
    )
    row = revoked.first()
    return (row.id, row.user_id) if row is not None else None


async def refresh_tokens(db: Database, presented: str) -> IssuedTokens:
    """``grant_type=refresh_token`` (SPEC §21): a live refresh token is retired and a new one issued in its
    family. A retired one presented again means two parties hold the family's tokens (a copy was stolen,
    or a client refreshed twice with one token): the whole family is revoked, its access tokens with it, and
    the caller gets 401 ``invalid_token``. Of parallel refreshes with one token exactly one wins: the token is
    retired by a compare-and-set, and the losers find it retired, which is the same reuse.

    Its own transaction, committed before the 401, so the revocation stays. Lock order: the family row, then
    the token row (logout and revocation take the family row only), so concurrent refreshes cannot deadlock."""
    now = utcnow()
    issued: IssuedTokens | None = None
    reused: tuple[uuid.UUID, uuid.UUID] | None = None
    async with db.transaction() as session:
        row = (await session.execute(_REFRESH_TOKEN, {"p_hash": hash_refresh_token(presented)})).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            pass
        elif row.retired_at is not None:
            reused = await _revoke_family(session, now, "reuse", row.family_id)
        else:
            live = await session.scalar(
                update(TokenFamily)
                .where(TokenFamily.id == row.family_id, TokenFamily.revoked_at.is_(None))
                .values(expires_at=now + REFRESH_TOKEN_LIFETIME)
                .returning(TokenFamily.id)
            )
            if live is not None:
                retired = await session.scalar(
                    update(RefreshToken)
                    .where(RefreshToken.id == row.id, RefreshToken.retired_at.is_(None))
                    .values(retired_at=now)
                    .returning(RefreshToken.id)
                )
                if retired is None:
                    reused = await _revoke_family(session, now, "reuse", row.family_id)
                else:
                    issued = await _add_refresh_token(session, row.user_id, row.family_id, now)
    if reused is not None:
        # No token values here: the ids are enough to find the sessions concerned.
        log.warning(
            "refresh token reuse: token family revoked",
            extra={"family_id": str(reused[0]), "user_id": str(reused[1])},
        )
    if issued is None:
        raise _invalid_refresh_token()
    return issued


async def revoke_token_family(db: Database, presented: str) -> None:
    """``POST /auth/logout`` (SPEC §21): revoke the family of the refresh token presented, whichever of its
    tokens it is. Unknown, expired and revoked tokens are no error: the answer tells nothing about them."""
    now = utcnow()
    family = select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_refresh_token(presented))
    async with db.transaction() as session:
        revoked = await _revoke_family(session, now, "logout", family.scalar_subquery())
    if revoked is not None:
        log.info(
            "token family revoked by logout", extra={"family_id": str(revoked[0]), "user_id": str(revoked[1])}
        )


async def create_operator(session: AsyncSession, email: str, password: str, name: str, clock: Clock) -> User:
    email = normalise_email(email)
    if await _email_taken(session, email):
        raise Conflict("This email is registered already.", code="email_taken")
    now = clock.now()
    user = User(
        id=uuid.uuid4(),
        organization_id=None,
        email=email,
        name=name,
        password_hash=await _hash(password),
        role=Role.operator,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    return user


def _require_operator_login(principal: Principal) -> None:
    """SPEC §20: API keys are created, listed and revoked with an operator's login, never with a key (a key
    that could mint keys would leave keys behind that outlive its own revocation)."""
    if not principal.is_operator or principal.via_api_key:
        raise Forbidden("API keys are managed with an operator's sign-in, not with an API key.")


async def create_api_key(
    session: AsyncSession, principal: Principal, data: schemas.ApiKeyCreate, clock: Clock
) -> tuple[ApiKey, str]:
    _require_operator_login(principal)
    secret = new_api_key()
    key = ApiKey(
        id=uuid.uuid4(),
        name=data.name,
        prefix=secret[:10],
        key_hash=hash_api_key(secret),
        user_id=principal.user_id,
        created_at=clock.now(),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    _require_operator_login(principal)
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())


async def revoke_api_key(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, clock: Clock
) -> ApiKey:
    _require_operator_login(principal)
    key = await session.get(ApiKey, key_id, with_for_update=True)
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
    return key
