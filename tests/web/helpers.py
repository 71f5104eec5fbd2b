"""Helpers of the web client's HTTP tests: sign in through the page, read a page's CSRF token."""

from __future__ import annotations

import re

import httpx

from tests import factories as f

COOKIE = "exchange_session"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = f.PASSWORD, next_path: str = ""
) -> httpx.Response:
    return await client.post("/login", data={"email": email, "password": password, "next": next_path})


def csrf_of(html: str) -> str:
    found = _META.search(html)
    assert found, "no csrf-token meta on the page"
    return found.group(1)


async def csrf_token(client: httpx.AsyncClient, path: str = "/listings") -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)
