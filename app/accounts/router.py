"""HTTP routes of SPEC §3 and §21: organizations, members, sign-in and its tokens, API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Form, Query, Request, Response, status

from app.accounts import schemas, service
from app.deps import ClockDep, DatabaseDep, OperatorDep, PrincipalDep, SessionDep, SettingsDep
from app.kit.errors import Unauthorized, Unprocessable, error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.proxies import client_address
from app.kit.routing import ExchangeRouter
from app.kit.schemas import contains_nul
from app.kit.security import create_access_token
from app.models.accounts import OrgStatus

router = ExchangeRouter()

_KEYS_NEED_LOGIN = "Needs an operator's sign-in (bearer token): with an API key → 403 `forbidden` (SPEC §20)."


_SIGN_IN_DOC = """OAuth2 token endpoint (SPEC §2, §21), a form:

- `grant_type=password` (the default) with `username` (the email) and `password`: a new sign-in. Ten
  failures for one email or from one address within 15 minutes → 429 `rate_limited` with `Retry-After`.
- `grant_type=refresh_token` with `refresh_token`: a new pair; the refresh token presented is retired. A
  retired refresh token presented again → 401 `invalid_token`, and every token of its sign-in (refresh and
  access tokens) is revoked. Refreshing never counts as a failed sign-in.
- any other `grant_type` → 400 `unsupported_grant_type` (RFC 6749 §5.2); a field the grant needs missing →
  422 `validation_error`."""


def _missing(*fields: str) -> Unprocessable:
    return Unprocessable(
        "The request is not valid.", errors=[{"loc": ["body", f], "msg": "Field required"} for f in fields]
    )


@router.post(
    "/auth/token",
    tags=["auth"],
    response_model=schemas.TokenOut,
    responses=error_responses(
        422,
        codes={
            400: ["unsupported_grant_type"],
            401: ["invalid_credentials", "invalid_token"],
            429: ["rate_limited"],
        },
    ),
    summary="Sign in or refresh (OAuth2 password and refresh_token grants)",
    description=_SIGN_IN_DOC,
)
async def login(
    request: Request,
    response: Response,
    form: Annotated[schemas.TokenRequest, Form()],
    db: DatabaseDep,
    settings: SettingsDep,
) -> schemas.TokenOut:
    if form.grant_type == "refresh_token":
        if not form.refresh_token:
            raise _missing("refresh_token")
        issued = await service.refresh_tokens(db, form.refresh_token)
    elif form.grant_type == "password":
        if not form.username or not form.password:
            raise _missing(*[name for name in ("username", "password") if not getattr(form, name)])
        client = client_address(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            settings.trusted_proxies,
        )
        if contains_nul(form.username) or contains_nul(form.password):
            raise Unauthorized("Wrong email or password.", code="invalid_credentials")
        user = await service.authenticate(db, form.username, form.password, client)
        issued = await service.start_token_family(db, user.id)
    else:
        raise service.UnsupportedGrantType("grant_type must be password or refresh_token.")
    access = create_access_token(
        issued.user_id, issued.family_id, settings.secret_key, settings.access_token_minutes
    )
    # RFC 6749 §5.1: no cache keeps a response that carries tokens.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return schemas.TokenOut(
        access_token=access,
        expires_in=settings.access_token_minutes * 60,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
    )


@router.post(
    "/auth/logout",
    tags=["auth"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(422),
    summary="Sign out: revoke every token of a refresh token's sign-in",
    description="Revokes the refresh token's family: its refresh tokens and the access tokens issued with "
    "them answer 401 `invalid_token` from then on (SPEC §21). 204 whatever the token (unknown, expired or "
    "revoked ones too), so the answer tells nothing about it.",
)
async def logout(body: schemas.LogoutIn, db: DatabaseDep) -> None:
    await service.revoke_token_family(db, body.refresh_token)


@router.get(
    "/me",
    tags=["auth"],
    response_model=schemas.UserOut,
    responses=error_responses(401, codes={404: ["not_found"]}),
)
async def get_me(session: SessionDep, principal: PrincipalDep) -> schemas.UserOut:
    return schemas.UserOut.model_validate(await service.get_user(session, principal.user_id))


@router.post(
    "/organizations",
    tags=["organizations"],
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OrganizationOut,
    responses=error_responses(
        codes={
            409: ["email_taken", "organization_exists"],
            422: ["invalid_credit_code", "unsupported_character"],
        }
    ),
    summary="Register an organization and its first admin",
)
async def create_organization(
    body: schemas.OrganizationCreate, session: SessionDep, clock: ClockDep
) -> schemas.OrganizationOut:
    return schemas.OrganizationOut.model_validate(await service.create_organization(session, body, clock))


@router.get(
    "/organizations",
    tags=["organizations"],
    response_model=Page[schemas.OrganizationOut],
    responses=error_responses(401, 403, 422),
    summary="List organizations (operators)",
)
async def list_organizations(
    session: SessionDep,
    _: OperatorDep,
    page: Annotated[PageParams, Depends(page_params)],
    status_: Annotated[OrgStatus | None, Query(alias="status")] = None,
) -> Page[schemas.OrganizationOut]:
    rows, cursor = await service.list_organizations(
        session, status=status_, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[schemas.OrganizationOut.model_validate(o) for o in rows], next_cursor=cursor)


@router.get(
    "/organizations/{org_id:uuid}",
    tags=["organizations"],
    response_model=schemas.OrganizationOut,
    responses=error_responses(401, 404),
)
async def get_organization(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> schemas.OrganizationOut:
    return schemas.OrganizationOut.model_validate(await service.get_organization(session, principal, org_id))


@router.patch(
    "/organizations/{org_id:uuid}",
    tags=["organizations"],
    response_model=schemas.OrganizationOut,
    responses=error_responses(401, 403, 404, codes={422: ["unsupported_character"]}),
    summary="Update name or reward rules (org admin)",
)
async def update_organization(
    org_id: uuid.UUID,
    body: schemas.OrganizationUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> schemas.OrganizationOut:
    org = await service.update_organization(session, principal, org_id, body, clock)
    return schemas.OrganizationOut.model_validate(org)


@router.post(
    "/organizations/{org_id:uuid}/verify",
    tags=["organizations"],
    response_model=schemas.OrganizationOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Verify an organization (operators)",
)
async def verify_organization(
    org_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> schemas.OrganizationOut:
    return schemas.OrganizationOut.model_validate(
        await service.verify_organization(session, principal, org_id, clock)
    )


@router.post(
    "/organizations/{org_id:uuid}/sme",
    tags=["organizations"],
    response_model=schemas.OrganizationOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Set or clear an enterprise's SME status (operators)",
    description='`{"sme": true}` sets `sme_verified_at` (the operator has checked the national SME '
    "classification standard), `false` clears it; SPEC §18.3. Enterprises only, else 409 `invalid_state`.",
)
async def set_sme(
    org_id: uuid.UUID, body: schemas.SmeIn, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> schemas.OrganizationOut:
    return schemas.OrganizationOut.model_validate(
        await service.set_sme(session, principal, org_id, body.sme, clock)
    )


@router.post(
    "/organizations/{org_id:uuid}/members",
    tags=["organizations"],
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.UserOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["email_taken"]}),
)
async def add_member(
    org_id: uuid.UUID,
    body: schemas.MemberCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> schemas.UserOut:
    return schemas.UserOut.model_validate(await service.add_member(session, principal, org_id, body, clock))


@router.get(
    "/organizations/{org_id:uuid}/members",
    tags=["organizations"],
    response_model=list[schemas.UserOut],
    responses=error_responses(401, 404),
)
async def list_members(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[schemas.UserOut]:
    return [schemas.UserOut.model_validate(u) for u in await service.list_members(session, principal, org_id)]


@router.post(
    "/api-keys",
    tags=["organizations"],
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ApiKeyCreated,
    responses=error_responses(401, 403, 422),
    summary="Create an operator API key (shown once)",
    description=_KEYS_NEED_LOGIN,
)
async def create_api_key(
    body: schemas.ApiKeyCreate, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> schemas.ApiKeyCreated:
    key, secret = await service.create_api_key(session, principal, body, clock)
    return schemas.ApiKeyCreated(
        id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at, revoked_at=None, key=secret
    )


@router.get(
    "/api-keys",
    tags=["organizations"],
    response_model=list[schemas.ApiKeyOut],
    responses=error_responses(401, 403),
    description=_KEYS_NEED_LOGIN,
)
async def list_api_keys(session: SessionDep, principal: OperatorDep) -> list[schemas.ApiKeyOut]:
    return [schemas.ApiKeyOut.model_validate(k) for k in await service.list_api_keys(session, principal)]


@router.post(
    "/api-keys/{key_id:uuid}/revoke",
    tags=["organizations"],
    response_model=schemas.ApiKeyOut,
    responses=error_responses(401, 403, 404),
    description=_KEYS_NEED_LOGIN,
)
async def revoke_api_key(
    key_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> schemas.ApiKeyOut:
    return schemas.ApiKeyOut.model_validate(await service.revoke_api_key(session, principal, key_id, clock))
