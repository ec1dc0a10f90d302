"""Which webhook URLs may be called: https on public addresses only, checked after DNS.

A URL is checked at registration and again at every delivery (DNS may answer differently the
second time: rebinding), on the addresses its host resolves to; the delivery then connects to
the checked address itself, never resolving again. Every address the name resolves to must be
public: one private answer among public ones refuses the URL. On the `dev` stage only, plain
`http` and loopback are allowed for the hosts `127.0.0.1` and `localhost` (local receivers).
The resolver is passed in (`socket.getaddrinfo` in production) so this stays pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.errors import FieldError, ValidationError

DEV_STAGE = "dev"
DEV_HOSTS = frozenset({"127.0.0.1", "localhost"})
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]  # (host, port) -> the addresses it names
# Prefixes `is_global` calls global but that reach private space: NAT64 translates the last
# 32 bits to an IPv4 address we cannot see (RFC 6052, RFC 8215).
TRANSLATED = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


class UnsafeUrlError(ValidationError):
    """The URL is not one we will call (400, the field is `url`)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"the webhook URL is refused: {why}", [FieldError("url", why)])


@dataclass(frozen=True)
class Target:
    """Where a delivery connects: the checked address, with the URL's host for TLS and Host."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line
    address: str


def _embedded(ip: IpAddress) -> IpAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo's client), else itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if inner is not None:
                return inner
    return ip


def address_problem(ip: IpAddress, allow_loopback: bool) -> str | None:
    """Why this address may not be called, or None: only public unicast passes."""
    inner = _embedded(ip)
    if ip in METADATA or inner in METADATA:
        return "it is the instance metadata address"
    if allow_loopback and inner.is_loopback:
        return None
    # Before the flags: `is_reserved` holds for all of NAT64's prefixes too (inside ::/8), and
    # "reserved" would hide the reason these are refused.
    if any(ip in net for net in TRANSLATED):
        return "it is a NAT64 address (it may translate to a private one)"
    # (No "unspecified": 0.0.0.0/8 and :: are in `is_private`'s tables, and `is_global`
    # below refuses whatever the flags miss.)
    for flag, why in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                      ("is_multicast", "multicast"), ("is_private", "private"),
                      ("is_reserved", "reserved")):
        if getattr(ip, flag) or getattr(inner, flag):
            return f"it is a {why} address"
    # fec0::/10, deprecated (RFC 3879) but still routed where configured: `is_global` says yes.
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "it is a site-local address"
    if not (ip.is_global and inner.is_global):
        return "it is not a public address"
    return None


def _split(url: str, stage: str) -> tuple[str, str, int, str]:
    # Not printable: C0 and C1 controls, DEL, bidi and other format characters.
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UnsafeUrlError("it contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"it is not a valid URL ({exc})") from exc
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http"):
        raise UnsafeUrlError("the scheme must be https")
    if not host:
        raise UnsafeUrlError("it names no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("credentials in the URL are not allowed (the signature"
                             " authenticates us)")
    if parts.fragment:
        raise UnsafeUrlError("a fragment (#...) is never sent; remove it")
    dev_host = stage == DEV_STAGE and host in DEV_HOSTS
    if parts.scheme == "http" and not dev_host:
        raise UnsafeUrlError("the scheme must be https (plain http only for 127.0.0.1 and"
                             " localhost on the dev stage)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii():  # the request line is ASCII: http.client cannot send it
        raise UnsafeUrlError("its path and query must be ASCII (percent-encode the rest)")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def check_url(url: str, stage: str, resolve: Resolver) -> Target:
    """The address to deliver `url` to, or UnsafeUrlError saying why it may not be."""
    scheme, host, port, path = _split(url, stage)
    allow_loopback = stage == DEV_STAGE and host in DEV_HOSTS
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)  # urlsplit took off the brackets
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise UnsafeUrlError(f"its host {host!r} does not resolve") from exc
        if not addresses:
            raise UnsafeUrlError(f"its host {host!r} does not resolve")
    for ip in addresses:
        why = address_problem(ip, allow_loopback)
        if why is not None:
            raise UnsafeUrlError(f"{host} resolves to {ip}: {why}" if literal is None else why)
    return Target(scheme, host, port, path, str(addresses[0]))
