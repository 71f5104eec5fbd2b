"""Pure rules of webhooks (SPEC §17.5): which URLs and addresses may be called, the event's bytes, the signature,
and when a failed delivery is tried again."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from app.kit.errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret
SECRET_BYTES = 32
# After the n-th failed attempt the next one waits RETRY_DELAYS[n-1]; after the last, the delivery has failed.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1  # 6 attempts in all

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


def new_secret() -> str:
    """``whsec_`` and 32 random bytes, URL-safe base64 (43 characters)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: where to connect (``host``, ``port``) and what to ask."""

    url: str
    scheme: str
    host: str  # a name, or an IP address without brackets
    port: int


def invalid_url(message: str) -> Unprocessable:
    return Unprocessable(
        f"The webhook URL is refused: {message}.",
        code="invalid_webhook_url",
        errors=[{"loc": ["body", "url"], "msg": message}],
    )


def parse_url(url: str, *, https_only: bool) -> Target:
    """An absolute http(s) URL with a host, no user info, at most 2,000 characters; ``https_only`` in
    production. Raises 422 ``invalid_webhook_url``."""
    target = split_url(url)
    if isinstance(target, str):
        raise invalid_url(target)
    if https_only and target.scheme != "https":
        raise invalid_url("https only")
    return target


def split_url(url: str) -> Target | str:
    """``url`` taken apart, or what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url) or not url.isascii():
        return "spaces, control or non-ASCII characters (percent-encode them; IDNA for names)"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket
        return "not a URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "not an absolute http or https URL"
    if "@" in parts.netloc:
        return "user info is not allowed"
    host = parts.hostname
    if not host:
        return "no host"
    try:
        port = parts.port
    except ValueError:
        return "invalid port"
    if port == 0:
        return "invalid port"
    if parts.netloc.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "invalid IPv6 address"
    elif not all(
        label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)
        for label in host.rstrip(".").split(".")
    ):
        return "invalid host name"
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def is_allowed(address: IPAddress, *, allow_loopback: bool) -> bool:
    """Whether the exchange may connect to ``address``: a public address (not private, loopback, link-local,
    shared, unspecified, multicast or reserved), or with ``allow_loopback`` a loopback one. An IPv6 form
    that embeds an IPv4 address is judged by that address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_allowed(inner, allow_loopback=allow_loopback)
        if address.scope_id:
            return False
    if address.is_loopback:
        return allow_loopback
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return False
    return not (
        address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def all_allowed(addresses: list[IPAddress], *, allow_loopback: bool) -> bool:
    """A host may be called only if it resolves and every address it resolves to is allowed."""
    return bool(addresses) and all(is_allowed(a, allow_loopback=allow_loopback) for a in addresses)


def _utc_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_body(
    event_id: uuid.UUID, kind: str, organization_id: uuid.UUID, created_at: datetime, data: Any
) -> str:
    """The event as sent: ``{"id", "kind", "organization_id", "created_at", "data"}``, compact UTF-8 JSON."""
    return json.dumps(
        {
            "id": str(event_id),
            "kind": kind,
            "organization_id": str(organization_id),
            "created_at": _utc_iso(created_at),
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Exchange-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def after_failure(attempts: int, attempted_at: datetime) -> datetime | None:
    """When a delivery that has now failed ``attempts`` times is tried next; None once it has failed for good."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return attempted_at + RETRY_DELAYS[attempts - 1]
