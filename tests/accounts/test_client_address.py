"""The client address behind reverse proxies (SPEC §20, ``EXCHANGE_TRUSTED_PROXIES``): the peer, or, only when
the peer is a trusted proxy, the right-most ``X-Forwarded-For`` address that is not itself a trusted proxy."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings
from app.kit.db import Database
from app.kit.proxies import client_address, parse_networks
from app.main import create_app
from tests import factories as f
from tests.conftest import Backend, make_settings

TRUSTED = parse_networks("10.0.0.0/8, 192.0.2.1, ::1, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No trusted proxy in front: the peer, whatever the header says.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        ("203.0.113.5", [], "203.0.113.5"),
        # A trusted proxy: the address it saw, not what the client wrote before it.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["spoofed, 6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("192.0.2.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        # A chain of trusted proxies is skipped from the right; several headers are one list, in order.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.9, 10.1.2.3"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1, 10.0.0.9"], "198.51.100.1"),
        # Ports, brackets and spaces as proxies write them; IPv6 and IPv4-mapped peers.
        ("10.0.0.2", ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("10.0.0.2", ["  2001:DB8:0::7  "], "2001:db8::7"),
        ("::1", ["198.51.100.1"], "198.51.100.1"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("fd00::1", ["fd00::2, 198.51.100.1, fd12::3"], "198.51.100.1"),
        # A trusted proxy without the header (a health check), or only trusted hops: the furthest known.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.7, 10.0.0.8"], "10.0.0.7"),
        # Garbage where an address should be: stop at the last address a trusted proxy vouched for.
        ("10.0.0.2", ["198.51.100.1, garbage"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, 10.0.0.8, "], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, unknown, 10.0.0.8"], "10.0.0.8"),
        ("10.0.0.2", ["x" * 10_000], "10.0.0.2"),
        ("10.0.0.2", ["garbage, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["1.2.3.4.5"], "10.0.0.2"),
        ("10.0.0.2", ["[198.51.100.1"], "10.0.0.2"),
        # A peer that is not an address at all is nobody's proxy.
        ("testclient", ["198.51.100.1"], "testclient"),
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, TRUSTED) == expected


def test_nothing_is_trusted_by_default() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"
    assert Settings(env="test", secret_key="s" * 40).trusted_proxies == ()  # type: ignore[arg-type]


def test_the_setting_is_validated() -> None:
    settings = Settings(env="test", secret_key="s" * 40, trusted_proxies=" 10.0.0.0/8,192.0.2.1 , ::1,")  # type: ignore[arg-type]
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    for bad in ("10.0.0.0/33", "proxy.example.cn", "10.0.0.1-10.0.0.9", "*"):
        with pytest.raises(ValidationError, match="trusted_proxies"):
            Settings(env="test", secret_key="s" * 40, trusted_proxies=bad)  # type: ignore[arg-type]


async def _fail_ten_times(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for i in range(10):
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": f"nobody{i}@example.cn", "password": "wrong-password"},
            headers=headers,
        )
        assert r.status_code == 401, r.text


async def test_users_behind_a_trusted_proxy_do_not_lock_each_other_out(
    backend: Backend, db: Database
) -> None:
    # The test transport's peer is 127.0.0.1: here it is the exchange's reverse proxy.
    app = create_app(make_settings(backend.url, trusted_proxies="127.0.0.1"), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        org = await f.organization(client)
        await _fail_ten_times(client, {"X-Forwarded-For": "198.51.100.1"})
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": org.email, "password": f.PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.1"},
        )
        assert r.status_code == 429, r.text
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": org.email, "password": f.PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.2"},
        )
        assert r.status_code == 200, r.text
        # What the client writes itself does not change who it is.
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": org.email, "password": f.PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.2, 198.51.100.1"},
        )
        assert r.status_code == 429, r.text


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    client: httpx.AsyncClient, db: Database
) -> None:
    for i in range(10):
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": f"nobody{i}@example.cn", "password": "wrong-password"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert r.status_code == 401, r.text
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": "someone@example.cn", "password": "wrong-password"},
        headers={"X-Forwarded-For": "198.51.100.200"},
    )
    assert r.status_code == 429, r.text
