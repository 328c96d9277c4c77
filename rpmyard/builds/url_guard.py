"""Which URLs the frontend fetches SRPMs from: public addresses only, and only the ones it checked.

A URL build makes the frontend host send a GET to an address a user chose. Unchecked, that
reaches whatever only this host can reach: the database, the broker, a cloud's metadata service
at 169.254.169.254, admin pages on 127.0.0.1. So each host name is resolved here, every address
it has must be public (``ipaddress`` calls it global), and the connection goes to the address
that was checked, with the URL's host kept for the Host header and for TLS, so DNS cannot swap
the address between the check and the connect. Redirects are followed one hop at a time and
each hop is checked the same way. ``allow_private_urls`` lifts the rule, for a site that builds
from a mirror on its own network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from rpmyard.builds.errors import BadRequest

MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
HINT = "this service fetches SRPMs only from public addresses (an admin can allow others: allow_private_urls)"


class RefusedUrl(BadRequest):
    """A URL the service will not fetch; the message says why, for the user."""


@dataclass(frozen=True)
class Pinned:
    """A request to make: ``url`` names the checked address; ``host`` goes in the Host header and
    ``server_name`` is what TLS verifies the certificate against."""

    url: str
    host: str
    server_name: str


def _parts(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL that names a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedUrl(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise RefusedUrl(f"{url!r} is not an http(s) URL of a source RPM")
    if not parts.hostname:
        raise RefusedUrl(f"{url!r} names no host")
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], target


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    for attr, name in (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_private", "private"),
                       ("is_multicast", "multicast"), ("is_unspecified", "unspecified"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return name
    return "non-public"


def _refusal(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_global:
        return None
    shown = str(ip) if str(ip) == host else f"{host} ({ip})"
    return f"{shown} is a {_kind(ip)} address; {HINT}"


def check_url(url: str, *, allow_private: bool) -> None:
    """What can be told without DNS, at submission: the scheme, a literal address, ``localhost``."""
    host = _parts(url)[1]
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise RefusedUrl(f"{host} is this host; {HINT}")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: resolved and checked when it is fetched
    refusal = _refusal(host, ip)
    if refusal:
        raise RefusedUrl(refusal)


def pin(url: str, *, allow_private: bool) -> Pinned:
    """Resolve the URL's host, check every address, and aim the request at the first one."""
    scheme, host, port, target = _parts(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedUrl(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise RefusedUrl(f"{host} has no address")
    if not allow_private:
        for ip in addresses:  # one private address is enough to refuse: which one is used is not ours to pick
            refusal = _refusal(host, ip)
            if refusal:
                raise RefusedUrl(refusal)
    ip = addresses[0]
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    named = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets in the Host header
    return Pinned(url=f"{scheme}://{netloc}:{port}{target}",
                  host=named if port == DEFAULT_PORTS[scheme] else f"{named}:{port}", server_name=host)
