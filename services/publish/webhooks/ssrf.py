"""Where a webhook may point: URLs that resolve to non-public addresses are refused unless allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CATEGORIES = frozenset({"loopback", "private", "link-local", "metadata", "unspecified", "multicast", "reserved"})

# Cloud instance-metadata endpoints that are not link-local (169.254.169.254 is both).
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "fd00:ec2::254",
))


class WebhookUrlRefused(ValueError):
    """A webhook URL that is malformed or resolves to an address the settings do not allow."""


def category(address: IPAddress) -> str | None:
    """Why an address is not a public one (``None`` when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA:
        return "metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:  # e.g. the shared address space 100.64.0.0/10
        return "private"
    return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookUrlRefused(f"cannot resolve {host!r}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def check_webhook_url(url: str, allow: frozenset[str] | set[str]) -> None:
    """Raise :class:`WebhookUrlRefused` unless ``url`` is http(s) and every address it resolves to is allowed.

    Public addresses are always allowed; the others only when their category is in ``allow``.
    """
    await checked_addresses(url, allow)


async def checked_addresses(url: str, allow: frozenset[str] | set[str]) -> list[IPAddress]:
    """The addresses ``url`` resolves to, all allowed; a delivery connects to one of these, so a
    name that resolves differently a moment later (DNS rebinding) cannot redirect it."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookUrlRefused(f"not a usable URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused(f"a webhook URL must be http or https, got {url!r}")
    if not parts.hostname:
        raise WebhookUrlRefused(f"a webhook URL needs a host, got {url!r}")
    if parts.username or parts.password:
        raise WebhookUrlRefused("a webhook URL must not carry credentials")
    addresses = await _resolve(parts.hostname, port)
    if not addresses:
        raise WebhookUrlRefused(f"{parts.hostname!r} resolves to no address")
    for address in addresses:
        kind = category(address)
        if kind is not None and kind not in allow:
            raise WebhookUrlRefused(
                f"webhook URL {url!r} resolves to {address}, a {kind} address; "
                f"refused unless NEWSWIRE_WEBHOOK_ALLOW includes {kind}"
            )
    return addresses
