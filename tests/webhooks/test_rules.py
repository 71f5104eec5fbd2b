"""The pure rules of webhooks (SPEC §17.5): URLs, addresses, the signature, the retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.kit.errors import Unprocessable
from app.webhooks.rules import (
    after_failure,
    all_allowed,
    event_body,
    is_allowed,
    new_secret,
    parse_url,
    signature,
)

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # shared (carrier-grade NAT)
    "100.127.255.254",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "ff0e::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    loopback = (
        ip.is_loopback
        or (
            isinstance(ip, ipaddress.IPv6Address)
            and ip.ipv4_mapped is not None
            and ip.ipv4_mapped.is_loopback
        )
        or address == "64:ff9b::7f00:1"
    )
    assert not is_allowed(ip, allow_loopback=False)
    assert is_allowed(ip, allow_loopback=True) is loopback  # development: loopback only


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_allowed(ipaddress.ip_address(address), allow_loopback=False)


def test_a_host_is_refused_when_any_of_its_addresses_is_not_public_or_it_has_none() -> None:
    public, private = ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.1.2.3")
    assert all_allowed([public], allow_loopback=False)
    assert not all_allowed([public, private], allow_loopback=False)
    assert not all_allowed([], allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "/hook",
        "http://user:pw@example.com/hook",
        "https://user@example.com/hook",
        "http:///hook",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://[::1/",
        "http://例子.com/",
        "http://exa\x00mple.com/",
        "https://example.com/" + "a" * 2000,
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        parse_url(url, https_only=False)
    assert refused.value.code == "invalid_webhook_url"


def test_production_takes_https_only() -> None:
    with pytest.raises(Unprocessable):
        parse_url("http://example.com/hook", https_only=True)
    target = parse_url("https://Example.com/hook?x=1", https_only=True)
    assert (target.scheme, target.host, target.port) == ("https", "example.com", 443)
    assert parse_url("http://[2606:4700::1]:8080/", https_only=False).host == "2606:4700::1"


def test_the_secret_is_whsec_and_32_random_bytes_url_safe() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    raw = base64.urlsafe_b64decode(secret.removeprefix("whsec_") + "=")
    assert len(raw) >= 32
    assert new_secret() != secret


def test_the_signature_is_hmac_sha256_of_t_dot_body() -> None:
    body = '{"a":"中"}'.encode()
    sig = signature("whsec_k", 1700000000, body)
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sig == f"t=1700000000,v1={expected}"


def test_the_event_body_has_exactly_the_five_fields() -> None:
    event_id, org = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    body = event_body(event_id, "outbid", org, at, {"price": "1.00", "名": "值"})
    assert json.loads(body) == {
        "id": str(event_id),
        "kind": "outbid",
        "organization_id": str(org),
        "created_at": "2026-11-25T02:00:00Z",
        "data": {"price": "1.00", "名": "值"},
    }


def test_retries_after_10s_1min_10min_1h_6h_then_failed() -> None:
    at = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    delays = [after_failure(n, at) for n in range(1, 7)]
    assert delays[:5] == [
        at + timedelta(seconds=10),
        at + timedelta(minutes=1),
        at + timedelta(minutes=10),
        at + timedelta(hours=1),
        at + timedelta(hours=6),
    ]
    assert delays[5] is None
