"""Webhook subscriptions and their deliveries (SPEC §17.5): an organization's admins only; another
organization's webhook or delivery is 404. Services flush, never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.access import register_parties
from app.audit.service import record as audit
from app.config import Environment
from app.kit.clock import Clock
from app.kit.errors import Forbidden, InvalidState, NotFound
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.models.webhooks import DeliveryStatus, Webhook, WebhookDelivery, WebhookStatus
from app.webhooks import net
from app.webhooks.deliveries import WEBHOOK_DELETED, new_delivery, wake_after_commit
from app.webhooks.rules import all_allowed, invalid_url, new_secret, parse_url
from app.webhooks.schemas import WebhookCreate

# SPEC §17.6: a webhook's audit chain is read by its organization's admins (and operators).
register_parties(
    "webhook", lambda key: select(Webhook.organization_id).where(Webhook.id == key), admins_only=True
)


def admin_org(principal: Principal) -> uuid.UUID:
    """The caller's organization, if the caller is one of its admins; else 403 ``forbidden``."""
    if not principal.is_org_admin or principal.organization_id is None:
        raise Forbidden("Only an organization's admins manage its webhooks.")
    return principal.organization_id


@dataclass(frozen=True)
class CheckedUrl:
    """A URL ``check_url`` accepted."""

    url: str


async def check_url(url: str, env: Environment, resolver: net.Resolver) -> CheckedUrl:
    """SPEC §17.5: the URL's form (https only in production) and, in every environment but ``test``, every
    address its host resolves to (loopback allowed in ``development`` only). 422 ``invalid_webhook_url``."""
    target = parse_url(url, https_only=env == Environment.production)
    if env == Environment.test:
        return CheckedUrl(url)
    try:
        addresses = await resolver(target.host, target.port)
    except net.ResolutionFailed:
        raise invalid_url("the host does not resolve") from None
    if not all_allowed(addresses, allow_loopback=env == Environment.development):
        raise invalid_url("the host resolves to an address that is not public")
    return CheckedUrl(url)


async def create_webhook(
    session: AsyncSession,
    principal: Principal,
    body: WebhookCreate,
    url: CheckedUrl,
    clock: Clock,
) -> Webhook:
    """``url``: ``body.url`` as ``check_url`` accepted it, before the transaction (a lookup may take
    seconds, and on SQLite a write transaction holds the database's one write lock)."""
    org = admin_org(principal)
    now = clock.now()
    webhook = Webhook(
        id=uuid.uuid4(),
        organization_id=org,
        url=url.url,
        event_kinds=list(dict.fromkeys(body.event_kinds)),
        description=body.description,
        status=WebhookStatus.active,
        secret=new_secret(),
        created_at=now,
    )
    session.add(webhook)
    await audit(
        session,
        entity_type="webhook",
        entity_id=webhook.id,
        action="created",
        actor=principal.label,
        at=now,
        data={"url": webhook.url, "event_kinds": webhook.event_kinds, "description": webhook.description},
    )
    return webhook


async def list_webhooks(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[Webhook], str | None]:
    org = admin_org(principal)
    keys = [datetime_key(Webhook.created_at, descending=True), uuid_key(Webhook.id, descending=True)]
    query = select(Webhook).where(Webhook.organization_id == org, Webhook.status == WebhookStatus.active)
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda w: (w.created_at, w.id))


async def _own_webhook(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, *, lock: bool = False
) -> Webhook:
    org = admin_org(principal)
    query = select(Webhook).where(
        Webhook.id == webhook_id, Webhook.organization_id == org, Webhook.status == WebhookStatus.active
    )
    if lock:
        query = query.with_for_update()
    webhook = await session.scalar(query)
    if webhook is None:
        raise NotFound("No such webhook.")
    return webhook


async def get_webhook(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> Webhook:
    return await _own_webhook(session, principal, webhook_id)


async def delete_webhook(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, clock: Clock
) -> None:
    """Nothing more is attempted: its pending deliveries end ``failed`` (``webhook_deleted``), and claims
    only take deliveries of active webhooks."""
    webhook = await _own_webhook(session, principal, webhook_id, lock=True)
    now = clock.now()
    webhook.status = WebhookStatus.deleted
    webhook.deleted_at = now
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == DeliveryStatus.pending)
        .values(
            status=DeliveryStatus.failed,
            last_error=WEBHOOK_DELETED,
            next_attempt_at=None,
            lease_until=None,
            lease_token=None,
        )
    )
    await audit(
        session,
        entity_type="webhook",
        entity_id=webhook.id,
        action="deleted",
        actor=principal.label,
        at=now,
        data={"url": webhook.url},
    )


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookDelivery], str | None]:
    webhook = await _own_webhook(session, principal, webhook_id)
    keys = [
        datetime_key(WebhookDelivery.created_at, descending=True),
        uuid_key(WebhookDelivery.id, descending=True),
    ]
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda d: (d.created_at, d.id))


async def redeliver(
    session: AsyncSession, principal: Principal, delivery_id: uuid.UUID, clock: Clock
) -> WebhookDelivery:
    """A new delivery of the same event (the same bytes), due now; 409 ``invalid_state`` while the old one
    is still ``pending``."""
    org = admin_org(principal)
    old = await session.scalar(
        select(WebhookDelivery)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.id == delivery_id,
            Webhook.organization_id == org,
            Webhook.status == WebhookStatus.active,
        )
        .with_for_update(of=WebhookDelivery)
    )
    if old is None:
        raise NotFound("No such delivery.")
    if old.status == DeliveryStatus.pending:
        raise InvalidState("This delivery is still pending; redeliver it once it has succeeded or failed.")
    delivery = new_delivery(old.webhook_id, old.event_id, old.kind, old.body, clock.now())
    session.add(delivery)
    await session.flush()
    wake_after_commit(session)
    return delivery
