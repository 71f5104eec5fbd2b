"""Webhook deliveries (SPEC §17.5): written with the notification, attempted by a worker in every process.

- **Outbox.** ``notify`` hands each batch of notifications to ``on_notifications`` in the change's own
  transaction: one ``pending`` delivery per active webhook of the recipient organization subscribed to the
  kind, due at the notification's business time, with the event's body serialised once. A rolled-back change
  leaves none.
- **Claims.** Due deliveries (``next_attempt_at`` on the business clock) are claimed in a short write
  transaction, as the deadline sweeper claims its rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN
  IMMEDIATE`` on SQLite. A claim is a lease (``lease_until``, real time, and a ``lease_token``), not a lock
  held across the HTTP call: the attempt runs outside any transaction, and its result is written in another
  short one, only if the lease is still this worker's. A worker that dies mid-attempt leaves a lease that
  expires, and the delivery is tried again (at least once).
- **Attempts.** ``attempt`` resolves the host, checks every address (outside ``test``), connects only to a
  checked address (``app.webhooks.net``), POSTs the stored bytes with a fresh signature (``t`` = real time),
  reads at most ``MAX_RESPONSE_BYTES`` of the answer, within ``ATTEMPT_SECONDS`` in all. 2xx succeeds;
  otherwise the next attempt is due 10 s, 1 min, 10 min, 1 h, 6 h (business clock) after this one, and the
  sixth failure is final.
- **Who attempts.** ``DeliveryWorker`` runs in every server process: it polls every ``POLL_SECONDS`` and is
  woken at once when a transaction of this process that wrote deliveries commits; it keeps up to
  ``CONCURRENCY`` attempts in flight. ``POST /sandbox/clock`` calls ``run_due`` after the deadlines, which
  attempts every delivery due by the new time (and waits for the ones another process is attempting) before
  the clock answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import httpx
from sqlalchemy import (
    CTE,
    Insert,
    Table,
    Uuid,
    bindparam,
    event,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.config import Environment
from app.kit.compose import Write
from app.kit.db import Database, connection_of, is_unavailable, warn_unavailable
from app.kit.statements import prepared
from app.models.webhooks import DeliveryStatus, Webhook, WebhookDelivery, WebhookStatus
from app.notifications.outbox import Written, subscribe
from app.webhooks import net
from app.webhooks.rules import after_failure, all_allowed, event_body, signature, split_url

log = logging.getLogger(__name__)

ATTEMPT_SECONDS = 10.0
LEASE = timedelta(seconds=60)  # longer than an attempt can take
MAX_RESPONSE_BYTES = 64 * 1024
POLL_SECONDS = 0.5
CONCURRENCY = 64
BATCH = 64
WAIT_SECONDS = 0.05
RECORD_SECONDS = 0.02  # how long a finished attempt may wait for others to be recorded with it
USER_AGENT = "PatentExchange-Webhooks/1.0"

# Errors a delivery records (``last_error``); null after a success.
BLOCKED_ADDRESS = "blocked_address"
DNS_ERROR = "dns_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
HTTP_STATUS = "http_status"  # an answer that is not 2xx: see last_status_code
WEBHOOK_DELETED = "webhook_deleted"
INTERNAL_ERROR = "internal_error"


# --- the outbox -------------------------------------------------------------------------------------------


# Built once: it runs on every bid that outbids someone, where building the statement cost several times more
# CPU than running it.
_HOOK_COLUMNS = (Webhook.id, Webhook.organization_id, Webhook.event_kinds)
_ACTIVE_HOOKS = select(*_HOOK_COLUMNS).where(
    Webhook.organization_id.in_(bindparam("p_orgs", expanding=True)), Webhook.status == WebhookStatus.active
)
# A bid's outbid notice goes to one organization: its statement, without the expanding IN, is prepared.
_ACTIVE_HOOKS_OF_ONE = prepared(
    select(*_HOOK_COLUMNS).where(
        Webhook.organization_id == bindparam("p_org", type_=Uuid()), Webhook.status == WebhookStatus.active
    )
)


async def on_notifications(session: AsyncSession, rows: list[Written]) -> None:
    """One pending delivery per notification and subscribed active webhook of its organization, in the
    notification's transaction (``notify`` calls this)."""
    orgs = list({row.organization_id for row in rows})
    conn = await connection_of(session)
    if len(orgs) == 1:
        hooks = (await conn.execute(_ACTIVE_HOOKS_OF_ONE, {"p_org": orgs[0]})).all()
    else:
        hooks = (await conn.execute(_ACTIVE_HOOKS, {"p_orgs": orgs})).all()
    if not hooks:
        return
    by_org: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for hook in hooks:
        by_org[hook.organization_id].append(hook)
    for row in rows:
        subscribed = [h.id for h in by_org.get(row.organization_id, ()) if row.kind in h.event_kinds]
        if not subscribed:
            continue
        body = event_body(row.id, row.kind, row.organization_id, row.created_at, row.data)
        session.add_all(
            new_delivery(webhook_id, row.id, row.kind, body, row.created_at) for webhook_id in subscribed
        )
    wake_after_commit(session)


def deliveries_after(rows: list[Written]) -> tuple[list[Write], Callable[[Any], None]]:
    """``on_notifications`` for notifications written by a composed statement (``app.kit.compose``,
    PostgreSQL): per notification, one INSERT … SELECT of a pending delivery per subscribed active webhook of
    its organization, read by the statement itself; the workers are woken once it has written any."""
    writes = []
    for i, row in enumerate(rows):
        name = f"wh{i}"
        body = event_body(row.id, row.kind, row.organization_id, row.created_at, row.data)
        values = _pending(row.id, row.kind, body, row.created_at) | {"organization_id": row.organization_id}
        params = {f"{name}_{key}": value for key, value in values.items()}
        writes.append(Write(name, "webhook_deliveries", partial(_deliveries_of, name), params, counted=True))

    def committed(result: Any) -> None:
        if any(getattr(result, f"{w.name}_written") for w in writes):
            for waker in list(_wakers):
                waker.set()

    return writes, committed


def _deliveries_of(name: str, after: CTE) -> Insert:
    """``_pending``'s columns (bind parameters ``<name>_<column>``) for each active webhook of the organization
    (``<name>_organization_id``) subscribed to the kind, after ``after``."""
    d = cast(Table, WebhookDelivery.__table__).c
    values = {c: bindparam(f"{name}_{c}", type_=d[c].type) for c in _PENDING_COLUMNS}
    hooks = (
        select(func.gen_random_uuid(), Webhook.id, *values.values())
        .select_from(after.join(Webhook, true()))
        .where(
            Webhook.organization_id
            == bindparam(f"{name}_organization_id", type_=Webhook.organization_id.type),
            Webhook.status == WebhookStatus.active,
            Webhook.event_kinds.op("?")(values["kind"]),
        )
    )
    return insert(cast(Table, WebhookDelivery.__table__)).from_select(
        ["id", "webhook_id", *_PENDING_COLUMNS], hooks
    )


subscribe(on_notifications, deliveries_after)


def new_delivery(
    webhook_id: uuid.UUID, event_id: uuid.UUID, kind: str, body: str, at: datetime
) -> WebhookDelivery:
    return WebhookDelivery(id=uuid.uuid4(), webhook_id=webhook_id, **_pending(event_id, kind, body, at))


def _pending(event_id: uuid.UUID, kind: str, body: str, at: datetime) -> dict[str, Any]:
    """A new delivery's columns but its id and webhook's: pending, never attempted, due at once."""
    return {
        "event_id": event_id,
        "kind": kind,
        "body": body,
        "status": DeliveryStatus.pending.value,
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
    }


_PENDING_COLUMNS = tuple(_pending(uuid.UUID(int=0), "", "", datetime.min))


# --- waking this process's workers when deliveries are committed -----------------------------------------

_WAKE = "webhook_deliveries_written"
_wakers: set[asyncio.Event] = set()


def wake_after_commit(session: AsyncSession) -> None:
    """Wake this process's delivery workers once ``session``'s transaction commits."""
    session.sync_session.info[_WAKE] = True


@event.listens_for(Session, "after_commit")
def _wake_on_commit(session: Session) -> None:
    if session.info.pop(_WAKE, False):
        for waker in list(_wakers):
            waker.set()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_WAKE, None)


# --- claims and results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    token: uuid.UUID
    event_id: uuid.UUID
    kind: str
    body: str
    attempts: int  # before this attempt
    url: str
    secret: str


@dataclass(frozen=True)
class Result:
    claim: Claim
    attempted_at: datetime  # business clock
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def _real_now() -> datetime:
    return datetime.now(UTC)


def _due(horizon: datetime, real_now: datetime) -> Any:
    return (
        WebhookDelivery.status == DeliveryStatus.pending,
        WebhookDelivery.next_attempt_at <= horizon,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= real_now),
    )


async def any_due(db: Database, horizon: datetime, *, leased: bool = False) -> bool:
    """Whether a delivery is due by ``horizon`` (``leased``: counting the ones being attempted right now)."""
    conditions: Any = (
        (WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= horizon)
        if leased
        else _due(horizon, _real_now())
    )
    async with db.read_connection() as conn:
        found = await conn.scalar(select(WebhookDelivery.id).where(*conditions).limit(1))
    return found is not None


async def claim(db: Database, horizon: datetime, limit: int) -> list[Claim]:
    """Lease up to ``limit`` deliveries due by ``horizon`` (oldest first) to this worker, in one short write
    transaction; rows another process holds are skipped (PostgreSQL), never waited for."""
    if not await any_due(db, horizon):  # an autocommit read first: an idle poll takes no write lock
        return []
    real_now = _real_now()
    token = uuid.uuid4()
    async with db.transaction() as session:
        ids = list(
            await session.scalars(
                select(WebhookDelivery.id)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(*_due(horizon, real_now), Webhook.status == WebhookStatus.active)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
        )
        if not ids:
            return []
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(lease_until=real_now + LEASE, lease_token=token)
        )
        rows = (
            await session.execute(
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.event_id,
                    WebhookDelivery.kind,
                    WebhookDelivery.body,
                    WebhookDelivery.attempts,
                    Webhook.url,
                    Webhook.secret,
                )
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id.in_(ids))
                .order_by(WebhookDelivery.next_attempt_at)
            )
        ).all()
    return [Claim(r.id, token, r.event_id, r.kind, r.body, r.attempts, r.url, r.secret) for r in rows]


_DELIVERIES = cast(Table, WebhookDelivery.__table__)
# One statement for every outcome of a batch (executemany): only a claim that is still this worker's.
_RECORD = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("p_id", type_=Uuid()),
        _DELIVERIES.c.lease_token == bindparam("p_token", type_=Uuid()),
        _DELIVERIES.c.status == DeliveryStatus.pending,
    )
    .values(
        attempts=bindparam("p_attempts"),
        status=bindparam("p_status"),
        last_attempt_at=bindparam("p_attempted_at"),
        last_status_code=bindparam("p_status_code"),
        last_error=bindparam("p_error"),
        next_attempt_at=bindparam("p_next"),
        lease_until=None,
        lease_token=None,
    )
)


async def record(db: Database, results: Sequence[Result]) -> None:
    """Write the outcome of each attempt whose claim is still this worker's, in one transaction."""
    if not results:
        return
    rows: list[dict[str, Any]] = []
    for result in results:
        attempts = result.claim.attempts + 1
        if result.succeeded:
            status, next_at = DeliveryStatus.succeeded, None
        else:
            next_at = after_failure(attempts, result.attempted_at)
            status = DeliveryStatus.pending if next_at is not None else DeliveryStatus.failed
        rows.append(
            {
                "p_id": result.claim.id,
                "p_token": result.claim.token,
                "p_attempts": attempts,
                "p_status": status.value,
                "p_attempted_at": result.attempted_at,
                "p_status_code": result.status_code,
                "p_error": result.error,
                "p_next": next_at,
            }
        )
    async with db.transaction() as session:
        await (await connection_of(session)).execute(_RECORD, rows)


# --- one attempt -------------------------------------------------------------------------------------------


@dataclass
class DeliveryContext:
    """What attempts need: the database, the environment's address policy, the resolver, the HTTP client."""

    db: Database
    env: Environment
    resolve: Callable[[], net.Resolver]
    client: httpx.AsyncClient

    async def aclose(self) -> None:
        await self.client.aclose()


def delivery_context(app: Any, client: httpx.AsyncClient | None = None) -> DeliveryContext:
    """The delivery context of an application (its resolver is read at each attempt, so tests may set
    ``app.state.webhook_resolver`` at any time)."""
    state = app.state
    return DeliveryContext(
        db=state.db,
        env=state.settings.env,
        resolve=lambda: net.resolver_of(state),
        client=client or net.make_client(),
    )


async def attempt(ctx: DeliveryContext, claimed: Claim, at: datetime) -> Result:
    """POST the event once (see the module docstring); never raises but on cancellation."""

    def outcome(status_code: int | None, error: str | None) -> Result:
        return Result(claimed, at, status_code, error)

    try:
        async with asyncio.timeout(ATTEMPT_SECONDS):
            target = split_url(claimed.url)
            if isinstance(target, str):  # checked at creation: never expected
                return outcome(None, INTERNAL_ERROR)
            try:
                addresses = await ctx.resolve()(target.host, target.port)
            except net.ResolutionFailed:
                return outcome(None, DNS_ERROR)
            if ctx.env != Environment.test and not all_allowed(
                addresses, allow_loopback=ctx.env == Environment.development
            ):
                return outcome(None, BLOCKED_ADDRESS)
            if not addresses:
                return outcome(None, DNS_ERROR)
            body = claimed.body.encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Exchange-Event-Id": str(claimed.event_id),
                "X-Exchange-Event-Kind": claimed.kind,
                "X-Exchange-Delivery-Id": str(claimed.id),
                "X-Exchange-Signature": signature(claimed.secret, int(time.time()), body),
            }
            with net.pinned(target.host, addresses):
                async with ctx.client.stream("POST", claimed.url, content=body, headers=headers) as response:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= MAX_RESPONSE_BYTES:
                            break
            ok = 200 <= response.status_code < 300
            return outcome(response.status_code, None if ok else HTTP_STATUS)
    except TimeoutError:
        return outcome(None, TIMEOUT)
    except httpx.TimeoutException:
        return outcome(None, TIMEOUT)
    except (httpx.HTTPError, OSError, net.UncheckedAddress):
        return outcome(None, CONNECTION_ERROR)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("webhook delivery %s: the attempt failed unexpectedly", claimed.id)
        return outcome(None, INTERNAL_ERROR)


# --- who attempts ------------------------------------------------------------------------------------------

NowFn = Callable[[], Awaitable[datetime]]


async def run_due(ctx: DeliveryContext, horizon: datetime, now: NowFn) -> int:
    """Attempt every delivery due by ``horizon`` and record the outcomes, until none is left that is due
    (a retry falls due later); waits for the ones another worker is attempting. Returns how many it
    attempted. The sandbox clock calls this before it answers."""
    attempted = 0
    waited = 0.0
    while True:
        claimed = await claim(ctx.db, horizon, BATCH)
        if claimed:
            at = await now()
            results = await asyncio.gather(*(attempt(ctx, c, at) for c in claimed))
            await record(ctx.db, results)
            attempted += len(results)
            waited = 0.0
            continue
        if waited > LEASE.total_seconds() or not await any_due(ctx.db, horizon, leased=True):
            return attempted
        await asyncio.sleep(WAIT_SECONDS)
        waited += WAIT_SECONDS


class DeliveryWorker:
    """Runs in every server process (see the module docstring)."""

    def __init__(
        self,
        ctx: DeliveryContext,
        now: NowFn,
        *,
        poll_seconds: float = POLL_SECONDS,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.ctx = ctx
        self.now = now
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        self._first_finished = 0.0

    async def run(self) -> None:
        _wakers.add(self.wake)
        inflight: set[asyncio.Task[Result]] = set()
        finished: list[Result] = []
        try:
            while True:
                try:
                    more = await self._step(inflight, finished)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    finished.clear()  # not recorded: their leases expire and they are attempted again
                    if is_unavailable(exc):
                        warn_unavailable(log, "webhook deliveries", exc)
                    else:
                        log.exception("webhook delivery pass failed; retrying")
                    more = False
                if more:
                    continue
                self.wake.clear()
                waiter = asyncio.ensure_future(self.wake.wait())
                try:
                    await asyncio.wait(
                        {waiter, *inflight},
                        timeout=RECORD_SECONDS if finished else self.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
        finally:
            _wakers.discard(self.wake)
            for task in inflight:
                task.cancel()
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)

    async def _step(self, inflight: set[asyncio.Task[Result]], finished: list[Result]) -> bool:
        """Record finished attempts (a few at a time, one transaction) and start due ones when a quarter
        of the slots is free (or none is busy); whether to go on at once."""
        done = {task for task in inflight if task.done()}
        inflight -= done
        if done and not finished:
            self._first_finished = time.monotonic()
        finished += [task.result() for task in done]
        if finished and (
            len(finished) >= self.concurrency // 4
            or not inflight
            or time.monotonic() - self._first_finished >= RECORD_SECONDS
        ):
            await record(self.ctx.db, finished)
            finished.clear()
        free = self.concurrency - len(inflight)
        if inflight and free < max(1, self.concurrency // 4):
            return False
        now = await self.now()
        claimed = await claim(self.ctx.db, now, free)
        for item in claimed:
            inflight.add(asyncio.create_task(attempt(self.ctx, item, now)))
        return len(claimed) == free  # a full claim: more may be due


# --- in an application ---------------------------------------------------------------------------------


async def deliver_due(app: Any, horizon: datetime) -> int:
    """``run_due`` for an application (the sandbox clock), with the worker's client when it runs."""
    from app.deadlines.sweeper import business_now

    if not await any_due(app.state.db, horizon, leased=True):
        return 0
    shared: httpx.AsyncClient | None = getattr(app.state, "webhook_client", None)
    ctx = delivery_context(app, shared)
    try:
        return await run_due(ctx, horizon, lambda: business_now(app))
    finally:
        if shared is None:
            await ctx.aclose()


async def run_worker(app: Any) -> None:
    """The delivery worker of a server process (started by the application's lifespan, like the sweeper)."""
    from app.deadlines.sweeper import business_now

    ctx = delivery_context(app)
    app.state.webhook_client = ctx.client
    try:
        await DeliveryWorker(ctx, lambda: business_now(app)).run()
    finally:
        app.state.webhook_client = None
        await ctx.aclose()
