"""The SSRF rule for URL builds: which hosts the frontend may fetch from, and where it connects."""

from __future__ import annotations

import pytest

from rpmyard.builds.url_guard import Pinned, RefusedUrl, check_url, pin


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/x.src.rpm", "127.0.0.1 is a loopback address"),
        ("http://127.1.2.3:8080/x.src.rpm", "127.1.2.3 is a loopback address"),
        ("http://10.0.0.7/x.src.rpm", "10.0.0.7 is a private address"),
        ("http://192.168.1.1/x.src.rpm", "192.168.1.1 is a private address"),
        ("http://169.254.169.254/latest/x.src.rpm", "169.254.169.254 is a link-local address"),
        ("http://100.64.0.1/x.src.rpm", "100.64.0.1 is a non-public address"),
        ("http://0.0.0.0/x.src.rpm", "0.0.0.0 is a private address"),
        ("http://[::1]/x.src.rpm", "::1 is a loopback address"),
        ("http://[fd00::5]/x.src.rpm", "fd00::5 is a private address"),
        ("https://localhost/x.src.rpm", "localhost is this host"),
        ("https://repo.localhost/x.src.rpm", "repo.localhost is this host"),
    ],
)
def test_own_network_addresses_are_refused_at_submission(url: str, why: str) -> None:
    with pytest.raises(RefusedUrl, match=f"^{why}; "):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)  # an admin may allow them


@pytest.mark.parametrize("url", ["ftp://example.org/x.src.rpm", "file:///etc/passwd", "x.src.rpm", "http:///x"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(RefusedUrl):
        check_url(url, allow_private=True)


def test_public_addresses_and_names_pass_submission() -> None:
    check_url("https://8.8.8.8/x.src.rpm", allow_private=False)
    check_url("https://download.example.org/pub/x.src.rpm", allow_private=False)  # checked when fetched


def test_pin_resolves_and_checks_every_form_of_an_address() -> None:
    # 2130706433 is 127.0.0.1 written as one number: the resolver's answer is what counts.
    for url in ("http://2130706433:8080/x.src.rpm", "http://localhost:8080/x.src.rpm"):
        with pytest.raises(RefusedUrl, match="is a loopback address"):
            pin(url, allow_private=False)


def test_pin_aims_at_the_checked_address_and_keeps_the_host_for_http_and_tls() -> None:
    assert pin("http://localhost:8080/a/b.src.rpm?x=1#frag", allow_private=True) == Pinned(
        url="http://127.0.0.1:8080/a/b.src.rpm?x=1", host="localhost:8080", server_name="localhost")
    assert pin("https://127.0.0.1/x.src.rpm", allow_private=True) == Pinned(
        url="https://127.0.0.1:443/x.src.rpm", host="127.0.0.1", server_name="127.0.0.1")
    assert pin("http://[::1]:81/x", allow_private=True) == Pinned(
        url="http://[::1]:81/x", host="[::1]:81", server_name="::1")


def test_an_unresolvable_name_is_refused_with_the_reason() -> None:
    with pytest.raises(RefusedUrl, match="cannot resolve no-such-host.invalid"):
        pin("http://no-such-host.invalid/x.src.rpm", allow_private=False)
