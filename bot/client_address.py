"""Who is calling: the network address that rate limits and the sign-in throttle count by. One rule for
the Rasa server's webhooks and the staff console, so they can't disagree about which header to trust."""

from __future__ import annotations

import ipaddress
from typing import Optional


def client_address(peer: Optional[str], forwarded_for: Optional[str], trusted_proxies: int) -> Optional[str]:
    """The connection's `peer` address, or with `trusted_proxies` > 0 the entry that many places from the
    right of X-Forwarded-For: each trusted reverse proxy appends the address it saw, and entries further
    left were written by the client and prove nothing. With no trusted proxy the header is ignored (anyone
    can send one). A header too short or not holding an IP address gives the peer, so a forged header can
    only ever share the proxy's own bucket."""
    if trusted_proxies > 0 and forwarded_for:
        entries = [part.strip() for part in forwarded_for.split(",")]
        if len(entries) >= trusted_proxies:
            try:
                return str(ipaddress.ip_address(entries[-trusted_proxies]))
            except ValueError:
                pass
    return peer


def address_bucket(address: str) -> str:
    """What limits count by: an IPv4 address as it is, an IPv6 address by its /64 network (one household
    or one server gets a whole /64, so counting single IPv6 addresses would give an attacker billions of
    fresh ones). Anything that isn't an IP address is returned unchanged."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:203.0.113.9 is the IPv4 caller 203.0.113.9
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
