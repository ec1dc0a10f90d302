"""The SSRF guard: which webhook URLs and addresses are refused, and the reason each refusal gives.

Every address the guard must refuse has a row here, with the exact reason a bank reads in the
400 (`details[0].message`): a weaker guard either lets the address through or names another
reason, and the row fails either way.
"""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.domain.webhook_urls import UnsafeUrlError, check_url
from chalicelib.errors import FieldError

PUBLIC = "93.184.216.34"


def never_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal address is never resolved ({host}, {port})")


def refusal(url: str, stage: str = "prod", answers: list[str] | None = None) -> str:
    """The reason `check_url` refuses `url` with (the resolver answers `answers`)."""
    resolve = never_resolve if answers is None else (lambda h, p: answers)
    with pytest.raises(UnsafeUrlError) as caught:
        check_url(url, stage, resolve)
    (detail,) = caught.value.details
    assert detail.field == "url"
    assert caught.value.message == f"the webhook URL is refused: {detail.message}"
    return detail.message


METADATA = "it is the instance metadata address"
# Teredo carries its client's IPv4 address inverted in the last 32 bits.
TEREDO_METADATA = "2001:0:4136:e378:8000:63bf:5601:5601"  # client 169.254.169.254
TEREDO_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # client 127.0.0.1


@pytest.mark.parametrize(("address", "why"), [
    ("169.254.169.254", METADATA),
    ("[fd00:ec2::254]", METADATA),
    ("[::ffff:169.254.169.254]", METADATA),  # IPv4-mapped
    ("[2002:a9fe:a9fe::]", METADATA),  # 6to4
    (f"[{TEREDO_METADATA}]", METADATA),
    ("127.0.0.1", "it is a loopback address"),
    ("[::1]", "it is a loopback address"),
    ("[::ffff:127.0.0.1]", "it is a loopback address"),  # only the mapped address is loopback
    ("[2002:7f00:1::]", "it is a loopback address"),
    (f"[{TEREDO_LOOPBACK}]", "it is a loopback address"),
    ("169.254.1.1", "it is a link-local address"),
    ("[fe80::1]", "it is a link-local address"),
    ("224.0.0.1", "it is a multicast address"),  # `is_global` calls it global
    ("[ff02::1]", "it is a multicast address"),
    ("10.0.0.1", "it is a private address"),
    ("172.16.0.1", "it is a private address"),
    ("192.168.1.2", "it is a private address"),
    ("0.0.0.0", "it is a private address"),
    ("[::]", "it is a private address"),
    ("[fc00::1]", "it is a private address"),
    ("[2002:a00:1::]", "it is a private address"),  # 6to4 of 10.0.0.1: only the inner one
    ("[::ffff:10.0.0.1]", "it is a private address"),
    ("[::2]", "it is a reserved address"),
    ("[4000::1]", "it is a reserved address"),
    ("[64:ff9b::a00:1]", "it is a NAT64 address (it may translate to a private one)"),
    ("[64:ff9b:1::808:808]", "it is a NAT64 address (it may translate to a private one)"),
    ("[fec0::1]", "it is a site-local address"),  # `is_global` calls it global
    ("100.64.0.1", "it is not a public address"),  # shared address space (carrier NAT)
    ("[2002:6440:1::]", "it is not a public address"),  # 6to4 of it: global outside only
])
def test_each_address_that_is_not_public_is_refused_with_its_reason(address: str,
                                                                     why: str) -> None:
    url = f"https://{address}/h"
    assert refusal(url) == why
    if address != "127.0.0.1":  # the dev stage's one literal exception
        assert refusal(url, "dev") == why
    host = address.strip("[]")  # the same address answered by DNS names it in the reason
    assert refusal("https://hook.example/h", answers=[PUBLIC, host]) == (
        f"hook.example resolves to {ipaddress.ip_address(host)}: {why}")


ASCII = "its path and query must be ASCII (percent-encode the rest)"


@pytest.mark.parametrize(("url", "why"), [
    ("https://exa mple.com/h", "it contains whitespace or control characters"),
    ("https://example.com/h\x7f", "it contains whitespace or control characters"),
    ("https://example.com/h\x85", "it contains whitespace or control characters"),
    ("https://example.com/h\u202e", "it contains whitespace or control characters"),
    ("https://example.com/caf\u00e9", ASCII),
    ("https://example.com/h?q=\u00e9", ASCII),
    ("https://e.com:99999/", "it is not a valid URL (Port out of range 0-65535)"),
    ("ftp://example.com/h", "the scheme must be https"),
    ("https:///h", "it names no host"),
    ("https://user:pw@example.com/h",
     "credentials in the URL are not allowed (the signature authenticates us)"),
    ("https://user@example.com/h",
     "credentials in the URL are not allowed (the signature authenticates us)"),
    ("https://example.com/h#x", "a fragment (#...) is never sent; remove it"),
    ("http://example.com/h",
     "the scheme must be https (plain http only for 127.0.0.1 and localhost on the dev stage)"),
])
def test_each_malformed_or_unsafe_url_is_refused_with_its_reason(url: str, why: str) -> None:
    assert refusal(url, answers=[PUBLIC]) == why


def test_plain_http_on_the_dev_stage_is_only_for_localhost_and_127() -> None:
    why = "the scheme must be https (plain http only for 127.0.0.1 and localhost on the dev stage)"
    assert refusal("http://example.com/h", "dev", answers=[PUBLIC]) == why
    assert refusal("http://localhost/h", "prod", answers=["127.0.0.1"]) == why


def test_a_name_that_resolves_to_nothing_is_refused_saying_so() -> None:
    assert refusal("https://nothing.example/h", answers=[]) == (
        "its host 'nothing.example' does not resolve")


def test_the_resolver_is_asked_for_the_urls_host_and_port() -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return [PUBLIC]
    check_url("https://Hooks.Example.com/in", "prod", resolve)
    check_url("https://hooks.example.com:8443/in", "prod", resolve)
    check_url("http://localhost/in", "dev", resolve)
    assert asked == [("hooks.example.com", 443), ("hooks.example.com", 8443), ("localhost", 80)]


@pytest.mark.parametrize(("answer", "why"), [
    ("fe80::1%eth0", "resolves to fe80::1: it is a link-local address"),
    ("fd00:ec2::254%eth0", f"resolves to fd00:ec2::254: {METADATA}"),
    ("fe80::1%eth0%1", "resolves to fe80::1: it is a link-local address"),
])
def test_an_answers_zone_is_dropped_before_its_address_is_checked(answer: str,
                                                                  why: str) -> None:
    assert refusal("https://hook.example/h", answers=[answer]) == f"hook.example {why}"


@pytest.mark.parametrize(("url", "stage", "expected"), [
    ("https://hook.example", "prod", ("https", "hook.example", 443, "/")),
    ("https://hook.example?x=1", "prod", ("https", "hook.example", 443, "/?x=1")),
    ("https://hook.example:8443/a/b?x=1&y=2", "prod", ("https", "hook.example", 8443,
                                                       "/a/b?x=1&y=2")),
    ("http://localhost", "dev", ("http", "localhost", 80, "/")),
    ("http://127.0.0.1/in", "dev", ("http", "127.0.0.1", 80, "/in")),
])
def test_a_target_has_the_default_port_of_its_scheme_and_a_path_of_at_least_slash(
        url: str, stage: str, expected: tuple[str, str, int, str]) -> None:
    answer = "127.0.0.1" if stage == "dev" else PUBLIC
    target = check_url(url, stage, lambda h, p: [answer])
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        *expected, answer)


def test_the_refusal_is_a_400_on_the_url_field() -> None:
    with pytest.raises(UnsafeUrlError) as caught:
        check_url("https://10.0.0.1/h", "prod", never_resolve)
    assert caught.value.status == 400
    assert caught.value.details == [FieldError("url", "it is a private address")]
