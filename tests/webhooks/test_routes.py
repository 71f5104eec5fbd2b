"""Webhook routes (SPEC §17.5): who may use them, what they validate, what they show, what they audit."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.main import create_app
from app.webhooks.net import ResolutionFailed
from app.webhooks.rules import IPAddress
from tests import factories as f
from tests.conftest import Backend, make_settings
from tests.webhooks.helpers import API, subscribe

HOSTS = {
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"],
    "localhost": ["127.0.0.1", "::1"],
    "intranet.example.com": ["10.0.0.7"],
    "metadata.example.com": ["169.254.169.254"],
    "cgnat.example.com": ["100.64.1.2"],
    "ula.example.com": ["fd00::5"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "nat64.example.com": ["64:ff9b::a00:1"],
    "sixtofour.example.com": ["2002:c0a8:101::1"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.20"],
}


async def fake_resolver(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(a) for a in HOSTS[host]]
    except KeyError:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            raise ResolutionFailed(host) from None


@asynccontextmanager
async def env_client(backend: Backend, db: Database, env: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same database served in ``env`` (tokens signed by the same key work on both)."""
    overrides: dict[str, Any] = {"env": env, "fast_password_hashing": False}
    if env == "production":
        overrides |= {"sandbox": False, "public_url": "https://ip.example.cn"}
    app = create_app(make_settings(backend.url, **overrides), db=db)
    app.state.webhook_resolver = fake_resolver
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def _admin_and_member(client: httpx.AsyncClient) -> tuple[f.Actor, f.Actor]:
    admin = await f.organization(client)
    email = f"member-{admin.org_id}@example.cn"
    r = await client.post(
        f"{API}/organizations/{admin.org_id}/members",
        json={"email": email, "password": f.PASSWORD, "name": "成员"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    member = f.Actor(
        id=r.json()["id"], email=email, org_id=admin.org_id, headers=await f.login(client, email)
    )
    return admin, member


async def test_an_admin_subscribes_and_sees_the_secret_once(client: httpx.AsyncClient) -> None:
    admin = await f.organization(client)
    created = await subscribe(
        client, admin, "http://127.0.0.1:9/hook", ["outbid", "auction_closed", "outbid"], description="竞价"
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) >= 6 + 43
    assert created["status"] == "active"
    assert created["event_kinds"] == ["outbid", "auction_closed"]
    assert created["description"] == "竞价"
    assert set(created) == {"id", "url", "event_kinds", "description", "status", "secret", "created_at"}

    one = (await client.get(f"{API}/webhooks/{created['id']}", headers=admin.headers)).json()
    listed = (await client.get(f"{API}/webhooks", headers=admin.headers)).json()
    assert "secret" not in one and one == {k: v for k, v in created.items() if k != "secret"}
    assert listed == {"items": [one], "next_cursor": None}


async def test_members_get_403_and_other_organizations_404(client: httpx.AsyncClient, db: Database) -> None:
    admin, member = await _admin_and_member(client)
    other = await f.organization(client)
    ops = await f.operator(client, db)
    hook = await subscribe(client, admin, "http://127.0.0.1:9/hook")
    for actor in (member, ops):
        r = await client.post(
            f"{API}/webhooks",
            json={"url": "http://x.example/", "event_kinds": ["outbid"]},
            headers=actor.headers,
        )
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        for method, path in (
            ("GET", "/webhooks"),
            ("GET", f"/webhooks/{hook['id']}"),
            ("GET", f"/webhooks/{hook['id']}/deliveries"),
            ("DELETE", f"/webhooks/{hook['id']}"),
        ):
            r = await client.request(method, API + path, headers=actor.headers)
            assert (r.status_code, r.json()["code"]) == (403, "forbidden"), (method, path)
    for method, path in (
        ("GET", f"/webhooks/{hook['id']}"),
        ("GET", f"/webhooks/{hook['id']}/deliveries"),
        ("DELETE", f"/webhooks/{hook['id']}"),
    ):
        r = await client.request(method, API + path, headers=other.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, path)
    assert (await client.get(f"{API}/webhooks", headers=other.headers)).json()["items"] == []
    assert (await client.get(f"{API}/webhooks/{hook['id']}", headers=admin.headers)).status_code == 200


@pytest.mark.parametrize(
    ("kinds", "code"),
    [
        (["outbid", "bid_placed"], "invalid_event_kind"),
        ([], "validation_error"),
        (["OUTBID"], "invalid_event_kind"),
    ],
)
async def test_event_kinds_are_notification_kinds(
    client: httpx.AsyncClient, kinds: list[str], code: str
) -> None:
    admin = await f.organization(client)
    r = await client.post(
        f"{API}/webhooks", json={"url": "http://127.0.0.1:9/", "event_kinds": kinds}, headers=admin.headers
    )
    assert (r.status_code, r.json()["code"]) == (422, code), r.text


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h.example/",
        "http://u:p@h.example/",
        "not a url",
        "http://[::1/",
        "https://h.example/" + "x" * 1990,
    ],
)
async def test_malformed_urls_are_422(client: httpx.AsyncClient, url: str) -> None:
    admin = await f.organization(client)
    r = await client.post(
        f"{API}/webhooks", json={"url": url, "event_kinds": ["outbid"]}, headers=admin.headers
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_webhook_url"), r.text
    assert (await client.get(f"{API}/webhooks", headers=admin.headers)).json()["items"] == []


REFUSED_HOSTS = [
    "intranet.example.com",
    "metadata.example.com",
    "cgnat.example.com",
    "ula.example.com",
    "mapped.example.com",
    "nat64.example.com",
    "sixtofour.example.com",
    "mixed.example.com",
    "unknown.example.com",
    "10.1.1.1",
    "[fc00::1]",
    "[::ffff:10.0.0.1]",
    "169.254.169.254",
]


async def test_development_refuses_hosts_with_any_address_that_is_not_public(
    client: httpx.AsyncClient, backend: Backend, db: Database
) -> None:
    admin = await f.organization(client)
    async with env_client(backend, db, "development") as dev:
        for host in REFUSED_HOSTS:
            r = await dev.post(
                f"{API}/webhooks",
                json={"url": f"http://{host}/hook", "event_kinds": ["outbid"]},
                headers=admin.headers,
            )
            assert (r.status_code, r.json()["code"]) == (422, "invalid_webhook_url"), host
        for url in ("http://hooks.example.com/hook", "http://localhost:8080/hook", "http://127.0.0.1/"):
            r = await dev.post(
                f"{API}/webhooks", json={"url": url, "event_kinds": ["outbid"]}, headers=admin.headers
            )
            assert r.status_code == 201, r.text  # public, and loopback in development


async def test_production_takes_https_to_public_addresses_only(
    client: httpx.AsyncClient, backend: Backend, db: Database
) -> None:
    admin = await f.organization(client)
    async with env_client(backend, db, "production") as prod:
        for url in (
            "http://hooks.example.com/hook",
            "https://localhost/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://mixed.example.com/hook",
            "https://mapped.example.com/hook",
        ):
            r = await prod.post(
                f"{API}/webhooks", json={"url": url, "event_kinds": ["outbid"]}, headers=admin.headers
            )
            assert (r.status_code, r.json()["code"]) == (422, "invalid_webhook_url"), url
        r = await prod.post(
            f"{API}/webhooks",
            json={"url": "https://hooks.example.com/hook", "event_kinds": ["outbid"]},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text


async def test_deleting_hides_the_webhook_and_both_changes_are_audited_for_its_organization(
    client: httpx.AsyncClient,
) -> None:
    admin, member = await _admin_and_member(client)
    other = await f.organization(client)
    hook = await subscribe(client, admin, "http://127.0.0.1:9/hook", ["outbid"])
    r = await client.delete(f"{API}/webhooks/{hook['id']}", headers=admin.headers)
    assert r.status_code == 204 and r.content == b""
    assert (await client.get(f"{API}/webhooks/{hook['id']}", headers=admin.headers)).status_code == 404
    assert (await client.delete(f"{API}/webhooks/{hook['id']}", headers=admin.headers)).status_code == 404
    assert (await client.get(f"{API}/webhooks", headers=admin.headers)).json()["items"] == []

    params = {"entity_type": "webhook", "entity_id": hook["id"]}
    events = (await client.get(f"{API}/audit-events", params=params, headers=admin.headers)).json()["items"]
    assert sorted(e["action"] for e in events) == ["created", "deleted"]
    assert hook["secret"] not in str(events)
    r = await client.get(f"{API}/audit-events", params=params, headers=other.headers)
    assert r.status_code == 404
    # Its organization's admins read it; its other members do not (SPEC §17.6).
    r = await client.get(f"{API}/audit-events", params=params, headers=member.headers)
    assert r.status_code == 404


async def test_creation_honours_idempotency_keys(client: httpx.AsyncClient) -> None:
    admin = await f.organization(client)
    body = {"url": "http://127.0.0.1:9/hook", "event_kinds": ["outbid"]}
    headers = {**admin.headers, "Idempotency-Key": "hook-1"}
    first = await client.post(f"{API}/webhooks", json=body, headers=headers)
    again = await client.post(f"{API}/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert len((await client.get(f"{API}/webhooks", headers=admin.headers)).json()["items"]) == 1
