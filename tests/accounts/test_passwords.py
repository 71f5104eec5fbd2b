"""Passwords are taken exactly as typed (SPEC §20): no trimming, any Unicode, at sign-up, member creation and
login alike."""

from __future__ import annotations

import httpx
import pytest

from tests import factories as f

AS_TYPED = [
    "  spaces around it  ",
    "\tleading tab and trailing newline\n",
    "密码：天王盖地虎，宝塔镇河妖",
    "Ünïcødé pässwörd ✓ 🔑",
]


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> int:
    r = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    return r.status_code


@pytest.mark.parametrize("password", AS_TYPED)
async def test_sign_up_keeps_the_password_exactly(client: httpx.AsyncClient, db, password: str) -> None:
    email = "typed@org.example.cn"
    r = await client.post(
        "/api/v1/organizations",
        json={
            "name": "按原样保存密码的公司",
            "kind": "enterprise",
            "credit_code": f.credit_code(4242),
            "admin": {"email": email, "password": password, "name": "管理员"},
        },
    )
    assert r.status_code == 201, r.text
    assert await _sign_in(client, email, password) == 200
    if password.strip() != password:
        assert await _sign_in(client, email, password.strip()) == 401


async def test_member_creation_keeps_the_password_exactly(client: httpx.AsyncClient, db) -> None:
    org = await f.organization(client)
    password = "  成员密码 with spaces  "
    r = await client.post(
        f"/api/v1/organizations/{org.org_id}/members",
        json={"email": "member@org.example.cn", "password": password, "name": "成员"},
        headers=org.headers,
    )
    assert r.status_code == 201, r.text
    assert await _sign_in(client, "member@org.example.cn", password) == 200
    assert await _sign_in(client, "member@org.example.cn", password.strip()) == 401


async def test_length_counts_the_characters_as_typed(client: httpx.AsyncClient, db) -> None:
    """Ten characters, spaces included, are enough; nine are not, whatever surrounds them."""
    base = {"name": "长度测试公司", "kind": "enterprise", "credit_code": f.credit_code(4243)}
    r = await client.post(
        "/api/v1/organizations",
        json={**base, "admin": {"email": "short@org.example.cn", "password": "    short", "name": "A"}},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "password"
    r = await client.post(
        "/api/v1/organizations",
        json={**base, "admin": {"email": "ten@org.example.cn", "password": "     short", "name": "A"}},
    )
    assert r.status_code == 201, r.text
    assert await _sign_in(client, "ten@org.example.cn", "     short") == 200
