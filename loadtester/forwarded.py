"""The client's address for the audit trail: the socket's peer, or `X-Forwarded-For` from a
proxy listed in `-trusted-proxies`."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """The networks of `-trusted-proxies`; ValueError names a bad one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   trusted: tuple[str, ...]) -> str:
    """Who sent the request, as far as the trusted proxies vouch for it.

    `forwarded_for` (every X-Forwarded-For header, in order) counts only when the socket's peer
    is trusted; then the right-most address that is not itself a trusted proxy is the client:
    everything left of it was written by the client and proves nothing.
    """
    address = peer or ""
    networks = parse_networks(trusted)
    if not networks or not _is_in(_parse(address), networks):
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:  # garbage from a client: the last trusted hop is all we know
            break
        address = str(parsed)
        if not _is_in(parsed, networks):
            break
    return address


def _parse(text: str) -> IPAddress | None:
    """An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_in(address: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    return address is not None and any(address in network for network in networks)
