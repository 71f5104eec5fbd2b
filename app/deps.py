"""FastAPI dependencies shared by every router: session, clock, calendar, principal."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import String, Table, Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.calendar.service import refresh as refresh_calendar
from app.config import Settings
from app.deals.fees import FeeSchedule
from app.kit import idempotency
from app.kit.clock import Clock, SystemClock
from app.kit.db import Database, reading
from app.kit.errors import Forbidden, Unauthorized
from app.kit.openapi import SecurityDocs, document_calls, document_dependency
from app.kit.routing import end_before_response
from app.kit.security import Principal, decode_access_token, hash_api_key
from app.kit.statements import prepared
from app.kit.workdays import WorkdayCalendar
from app.models.accounts import ApiKey, Organization, OrgStatus, TokenFamily, User
from app.models.platform import SandboxClock
from app.models.trading import IdempotencyKey

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def`` dependency in a
# worker thread, a thread hop per request for reading an attribute.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def database_dep(request: Request) -> Database:
    return get_database(request)


DatabaseDep = Annotated[Database, Depends(database_dep)]


# Where a request keeps what its shared dependencies give it (``request.scope``), so that one that runs another
# itself (``document_calls``) gets what a declared dependency of the route got: one session, one principal.
_SESSION_SCOPE = "exchange.session"
_PRINCIPAL_SCOPE = "exchange.principal"


async def _session(request: Request) -> AsyncSession:
    """One transaction per request, committed when the endpoint returns and before the response is sent
    (``end_before_response``: the routes are ``ExchangeRoute``s), so a 2xx is never sent for a commit that then
    fails; rolled back when the endpoint raises. Reads use the read engine."""
    session: AsyncSession | None = request.scope.get(_SESSION_SCOPE)
    if session is not None:
        return session
    db = get_database(request)
    factory = db.read_sessions if request.method in READ_METHODS else db.write_sessions
    session = request.scope[_SESSION_SCOPE] = factory()
    transaction = await session.begin().__aenter__()

    async def end(error: BaseException | None) -> None:
        # What ``async with factory() as session, session.begin():`` does on leaving.
        exc_info = (None, None, None) if error is None else (type(error), error, error.__traceback__)
        try:
            await transaction.__aexit__(*exc_info)
        except BaseException as failed:
            await session.__aexit__(type(failed), failed, failed.__traceback__)
            raise
        await session.__aexit__(*exc_info)

    end_before_response(request, end)
    return session


SessionDep = Annotated[AsyncSession, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


_SANDBOX_OFFSET = select(SandboxClock.offset_seconds).where(SandboxClock.id == 1)


def _offset(seconds: float | None) -> timedelta:
    return timedelta(seconds=seconds or 0.0)


async def sandbox_offset(reader: AsyncSession | AsyncConnection) -> timedelta:
    """The sandbox clock's offset, read in a session or on a connection."""
    return _offset(await reader.scalar(_SANDBOX_OFFSET))


async def get_clock(request: Request) -> Clock:
    """The business clock: the process's, or with the sandbox on, real time plus the offset in the database,
    read with the principal when the route authenticates first (in the same statement), else on a pooled
    read connection of its own (no session: a GET of public state needs none)."""
    if request.app.state.settings.sandbox:
        offset: timedelta | None = getattr(request.state, _OFFSET_STATE, None)
        if offset is None:
            async with get_database(request).read_connection() as conn:
                offset = await sandbox_offset(conn)
        return SystemClock(offset)
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


async def get_calendar(request: Request) -> WorkdayCalendar:
    """The process's calendar with the operator-loaded years as the database has them now (SPEC §21)."""
    calendar: WorkdayCalendar = request.app.state.calendar
    async with reading(get_database(request), await _session(request)) as reader:
        return await refresh_calendar(reader, calendar)


document_calls(get_calendar, _session)
CalendarDep = Annotated[WorkdayCalendar, Depends(get_calendar)]

# The OAuth2 password flow (SPEC §21), so /docs has a working Authorize form; the token is sent as
# ``Authorization: Bearer``. Operators' integrations send ``X-API-Key``. These two only describe the schemes
# to the OpenAPI document (``SECURITY``, ``app.kit.openapi``): ``optional_principal`` reads both headers
# itself, as they would (``auto_error=False``: anonymous callers reach the public routes), because FastAPI
# solves every dependency of a route's tree again wherever it is declared, and these two, declared under the
# principal, cost more per request than the lookup of the principal.
_bearer = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    description="Access token from POST /api/v1/auth/token (email and password), refreshed there with "
    "`grant_type=refresh_token`",
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Operator API key")


# Built once: these run on every request.
_PRINCIPAL_COLUMNS = (User.id, User.role, User.organization_id, Organization.status, Organization.kind)
# The sandbox clock's offset, read in the principal's statement when the sandbox is on (``get_clock``).
_OFFSET = (
    select(SandboxClock.offset_seconds).where(SandboxClock.id == 1).scalar_subquery().label("sandbox_offset")
)
# For an API key: the key's user.
_PRINCIPAL = prepared(
    select(*_PRINCIPAL_COLUMNS)
    .outerjoin(Organization, Organization.id == User.organization_id)
    .where(User.id == bindparam("p_user", type_=Uuid()))
)
# For an access token: its user, only while the token's family (SPEC §21) is the user's and not revoked. One
# statement, as before families existed: the family is a primary-key join, not another round trip, and it is
# asked on every request, so a revocation also refuses tokens whose signature check is remembered.
_PRINCIPAL_BY_TOKEN = prepared(
    select(*_PRINCIPAL_COLUMNS)
    .join(TokenFamily, TokenFamily.user_id == User.id)
    .outerjoin(Organization, Organization.id == User.organization_id)
    .where(
        TokenFamily.id == bindparam("p_family", type_=Uuid()),
        TokenFamily.revoked_at.is_(None),
        User.id == bindparam("p_user", type_=Uuid()),
    )
)
_PRINCIPAL_BY_TOKEN_SANDBOX = prepared(_PRINCIPAL_BY_TOKEN.add_columns(_OFFSET))
_API_KEY_USER = prepared(
    select(ApiKey.user_id).where(
        ApiKey.key_hash == bindparam("p_hash", type_=String()), ApiKey.revoked_at.is_(None)
    )
)
_OFFSET_STATE = "sandbox_offset"  # request.state: the offset read with the principal
# The scope key where the web client's middleware (app.web.security) leaves the user of a live browser session
# that signs this request in: a page's, or an API request's that came with its valid X-CSRF-Token (SPEC §19.2).
SESSION_USER = "exchange.session_user"


def _credentials(request: Request) -> tuple[str | None, str | None]:
    """(bearer token, API key) as ``_bearer`` and ``_api_key`` read them: a bearer token only under the
    ``Bearer`` scheme, an empty API key as none."""
    headers = request.headers
    authorization = headers.get("authorization")
    bearer = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
    return bearer, headers.get("x-api-key") or None


async def _load_principal(request: Request, settings: Settings) -> Principal | None:
    bearer, api_key = _credentials(request)
    via_key = False
    row: Any = None
    if api_key:
        key_row = await _lookup(request, _API_KEY_USER, {"p_hash": hash_api_key(api_key)})
        if key_row is not None:
            row = await _lookup(request, _PRINCIPAL, {"p_user": key_row.user_id})
        via_key = True
    elif bearer:
        claims = decode_access_token(bearer, settings.secret_key)
        if claims is not None:
            params = {"p_user": claims.user_id, "p_family": claims.family_id}
            statement = _PRINCIPAL_BY_TOKEN_SANDBOX if settings.sandbox else _PRINCIPAL_BY_TOKEN
            row = await _lookup(request, statement, params)
            if row is not None and settings.sandbox:
                setattr(request.state, _OFFSET_STATE, _offset(row.sandbox_offset))
    else:
        session_user = request.scope.get(SESSION_USER)
        if session_user is None:
            return None
        row = await _lookup(request, _PRINCIPAL, {"p_user": session_user})
        if row is None:  # the user went with its session: signed out
            return None
    if row is None:
        raise Unauthorized("The credentials are not valid or have expired.", code="invalid_token")
    if via_key and row.role != "operator":
        raise Unauthorized("API keys are for operator integrations.", code="invalid_token")
    return Principal(
        user_id=row.id,
        role=row.role,
        organization_id=row.organization_id,
        org_verified=row.status == OrgStatus.verified,
        org_kind=row.kind,
        via_api_key=via_key,
    )


async def _lookup(request: Request, statement: Any, params: dict[str, Any]) -> Any:
    """One row read before the request's own work, outside its session: the dependencies are solved before
    the endpoint runs, when the request's session holds no connection yet (a write transaction then starts
    with its first change, and no request holds two connections at once). Core, and no session: this runs on
    every request that names its caller."""
    return await get_database(request).read_first(statement, params)


async def optional_principal(request: Request) -> Principal | None:
    """For public routes that show more to a signed-in caller (e.g. a seller's own drafts). No session: a
    public read that needs none opens none (FastAPI solves a dependency's whole tree on every request)."""
    if _PRINCIPAL_SCOPE in request.scope:
        principal: Principal | None = request.scope[_PRINCIPAL_SCOPE]
        return principal
    principal = request.scope[_PRINCIPAL_SCOPE] = await _load_principal(request, request.app.state.settings)
    return principal


async def current_principal(request: Request) -> Principal:
    """The signed-in caller, else 401. Runs ``optional_principal`` itself rather than declaring it: FastAPI
    walks a dependency's whole tree again on every request, and every level of it cost more CPU than this
    function."""
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthorized("Sign in: send a bearer token or an operator API key.")
    return principal


async def operator_principal(request: Request) -> Principal:
    principal = await current_principal(request)
    if not principal.is_operator:
        raise Forbidden("Only exchange operators may do this.")
    return principal


async def verified_member(request: Request) -> Principal:
    """A user of a verified organization (SPEC §3: only verified organizations may list, register, offer...)."""
    principal = await current_principal(request)
    principal.verified_org_id()
    return principal


document_dependency(optional_principal, {401: ("invalid_token",)})  # a token or key not (or no longer) valid
document_dependency(current_principal, {401: ("unauthorized",)})  # none at all (invalid: optional_principal)
document_dependency(operator_principal, {403: ("forbidden",)})
document_dependency(verified_member, {403: ("forbidden", "organization_not_verified")})
document_calls(current_principal, optional_principal)
document_calls(operator_principal, current_principal)
document_calls(verified_member, current_principal)

OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
# What the OpenAPI document says of the routes that read the principal (``app.kit.openapi``).
SECURITY = SecurityDocs((optional_principal, current_principal), (_bearer, _api_key))
PrincipalDep = Annotated[Principal, Depends(current_principal)]
OperatorDep = Annotated[Principal, Depends(operator_principal)]
VerifiedMemberDep = Annotated[Principal, Depends(verified_member)]
# ``Idempotency-Key`` on a route of a signed-in caller (app.kit.idempotency), stored in its own transaction.
IdempotencyDep = Annotated[
    idempotency.Idempotency,
    Depends(idempotency.dependency(cast(Table, IdempotencyKey.__table__), _session, current_principal)),
]


# Routes anyone may call without signing in (SPEC: registration, sign-in and sign-out (the refresh token is
# the credential), public search and certificates,
# statistics, reading the sandbox clock, operations). Every other route must depend on
# ``current_principal``; tests/test_security.py walks app.routes and fails on any route that is neither.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/organizations"),
        ("GET", "/api/v1/listings"),
        ("GET", "/api/v1/listings/{listing_id}"),
        ("GET", "/api/v1/listings/{listing_id}/priority-holders"),
        ("GET", "/api/v1/auctions/{auction_id}"),
        ("GET", "/api/v1/auctions/{auction_id}/bids"),
        ("GET", "/api/v1/auctions/{auction_id}/events"),
        ("GET", "/api/v1/certificates/{number}"),
        ("GET", "/api/v1/open-licenses"),
        ("GET", "/api/v1/open-licenses/{open_license_id}"),
        ("GET", "/api/v1/trial-offers"),
        ("GET", "/api/v1/trial-offers/{trial_offer_id}"),
        ("GET", "/api/v1/notices"),
        ("GET", "/api/v1/notices/{deal_id}"),
        ("GET", "/api/v1/certificates/{number}/pdf"),
        ("GET", "/api/v1/stats/turnover"),
        ("GET", "/api/v1/calendar/{year}"),
        ("GET", "/api/v1/demands"),
        ("GET", "/api/v1/demands/{demand_id}"),
        ("GET", "/api/v1/demands/{demand_id}/matches"),
        ("GET", "/api/v1/listings/{listing_id}/matching-demands"),
        ("GET", "/api/v1/sandbox/clock"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }
)


async def get_fees(request: Request) -> FeeSchedule:
    fees: FeeSchedule = request.app.state.fees
    return fees


FeesDep = Annotated[FeeSchedule, Depends(get_fees)]
