"""Webhook signatures, secrets, registration shape and which URLs may be called."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.domain.alerts import Event
from chalicelib.domain.webhook_urls import UnsafeUrlError, check_url
from chalicelib.domain.webhooks import (
    body_of,
    derive_secret,
    parse_registration,
    sign,
    verify,
)
from chalicelib.errors import ValidationError

EVENT = Event("evt_1", "alert.opened", "b1", "2026-01-10T18:00:00Z", {"alert": {"x": "1.10"}})


def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


def test_the_signature_is_hmac_sha256_of_time_dot_raw_body_as_design_says() -> None:
    body = body_of(EVENT)
    header = sign("whsec_abc", 1767000000, body)
    expected = hmac.new(b"whsec_abc", b"1767000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1767000000,v1={expected}"
    assert verify("whsec_abc", header, body, now=1767000100)


@pytest.mark.parametrize("change", ["body", "secret", "old", "garbled"])
def test_a_signature_fails_for_another_body_secret_an_old_time_or_garbage(change: str) -> None:
    body = body_of(EVENT)
    header = sign("whsec_abc", 1767000000, body)
    if change == "body":
        assert not verify("whsec_abc", header, body + b" ", now=1767000000)
    elif change == "secret":
        assert not verify("whsec_abd", header, body, now=1767000000)
    elif change == "old":
        assert not verify("whsec_abc", header, body, now=1767000000 + 301)
    else:
        assert not verify("whsec_abc", "t=x,v1=00", body, now=1767000000)


def test_a_secret_is_derived_per_bank_and_webhook_and_needs_the_key() -> None:
    one = derive_secret(b"k" * 32, "b1", "wh_1")
    assert one == derive_secret(b"k" * 32, "b1", "wh_1") and one.startswith("whsec_")
    others = {derive_secret(b"k" * 32, "b2", "wh_1"), derive_secret(b"k" * 32, "b1", "wh_2"),
              derive_secret(b"j" * 32, "b1", "wh_1")}
    assert len({one, *others}) == 4


def test_registration_defaults_to_alert_opened_and_refuses_unknown_events_and_fields() -> None:
    assert parse_registration({"url": "https://x.example/h"}) == ("https://x.example/h",
                                                                 ("alert.opened",))
    with pytest.raises(ValidationError) as caught:
        parse_registration({"url": 3, "events": ["alert.closed"], "secret": "mine"})
    assert {d.field for d in caught.value.details} == {"url", "events[0]", "secret"}


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data", "https://10.0.0.1/h", "https://192.168.1.2/h",
    "https://172.16.0.1/h", "https://127.0.0.1/h", "https://[::1]/h", "https://[fe80::1]/h",
    "https://[fd00:ec2::254]/h", "https://[::ffff:169.254.169.254]/h",
    "https://[::ffff:10.0.0.1]/h", "https://[2002:a00:1::]/h", "https://224.0.0.1/h",
    "https://240.0.0.1/h", "https://0.0.0.0/h", "https://100.64.0.1/h",
    "https://[64:ff9b::a00:1]/h", "https://[fc00::1]/h", "https://[ff02::1]/h"])
def test_private_link_local_loopback_multicast_reserved_and_metadata_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url(url, "prod", public)
    if url != "https://127.0.0.1/h":  # the dev stage's one exception (with localhost)
        with pytest.raises(UnsafeUrlError):
            check_url(url, "dev", public)


def test_a_name_resolving_to_a_private_address_is_refused_after_dns() -> None:
    with pytest.raises(UnsafeUrlError, match=r"resolves to 10\.1\.2\.3: it is a private"):
        check_url("https://rebind.example/h", "prod", lambda h, p: ["93.184.216.34", "10.1.2.3"])


@pytest.mark.parametrize("url", ["http://example.com/h", "ftp://example.com/h",
                                 "https://user:pw@example.com/h", "https://example.com/h#x",
                                 "https:///h", "https://exa mple.com/h", "https://e.com:99999/"])
def test_plain_http_other_schemes_credentials_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url(url, "prod", public)


def test_the_dev_stage_allows_http_to_localhost_and_127_only() -> None:
    loopback = lambda h, p: ["127.0.0.1"]  # noqa: E731
    target = check_url("http://localhost:8123/hook?x=1", "dev", loopback)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "http", "localhost", 8123, "/hook?x=1", "127.0.0.1")
    assert check_url("http://127.0.0.1:9/h", "dev", loopback).address == "127.0.0.1"
    for stage in ("prod", "local"):
        with pytest.raises(UnsafeUrlError):
            check_url("http://127.0.0.1:9/h", stage, loopback)
    with pytest.raises(UnsafeUrlError):  # localhost that resolves elsewhere private: refused
        check_url("http://localhost/h", "dev", lambda h, p: ["10.0.0.1"])


def test_a_public_https_url_connects_to_the_checked_address() -> None:
    target = check_url("https://hooks.example.com/in", "prod", public)
    assert (target.host, target.port, target.address) == ("hooks.example.com", 443,
                                                          "93.184.216.34")


def test_a_host_that_does_not_resolve_is_a_clear_refusal() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")
    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        check_url("https://nope.invalid/h", "prod", fail)
