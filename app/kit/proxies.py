"""Who the client is behind reverse proxies (SPEC §20, ``EXCHANGE_TRUSTED_PROXIES``).

Each proxy appends the address of its own peer to ``X-Forwarded-For``; everything to the left of what the
first trusted proxy appended was written by the client and proves nothing. So the client is the peer, or,
only when the peer is a trusted proxy, the right-most forwarded address that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# The longest form an address can take in the header (a bracketed IPv6 address with a port and a zone
# would be longer, but proxies do not write zones); anything longer is garbage, not worth parsing.
_MAX_ENTRY = 64


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDRs (``10.0.0.0/8, 192.0.2.1, ::1``); ValueError names a bad entry."""
    networks = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {item!r}") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it — ``192.0.2.1``, ``192.0.2.1:4711``, ``2001:db8::1``,
    ``[2001:db8::1]`` or ``[2001:db8::1]:443`` — with an IPv4-mapped IPv6 address read as IPv4; None for
    anything else."""
    text = text.strip()
    if not text or len(text) > _MAX_ENTRY:
        return None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return None
        text = host
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has at least two colons
        host, _, port = text.partition(":")
        if not _is_port(port):
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]) -> str:
    """The client's address for ``peer`` (the connection's remote address) and the request's
    ``X-Forwarded-For`` headers (each a comma-separated list; several headers are one list, in order)."""
    if peer is None:
        return "unknown"
    address = parse_address(peer)
    if address is None or not _trusted(address, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        forwarded = parse_address(hop)
        if forwarded is None:
            # Not what a trusted proxy writes: the last address one vouched for is all we know.
            break
        address = forwarded
        if not _trusted(address, trusted):
            break
    return str(address)
