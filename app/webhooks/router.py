"""``/webhooks``, ``/webhook-deliveries``: an organization admin's webhook subscriptions (SPEC §17.5)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.deps import ClockDep, IdempotencyDep, PrincipalDep, SessionDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.webhooks import DeliveryStatus, Webhook
from app.webhooks import net, service
from app.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookDeliveryOut, WebhookOut

router = ExchangeRouter(tags=["webhooks"])
_ADMINS = "An organization's admins only (members: 403 `forbidden`); another organization's → 404."
_IDEMPOTENT = "Send an `Idempotency-Key` to make a retry safe: the first response is replayed."


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook)


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=error_responses(
        401, 403, codes={422: ["invalid_webhook_url", "invalid_event_kind", "validation_error"]}
    ),
    summary="Subscribe a URL to notification kinds (organization admins; the secret is shown once)",
    description="Every notification of a subscribed kind is POSTed to the URL as a signed event "
    '(`X-Exchange-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`). The URL: '
    "absolute http(s), no user info, at most 2,000 characters; https only in production; outside the test "
    "environment every address its host resolves to must be public (loopback in development only), else "
    "422 `invalid_webhook_url`. An unknown kind → 422 `invalid_event_kind`. " + _ADMINS + " " + _IDEMPOTENT,
)
async def create_webhook(
    request: Request,
    body: WebhookCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    service.admin_org(principal)
    settings = request.app.state.settings
    url = await service.check_url(body.url, settings.env, net.resolver_of(request.app.state))

    async def act() -> WebhookCreated:
        webhook = await service.create_webhook(session, principal, body, url, clock)
        return WebhookCreated(**_out(webhook).model_dump(), secret=webhook.secret)

    return await idem.run(act)


@router.get(
    "/webhooks",
    response_model=Page[WebhookOut],
    responses=error_responses(401, 403, 422),
    summary="The organization's webhooks, newest first (organization admins)",
    description=_ADMINS,
)
async def list_webhooks(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[WebhookOut]:
    rows, cursor = await service.list_webhooks(session, principal, limit=page.limit, cursor=page.cursor)
    return Page(items=[_out(w) for w in rows], next_cursor=cursor)


@router.get(
    "/webhooks/{webhook_id:uuid}",
    response_model=WebhookOut,
    responses=error_responses(401, 403, 404),
    summary="A webhook, without its secret (organization admins)",
    description=_ADMINS,
)
async def get_webhook(webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> WebhookOut:
    return _out(await service.get_webhook(session, principal, webhook_id))


@router.delete(
    "/webhooks/{webhook_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
    summary="Delete a webhook: nothing more is attempted (organization admins)",
    description=_ADMINS,
)
async def delete_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Response:
    await service.delete_webhook(session, principal, webhook_id, clock)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id:uuid}/deliveries",
    response_model=Page[WebhookDeliveryOut],
    responses=error_responses(401, 403, 404, 422),
    summary="A webhook's deliveries, newest first (organization admins)",
    description="Times are the business clock's; `next_attempt_at` is null once a delivery is final. "
    + _ADMINS,
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> Page[WebhookDeliveryOut]:
    rows, cursor = await service.list_deliveries(
        session, principal, webhook_id, status=status_, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[WebhookDeliveryOut.model_validate(d) for d in rows], next_cursor=cursor)


@router.post(
    "/webhook-deliveries/{delivery_id:uuid}/redeliver",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookDeliveryOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Send an event again: a new delivery of the same bytes (organization admins)",
    description="The old delivery still `pending` → 409 `invalid_state`. " + _ADMINS + " " + _IDEMPOTENT,
)
async def redeliver_webhook_delivery(
    delivery_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> WebhookDeliveryOut:
        return WebhookDeliveryOut.model_validate(
            await service.redeliver(session, principal, delivery_id, clock)
        )

    return await idem.run(act)
