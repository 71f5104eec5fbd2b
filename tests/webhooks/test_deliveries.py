"""Webhook deliveries (SPEC §17.5) against a real receiver on 127.0.0.1: written with the notification, signed,
the same bytes on every attempt, retried on the business clock, stopped by deletion, redelivered on demand."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.kit.db import Database
from app.main import create_app
from app.models.notifications import Notification
from app.models.webhooks import WebhookDelivery
from app.notifications.outbox import notify
from app.webhooks import deliveries as deliveries_module
from app.webhooks.deliveries import DeliveryWorker, delivery_context, run_due
from app.webhooks.net import make_client
from app.webhooks.rules import IPAddress
from tests import factories as f
from tests import sandbox
from tests.auctions import helpers as auction_helpers
from tests.conftest import Backend, make_settings
from tests.webhooks.helpers import API, deliveries, notify_org, subscribe
from tests.webhooks.receiver import Received, running_receiver, verify


def _check_request(got: Received, hook: dict[str, Any], event: Notification, delivery_id: str) -> None:
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-exchange-event-id"] == str(event.id)
    assert got.headers["x-exchange-event-kind"] == event.kind
    assert got.headers["x-exchange-delivery-id"] == delivery_id
    assert verify(hook["secret"], got)
    assert not verify("whsec_" + "x" * 43, got)
    t = int(got.headers["x-exchange-signature"].split(",")[0].removeprefix("t="))
    assert abs(t - got.at) <= 2  # the real time of the attempt, never the sandbox clock


async def test_a_notification_makes_one_pending_delivery_per_subscribed_active_webhook(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await f.organization(client)
    other = await f.organization(client)
    wanted = await subscribe(client, admin, "http://127.0.0.1:9/a", ["offer_received", "outbid"])
    unsubscribed = await subscribe(client, admin, "http://127.0.0.1:9/b", ["outbid"])
    deleted = await subscribe(client, admin, "http://127.0.0.1:9/c", ["offer_received"])
    assert (await client.delete(f"{API}/webhooks/{deleted['id']}", headers=admin.headers)).status_code == 204
    elsewhere = await subscribe(client, other, "http://127.0.0.1:9/d", ["offer_received"])

    event = await notify_org(db, str(admin.org_id))

    (delivery,) = await deliveries(client, admin, wanted["id"])
    assert delivery == {
        "id": delivery["id"],
        "webhook_id": wanted["id"],
        "event_id": str(event.id),
        "kind": "offer_received",
        "status": "pending",
        "attempts": 0,
        "last_attempt_at": None,
        "last_status_code": None,
        "last_error": None,
        "next_attempt_at": delivery["created_at"],
        "created_at": delivery["created_at"],
    }
    assert await deliveries(client, admin, unsubscribed["id"]) == []
    assert await deliveries(client, other, elsewhere["id"]) == []
    assert await deliveries(client, admin, wanted["id"], status="succeeded") == []


async def test_a_rolled_back_change_leaves_no_notification_and_no_delivery(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await f.organization(client)
    await subscribe(client, admin, "http://127.0.0.1:9/a", ["offer_received"])
    now = await sandbox.business_now(db)

    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        async with db.transaction() as session:
            await notify(session, "offer_received", [uuid.UUID(str(admin.org_id))], {"offer_id": "x"}, at=now)
            await session.flush()
            assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
            raise Refused
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        assert await session.scalar(select(func.count()).select_from(Notification)) == 0


async def test_signed_attempts_retry_on_the_business_clock_with_the_same_bytes(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await f.organization(client)
    with running_receiver([500, 503]) as receiver:
        hook = await subscribe(client, admin, receiver.url(), ["offer_received"])
        event = await notify_org(
            db, str(admin.org_id), data={"offer_id": "o-1", "price": "1.00", "名称": "隔膜"}
        )
        (pending,) = await deliveries(client, admin, hook["id"])

        assert (await sandbox.move_clock(client, 0.001)).status_code == 200  # due at once: attempted now
        assert len(receiver.received()) == 1
        (first,) = await deliveries(client, admin, hook["id"])
        assert (first["status"], first["attempts"], first["last_status_code"], first["last_error"]) == (
            "pending",
            1,
            500,
            "http_status",
        )
        last = _instant(first["last_attempt_at"])
        assert _instant(first["next_attempt_at"]) - last == 10.0

        await sandbox.move_clock(client, 5)  # not due yet
        assert len(receiver.received()) == 1
        await sandbox.move_clock(client, 5)
        assert len(receiver.received()) == 2
        (second,) = await deliveries(client, admin, hook["id"])
        assert (second["attempts"], second["last_status_code"]) == (2, 503)
        assert _instant(second["next_attempt_at"]) - _instant(second["last_attempt_at"]) == 60.0

        await sandbox.move_clock(client, 60)
        got = receiver.received()
        assert len(got) == 3
        (done,) = await deliveries(client, admin, hook["id"])
        assert (done["status"], done["attempts"], done["last_status_code"], done["last_error"]) == (
            "succeeded",
            3,
            200,
            None,
        )
        assert done["next_attempt_at"] is None

    assert len({r.body for r in got}) == 1  # the same bytes on every attempt
    assert json.loads(got[0].body) == {
        "id": str(event.id),
        "kind": "offer_received",
        "organization_id": admin.org_id,
        "created_at": pending["created_at"].replace("+00:00", "Z"),
        "data": {"offer_id": "o-1", "price": "1.00", "名称": "隔膜"},
    }
    for request in got:
        _check_request(request, hook, event, pending["id"])


def _instant(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


async def test_six_failed_attempts_and_the_delivery_has_failed(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await f.organization(client)
    with running_receiver([500] * 10) as receiver:
        hook = await subscribe(client, admin, receiver.url(), ["offer_received"])
        await notify_org(db, str(admin.org_id))
        for n, wait in enumerate((0.001, 10, 60, 600, 3600, 21600), start=1):
            await sandbox.move_clock(client, wait)
            assert len(receiver.received()) == n
        (failed,) = await deliveries(client, admin, hook["id"])
        assert (failed["status"], failed["attempts"], failed["next_attempt_at"]) == ("failed", 6, None)
        await sandbox.move_clock(client, 7 * 86400)
        assert len(receiver.received()) == 6
        assert await deliveries(client, admin, hook["id"], status="failed") == [failed]


async def test_deleting_a_webhook_stops_its_attempts(client: httpx.AsyncClient, db: Database) -> None:
    admin = await f.organization(client)
    with running_receiver([500] * 10) as receiver:
        hook = await subscribe(client, admin, receiver.url(), ["offer_received"])
        await notify_org(db, str(admin.org_id))
        await sandbox.move_clock(client, 0.001)
        assert len(receiver.received()) == 1
        assert (await client.delete(f"{API}/webhooks/{hook['id']}", headers=admin.headers)).status_code == 204
        await notify_org(db, str(admin.org_id))  # no delivery for a deleted webhook
        await sandbox.move_clock(client, 86400)
        assert len(receiver.received()) == 1


async def test_redelivery_sends_the_same_event_again_once_the_first_is_final(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await f.organization(client)
    other = await f.organization(client)
    with running_receiver() as receiver:
        hook = await subscribe(client, admin, receiver.url(), ["offer_received"])
        event = await notify_org(db, str(admin.org_id))
        (pending,) = await deliveries(client, admin, hook["id"])
        r = await client.post(f"{API}/webhook-deliveries/{pending['id']}/redeliver", headers=admin.headers)
        assert (r.status_code, r.json()["code"]) == (409, "invalid_state")

        await sandbox.move_clock(client, 0.001)
        for stranger in (other,):
            r = await client.post(
                f"{API}/webhook-deliveries/{pending['id']}/redeliver", headers=stranger.headers
            )
            assert (r.status_code, r.json()["code"]) == (404, "not_found")
        r = await client.post(f"{API}/webhook-deliveries/{pending['id']}/redeliver", headers=admin.headers)
        assert r.status_code == 201, r.text
        again = r.json()
        assert again["id"] != pending["id"]
        assert (again["event_id"], again["status"], again["attempts"]) == (str(event.id), "pending", 0)
        r = await client.post(f"{API}/webhook-deliveries/{again['id']}/redeliver", headers=admin.headers)
        assert (r.status_code, r.json()["code"]) == (409, "invalid_state")

        await sandbox.move_clock(client, 0.001)
        got = receiver.received()
        assert len(got) == 2
        assert got[0].body == got[1].body
        _check_request(got[0], hook, event, pending["id"])
        _check_request(got[1], hook, event, again["id"])
        newest, oldest = await deliveries(client, admin, hook["id"])
        assert (newest["id"], newest["status"], oldest["id"]) == (again["id"], "succeeded", pending["id"])


class SwitchingResolver:
    """Answers with ``addresses`` for every name; tests change them between creation and attempt."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in self.addresses]


async def test_each_attempt_checks_the_address_and_connects_to_the_one_it_checked(
    client: httpx.AsyncClient, backend: Backend, db: Database
) -> None:
    """In development (addresses checked, loopback allowed): a name that now resolves to a private address
    fails the attempt with ``blocked_address`` and nothing is sent; resolving to loopback, the request goes
    to the checked address under the name (Host header), which no real DNS knows."""
    admin = await f.organization(client)
    app = create_app(make_settings(backend.url, env="development", fast_password_hashing=False), db=db)
    resolver = SwitchingResolver("93.184.216.34")
    app.state.webhook_resolver = resolver
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as dev:
        sandbox.use_database(dev, db)
        with running_receiver() as receiver:
            url = f"http://hooks.invalid:{receiver.port}/hook"
            r = await dev.post(
                f"{API}/webhooks", json={"url": url, "event_kinds": ["offer_received"]}, headers=admin.headers
            )
            assert r.status_code == 201, r.text
            hook = r.json()
            event = await notify_org(db, str(admin.org_id))
            resolver.addresses = ["93.184.216.34", "10.0.0.1"]  # rebinding to a private address
            await sandbox.move_clock(dev, 0.001)
            (blocked,) = await deliveries(dev, admin, hook["id"])
            assert (blocked["attempts"], blocked["last_error"], blocked["last_status_code"]) == (
                1,
                "blocked_address",
                None,
            )
            assert receiver.received() == []

            resolver.addresses = ["127.0.0.1"]
            await sandbox.move_clock(dev, 10)
            (got,) = receiver.received()
            assert got.headers["host"] == f"hooks.invalid:{receiver.port}"
            _check_request(got, hook, event, blocked["id"])
            (done,) = await deliveries(dev, admin, hook["id"])
            assert (done["status"], done["attempts"]) == ("succeeded", 2)


async def test_the_worker_attempts_within_5_seconds_of_the_commit(
    client: httpx.AsyncClient, app: Any, db: Database
) -> None:
    admin = await f.organization(client)
    with running_receiver() as receiver:
        hook = await subscribe(client, admin, receiver.url(), ["offer_received"])
        ctx = delivery_context(app)
        worker = asyncio.create_task(DeliveryWorker(ctx, lambda: sandbox.business_now(db)).run())
        try:
            committed = time.time()
            event = await notify_org(db, str(admin.org_id))
            (got,) = await receiver.wait_for(1, within=5.0)
            assert got.at - committed < 5.0
            (delivery,) = await deliveries(client, admin, hook["id"])
            _check_request(got, hook, event, delivery["id"])
            for _ in range(100):
                (delivery,) = await deliveries(client, admin, hook["id"])
                if delivery["status"] == "succeeded":
                    break
                await asyncio.sleep(0.05)
            assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await ctx.aclose()


async def test_redirects_are_not_followed_and_slow_answers_time_out(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await f.organization(client)
    with running_receiver([302]) as receiver:
        hook = await subscribe(client, admin, receiver.url(), ["offer_received"])
        await notify_org(db, str(admin.org_id))
        await sandbox.move_clock(client, 0.001)
        assert [r.path for r in receiver.received()] == ["/hook"]  # /elsewhere never asked
        (redirected,) = await deliveries(client, admin, hook["id"])
        assert (redirected["status"], redirected["last_status_code"], redirected["last_error"]) == (
            "pending",
            302,
            "http_status",
        )
        monkeypatch.setattr(deliveries_module, "ATTEMPT_SECONDS", 0.3)
        receiver.delay = 1.0
        await sandbox.move_clock(client, 10)
        (slow,) = await deliveries(client, admin, hook["id"])
        assert (slow["attempts"], slow["last_status_code"], slow["last_error"]) == (2, None, "timeout")


async def test_concurrent_workers_attempt_each_due_delivery_once(
    client: httpx.AsyncClient, app: Any, db: Database
) -> None:
    """Claims: two workers draining the same due deliveries at once never both take one (``FOR UPDATE SKIP
    LOCKED`` and a lease on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite)."""
    admin = await f.organization(client)
    with running_receiver() as receiver:
        await subscribe(client, admin, receiver.url(), ["offer_received"])
        await subscribe(client, admin, receiver.url("/other"), ["offer_received"])
        for _ in range(30):
            await notify_org(db, str(admin.org_id))
        horizon = await sandbox.business_now(db)
        contexts = [delivery_context(app), delivery_context(app)]
        try:
            counts = await asyncio.gather(
                *(run_due(ctx, horizon, lambda: sandbox.business_now(db)) for ctx in contexts)
            )
        finally:
            for ctx in contexts:
                await ctx.aclose()
        got = receiver.received()
        assert sum(counts) == len(got) == 60
        assert len({r.headers["x-exchange-delivery-id"] for r in got}) == 60
    async with db.read() as session:
        statuses = (await session.scalars(select(WebhookDelivery.status))).all()
    assert statuses == ["succeeded"] * 60


async def test_a_commit_wakes_the_worker_without_waiting_for_its_poll(
    client: httpx.AsyncClient, app: Any, db: Database
) -> None:
    admin = await f.organization(client)
    with running_receiver() as receiver:
        await subscribe(client, admin, receiver.url(), ["offer_received"])
        ctx = delivery_context(app)
        worker = DeliveryWorker(ctx, lambda: sandbox.business_now(db), poll_seconds=60)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(0.2)  # the worker's first pass is over: it now waits up to 60 s
            await notify_org(db, str(admin.org_id))
            await receiver.wait_for(1, within=2.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.aclose()


async def test_a_real_change_is_delivered_and_a_refused_one_leaves_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    """An outbid bidder's webhook receives the ``outbid`` event its bid transaction wrote; a refused bid writes
    no delivery (SPEC §17.7: a refused request leaves no bid, notification or delivery behind)."""
    case = await auction_helpers.open_auction(client, db)
    first, second = case.bidders[0], case.bidders[1]
    with running_receiver() as receiver:
        hook = await subscribe(client, first, receiver.url(), ["outbid"])
        assert (await auction_helpers.bid(client, case, first, "100000.00")).status_code == 201
        refused = await auction_helpers.bid(client, case, second, "100000.00")  # not above the current price
        assert refused.status_code in (409, 422), refused.text
        assert await deliveries(client, first, hook["id"]) == []
        assert (await auction_helpers.bid(client, case, second, "110000.00")).status_code == 201
        (delivery,) = await deliveries(client, first, hook["id"])
        await sandbox.move_clock(client, 0.001)
        (got,) = receiver.received()
    event = json.loads(got.body)
    assert (event["kind"], event["organization_id"], event["id"]) == (
        "outbid",
        first.org_id,
        delivery["event_id"],
    )
    assert event["data"]["auction_id"] == case.id
    assert second.org_id not in got.body.decode()  # the leader is a bidder code, never an organization
    assert verify(hook["secret"], got)


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_goes_to_the_checked_address_with_the_name_s_sni_and_certificate(
    client: httpx.AsyncClient, backend: Backend, db: Database, tmp_path: Path
) -> None:
    """The connection goes to the pinned address, while TLS is the URL's name's: its SNI, and its certificate
    verified against the name (a certificate for another name fails the attempt)."""
    admin = await f.organization(client)
    app = create_app(make_settings(backend.url, env="development", fast_password_hashing=False), db=db)
    app.state.webhook_resolver = SwitchingResolver("127.0.0.1")
    trusted = ssl.create_default_context()
    good, wrong = _self_signed(tmp_path, "hooks.invalid"), _self_signed(tmp_path, "other.invalid")
    trusted.load_verify_locations(good[0])
    trusted.load_verify_locations(wrong[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as dev:
        for cert, expected in ((wrong, "connection_error"), (good, None)):
            with running_receiver(tls=cert) as receiver:
                url = f"https://hooks.invalid:{receiver.port}/hook"
                r = await dev.post(
                    f"{API}/webhooks",
                    json={"url": url, "event_kinds": ["offer_received"]},
                    headers=admin.headers,
                )
                assert r.status_code == 201, r.text
                hook = r.json()
                event = await notify_org(db, str(admin.org_id))
                ctx = delivery_context(app, make_client(ssl_context=trusted))
                try:
                    assert await run_due(
                        ctx, await sandbox.business_now(db), lambda: sandbox.business_now(db)
                    )
                finally:
                    await ctx.aclose()
                (delivery,) = await deliveries(dev, admin, hook["id"])
                assert delivery["last_error"] == expected
                if expected is None:
                    (got,) = receiver.received()
                    assert got.headers["host"] == f"hooks.invalid:{receiver.port}"
                    _check_request(got, hook, event, delivery["id"])
                else:
                    assert receiver.received() == []
                assert (
                    await dev.delete(f"{API}/webhooks/{hook['id']}", headers=admin.headers)
                ).status_code == 204


async def test_a_bid_s_outbid_event_goes_to_each_subscribed_active_webhook_and_wakes_the_worker(
    client: httpx.AsyncClient, app: Any, db: Database
) -> None:
    """The outbid notice a bid writes (on PostgreSQL in the bid's one statement, ``app.kit.compose``) makes a
    delivery for each active webhook of the outbid organization subscribed to ``outbid``, and for no other;
    the worker, asleep for a minute, is woken at once."""
    case = await auction_helpers.open_auction(client, db, bidders=2)
    first, second = case.bidders
    with running_receiver() as receiver:
        wanted = await subscribe(client, first, receiver.url(), ["outbid", "offer_received"])
        also = await subscribe(client, first, receiver.url("/also"), ["outbid"])
        other_kind = await subscribe(client, first, receiver.url("/kind"), ["offer_received"])
        deleted = await subscribe(client, first, receiver.url("/deleted"), ["outbid"])
        assert (
            await client.delete(f"{API}/webhooks/{deleted['id']}", headers=first.headers)
        ).status_code == 204
        leader_s = await subscribe(client, second, receiver.url("/leader"), ["outbid"])
        ctx = delivery_context(app)
        worker = DeliveryWorker(ctx, lambda: sandbox.business_now(db), poll_seconds=60)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(0.2)  # the worker's first pass is over: it now waits up to 60 s
            assert (await auction_helpers.bid(client, case, first, "100000.00")).status_code == 201
            assert (await auction_helpers.bid(client, case, second, "101000.00")).status_code == 201
            await receiver.wait_for(2, within=2.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.aclose()
        assert sorted(r.path for r in receiver.received()) == ["/also", "/hook"]
    (one,) = await deliveries(client, first, wanted["id"])
    (two,) = await deliveries(client, first, also["id"])
    assert one["event_id"] == two["event_id"] and one["id"] != two["id"]
    for hook in (other_kind, leader_s):
        owner = first if hook is other_kind else second
        assert await deliveries(client, owner, hook["id"]) == []
