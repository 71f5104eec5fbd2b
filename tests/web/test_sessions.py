"""Sessions and CSRF of the web client (SPEC §19.2), over HTTP on both databases: the sign-in page and its
rate limits, the cookie's name and flags, the session kept as a hash, where a sign-in may send the browser
(open redirects), sign-out, idle and absolute expiry, every CSRF refusal on pages and on the API, and the
API taking the cookie only with the token."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from app.kit.db import Database
from app.main import create_app
from app.models.accounts import Organization
from app.models.web import WebSession
from app.web.security import CSP
from tests import factories as f
from tests.conftest import make_settings
from tests.web import helpers as w


async def _sessions(db: Database) -> list[WebSession]:
    async with db.read() as session:
        return list((await session.scalars(select(WebSession))).all())


@pytest.fixture
async def people(client: httpx.AsyncClient, db: Database) -> tuple[f.Actor, f.Actor]:
    op = await f.operator(client, db)
    return op, await f.organization(client, verified_by=op)


async def test_sign_in_starts_a_session_kept_as_a_hash(client: httpx.AsyncClient, db, people) -> None:
    op, member = people
    r = await client.get("/login")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    assert 'data-testid="login-email"' in r.text and 'data-testid="login-submit"' in r.text
    r = await w.sign_in(client, member.email)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    cookie = r.headers["set-cookie"]
    value = client.cookies[w.COOKIE]
    assert len(value) >= 43  # 256 random bits, URL-safe base64
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert flags[0] == f"{w.COOKIE}={value}".lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert not any(p.startswith(("max-age", "expires", "domain")) or p == "secure" for p in flags), cookie
    [stored] = await _sessions(db)
    assert stored.id_hash == hashlib.sha256(value.encode()).hexdigest()
    assert value not in (stored.id_hash, stored.csrf_token)
    r = await client.get("/dashboard")
    assert r.status_code == 200 and 'data-testid="nav-user"' in r.text
    assert r.headers["cache-control"] == "no-store"
    token = w.csrf_of(r.text)
    assert f'name="csrf_token" value="{token}"' in r.text  # the sign-out form's hidden field
    assert stored.csrf_token == token
    # An operator lands at the operator's desk; a new sign-in replaces the browser's session.
    r = await w.sign_in(client, op.email)
    assert r.status_code == 303 and r.headers["location"] == "/operator"
    sessions = await _sessions(db)
    assert len(sessions) == 1 and str(sessions[0].user_id) == op.id


async def test_wrong_credentials_and_the_rate_limit_of_the_token_route(
    client: httpx.AsyncClient, db, people
) -> None:
    _, member = people
    r = await w.sign_in(client, member.email, "wrong-password")
    assert r.status_code == 401 and "邮箱或密码错误" in r.text and 'data-testid="login-error"' in r.text
    assert w.COOKIE not in client.cookies and await _sessions(db) == []
    for _ in range(9):
        r = await client.post("/api/v1/auth/token", data={"username": member.email, "password": "nope"})
        assert r.status_code == 401
    # The window's ten failures are shared with the token route: the page refuses even the right password.
    r = await w.sign_in(client, member.email)
    assert r.status_code == 429 and "尝试次数过多，请稍后再试" in r.text
    assert int(r.headers["retry-after"]) > 0
    assert await _sessions(db) == []


@pytest.mark.parametrize(
    ("next_path", "where"),
    [
        ("/listings?q=电池", "/listings?q=电池"),
        ("/certificates/JZ2026-000001-1", "/certificates/JZ2026-000001-1"),
        ("//evil.example", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("/\t/evil.example", "/dashboard"),
        ("/\n/evil.example", "/dashboard"),
        ("/\r/evil.example", "/dashboard"),
        ("/ /evil.example", "/dashboard"),
        ("/\u3000/evil.example", "/dashboard"),
        ("/x\\y", "/dashboard"),
        ("/\x7f/evil.example", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("evil.example", "/dashboard"),
        ("", "/dashboard"),
    ],
)
async def test_next_is_followed_only_to_a_local_path(
    client: httpx.AsyncClient, db, people, next_path: str, where: str
) -> None:
    _, member = people
    r = await w.sign_in(client, member.email, next_path=next_path)
    assert r.status_code == 303
    assert httpx.URL(r.headers["location"]) == httpx.URL(where), r.headers["location"]


async def test_a_page_that_needs_sign_in_sends_to_login_with_next(
    client: httpx.AsyncClient, db, people
) -> None:
    _, member = people
    r = await client.get("/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/dashboard"
    r = await client.get("/login?next=/dashboard")
    assert 'name="next" value="/dashboard"' in r.text and 'data-testid="flash"' not in r.text
    r = await client.get("/login?next=//evil.example")
    assert 'name="next" value=""' in r.text  # a foreign next is not even carried along
    # A role's forbidden page is a 403 page.
    await w.sign_in(client, member.email)
    r = await client.get("/operator")
    assert r.status_code == 403 and "无权访问" in r.text and r.headers["content-type"].startswith("text/html")


async def test_sign_out_deletes_the_session_and_the_old_cookie_never_works(
    client: httpx.AsyncClient, db, people
) -> None:
    _, member = people
    await w.sign_in(client, member.email)
    old = client.cookies[w.COOKIE]
    token = await w.csrf_token(client, "/dashboard")
    r = await client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert f'{w.COOKIE}=""' in r.headers["set-cookie"] and "max-age=0" in r.headers["set-cookie"].lower()
    assert await _sessions(db) == []
    # The old value, sent again: a dead cookie is no session; the sign-in page says the session expired.
    client.cookies.set(w.COOKIE, old)
    r = await client.get("/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/dashboard"
    r = await client.get("/login?next=/dashboard")
    assert "登录已过期，请重新登录" in r.text and 'data-testid="flash"' in r.text
    client.cookies.set(w.COOKIE, old)
    r = await client.get("/api/v1/me", headers={"X-CSRF-Token": token})
    assert r.status_code == 401


async def _app_client(db: Database, url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(url, **settings), db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_idle_and_absolute_expiry_in_real_time(backend, db, client: httpx.AsyncClient, people) -> None:
    _, member = people
    async for idle in _app_client(db, backend.url, session_idle_minutes=0.05):  # 3 s
        await w.sign_in(idle, member.email)
        for _ in range(4):  # in use: kept alive past the idle limit
            await asyncio.sleep(1.0)
            assert (await idle.get("/dashboard")).status_code == 200
        await asyncio.sleep(3.5)
        r = await idle.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/dashboard"
        assert await _sessions(db) == []
    async for short in _app_client(db, backend.url, session_max_hours=3 / 3600):  # 3 s in all
        await w.sign_in(short, member.email)
        await asyncio.sleep(0.5)
        assert (await short.get("/dashboard")).status_code == 200
        await asyncio.sleep(3.0)
        assert (await short.get("/dashboard")).status_code == 303


async def test_csrf_refusals_on_pages(client: httpx.AsyncClient, db, people) -> None:
    _, member = people
    await w.sign_in(client, member.email)
    token = await w.csrf_token(client, "/dashboard")
    for data, headers in [
        ({}, {}),
        ({"csrf_token": "wrong"}, {}),
        ({"csrf_token": token[:-1]}, {}),
        ({"csrf_token": token}, {"Origin": "http://evil.example"}),
        ({"csrf_token": token}, {"Origin": "null"}),
        ({"csrf_token": token}, {"Sec-Fetch-Site": "cross-site"}),
        ({}, {"X-CSRF-Token": "wrong"}),
    ]:
        r = await client.post("/logout", data=data, headers=headers)
        assert r.status_code == 403, (data, headers)
        assert r.headers["content-type"].startswith("text/html") and "页面已过期，请刷新页面" in r.text
        assert r.headers["content-security-policy"] == CSP
        assert len(await _sessions(db)) == 1  # nothing changed
    # The header works as well as the field, and same-origin requests pass.
    r = await client.post(
        "/logout", headers={"X-CSRF-Token": token, "Origin": "http://test", "Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 303 and await _sessions(db) == []


async def test_origin_checks_on_pages_without_a_session(client: httpx.AsyncClient, db, people) -> None:
    """Login CSRF: a foreign page cannot sign a browser in; a stale cookie never blocks a sign-in."""
    _, member = people
    data = {"email": member.email, "password": f.PASSWORD, "next": ""}
    r = await client.post("/login", data=data, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and await _sessions(db) == []
    r = await client.post("/login", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and await _sessions(db) == []
    r = await client.post(
        "/login", data=data, headers={"Origin": "http://test", "Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 303
    # Signed in already, without the token: POST /login is exempt from the token rule.
    r = await client.post("/login", data=data)
    assert r.status_code == 303 and len(await _sessions(db)) == 1


async def test_the_public_url_is_an_allowed_origin(backend, db, people) -> None:
    _, member = people
    async for c in _app_client(db, backend.url, public_url="https://ip.example.cn"):
        data = {"email": member.email, "password": f.PASSWORD, "next": ""}
        r = await c.post("/login", data=data, headers={"Origin": "https://ip.example.cn"})
        assert r.status_code == 303
        r = await c.post("/login", data=data, headers={"Origin": "https://other.example.cn"})
        assert r.status_code == 403


async def test_the_api_takes_the_cookie_only_with_the_token(client: httpx.AsyncClient, db, people) -> None:
    op, member = people
    await w.sign_in(client, member.email)
    token = await w.csrf_token(client, "/dashboard")
    # Safe: without the token the cookie is ignored (anonymous); with it, the session's user.
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers={"X-CSRF-Token": "wrong"})).status_code == 401
    r = await client.get("/api/v1/me", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["id"] == member.id
    # Unsafe without the token: 403 csrf_failed as problem+json, and nothing happens (a public POST too).
    body = {
        "name": "跨站机构",
        "kind": "enterprise",
        "credit_code": f.credit_code(990001),
        "admin": {"email": "csrf@example.cn", "password": f.PASSWORD, "name": "甲"},
    }
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": token, "Origin": "http://evil.example"}):
        r = await client.post("/api/v1/organizations", json=body, headers=headers)
        assert r.status_code == 403, headers
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "csrf_failed"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 1  # the member's
    # A bearer token (or an API key) makes the API ignore the cookie: no CSRF rule applies to it.
    r = await client.post(
        "/api/v1/organizations", json=body, headers={**op.headers, "Origin": "http://evil.example"}
    )
    assert r.status_code == 201, r.text
    # With the token, an unsafe call with the cookie passes.
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": "x"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 204


async def test_a_dead_cookie_counts_as_no_cookie(client: httpx.AsyncClient, db, people) -> None:
    client.cookies.set(w.COOKIE, "not-a-session-at-all")
    body = {
        "name": "无会话机构",
        "kind": "enterprise",
        "credit_code": f.credit_code(990002),
        "admin": {"email": "dead@example.cn", "password": f.PASSWORD, "name": "乙"},
    }
    r = await client.post("/api/v1/organizations", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 201, r.text
    r = await client.get("/dashboard")
    assert r.status_code == 303


async def test_cors_never_allows_credentials(backend, db) -> None:
    async for c in _app_client(db, backend.url, cors_origins="https://app.example.cn"):
        r = await c.options(
            "/api/v1/listings",
            headers={"Origin": "https://app.example.cn", "Access-Control-Request-Method": "POST"},
        )
        assert r.headers.get("access-control-allow-origin") == "https://app.example.cn"
        assert "access-control-allow-credentials" not in r.headers
        r = await c.get("/api/v1/listings", headers={"Origin": "https://app.example.cn"})
        assert "access-control-allow-credentials" not in r.headers


async def test_production_cookie_is_secure_with_the_host_prefix(backend, db, client, people) -> None:
    _, member = people
    async for c in _app_client(
        db,
        backend.url,
        env="production",
        sandbox=False,
        fast_password_hashing=False,
        secret_key="x" * 40,
        public_url="https://ip.example.cn",
    ):
        r = await c.post(
            "/login",
            data={"email": member.email, "password": f.PASSWORD, "next": ""},
            headers={"Origin": "https://ip.example.cn"},
        )
        assert r.status_code == 303
        flags = [p.strip().lower() for p in r.headers["set-cookie"].split(";")]
        assert flags[0].startswith("__host-exchange_session=")
        assert {"secure", "httponly", "path=/", "samesite=lax"} <= set(flags)
        assert not any(p.startswith(("domain", "max-age", "expires")) for p in flags)
