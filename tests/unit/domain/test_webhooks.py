"""Webhook signatures, secrets, registration shape and which URLs may be called."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.domain.alerts import Event
from chalicelib.domain.webhook_urls import UnsafeUrlError, check_url
from chalicelib.domain.webhooks import (
    MAX_URL_CHARS,
    PING,
    Delivery,
    Webhook,
    body_of,
    derive_secret,
    parse_registration,
    ping_event,
    sign,
    verify,
)
from chalicelib.errors import FieldError, ValidationError

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


def test_the_body_is_compact_json_with_sorted_keys_at_every_level() -> None:
    event = Event("evt_1", "alert.opened", "b1", "2026-01-10T18:00:00Z",
                  {"webhook_id": "wh_1", "alert": {"z": "1.10", "a": [1, 2]}})
    assert body_of(event) == (b'{"created":"2026-01-10T18:00:00Z","data":{"alert":{"a":[1,2],'
                              b'"z":"1.10"},"webhook_id":"wh_1"},"id":"evt_1",'
                              b'"type":"alert.opened"}')


def test_a_signature_exactly_at_the_tolerance_passes_and_one_second_past_fails() -> None:
    body = body_of(EVENT)
    header = sign("whsec_abc", 1767000000, body)
    assert verify("whsec_abc", header, body, now=1767000300)
    assert verify("whsec_abc", header, body, now=1766999700)  # a clock 300 s behind ours
    assert not verify("whsec_abc", header, body, now=1767000301)
    assert not verify("whsec_abc", header, body, now=1766999699)
    assert verify("whsec_abc", header, body, now=1767000010, tolerance_s=10)
    assert not verify("whsec_abc", header, body, now=1767000011, tolerance_s=10)


def test_a_header_with_a_second_timestamp_is_refused_whatever_that_one_holds() -> None:
    body = body_of(EVENT)
    good = sign("whsec_abc", 1767000000, body)
    assert verify("whsec_abc", f"{good},v1=00", body, now=1767000000)  # any v1 may match
    for second in ("t=1767000000", "t==1767000000", "t=x=y", " t =1"):
        assert not verify("whsec_abc", f"{second},{good}", body, now=1767000000), second


def test_every_webhook_gets_the_ping_and_only_the_events_it_subscribed_to() -> None:
    hook = Webhook("b1", "wh_1", "https://x.example/h", ("alert.opened",), "2026-01-10T18:00:00Z")
    assert hook.wants(PING) and hook.wants("alert.opened")
    assert not hook.wants("alert.closed")
    assert Webhook("b1", "wh_1", "https://x.example/h", (), "t").wants(PING)


def test_a_ping_is_a_new_event_of_the_bank_naming_its_webhook() -> None:
    one, two = (ping_event("b1", "wh_1", "2026-01-10T18:00:00Z") for _ in range(2))
    assert (one.type, one.bank, one.created, one.data) == (
        "ping", "b1", "2026-01-10T18:00:00Z", {"webhook_id": "wh_1"})
    assert one.id.startswith("evt_") and len(one.id) == 28 and one.id != two.id


def test_a_delivery_line_answers_every_field_of_the_log_by_its_name() -> None:
    """`GET /webhooks/{id}/deliveries`: openapi.yaml's `Delivery`, every field required."""
    fresh = Delivery("wh_1", "evt_1", "alert.opened", "2026-01-10T18:00:00Z")
    assert fresh.to_json() == {
        "event_id": "evt_1", "event_type": "alert.opened", "created": "2026-01-10T18:00:00Z",
        "status": "pending", "attempts": 0, "first_attempt_at": None, "last_attempt_at": None,
        "last_status": None, "last_error": "", "next_retry_at": None}
    tried = Delivery("wh_1", "evt_1", "ping", "c", "failed", 3, "a1", "a3", 503, "HTTP 503",
                     "r4")
    assert tried.to_json() == {
        "event_id": "evt_1", "event_type": "ping", "created": "c", "status": "failed",
        "attempts": 3, "first_attempt_at": "a1", "last_attempt_at": "a3", "last_status": 503,
        "last_error": "HTTP 503", "next_retry_at": "r4"}


def test_each_attempt_counts_keeps_the_first_time_and_the_last_and_300_chars_of_error() -> None:
    line = Delivery("wh_1", "evt_1", "alert.opened", "c", next_retry_at="r1")
    first = line.attempted("a1", None, "x" * 400)
    assert (first.attempts, first.first_attempt_at, first.last_attempt_at, first.last_status,
            first.last_error, first.next_retry_at) == (1, "a1", "a1", None, "x" * 300, None)
    second = first.attempted("a2", 200, "")
    assert (second.attempts, second.first_attempt_at, second.last_attempt_at,
            second.last_status, second.last_error) == (2, "a1", "a2", 200, "")
    assert second.status == "pending"  # the caller settles it


ALL_EVENTS = "must be a non-empty list of ['alert.opened']"


@pytest.mark.parametrize(("body", "message", "details"), [
    ([], 'send an object: {"url": "https://...", "events": ["alert.opened"]}',
     [FieldError("body", "must be an object")]),
    ({"url": "https://x.example/h", "secret": "s", "id": "wh"}, "the webhook is invalid",
     [FieldError("secret", "is not a field of a webhook"),
      FieldError("id", "is not a field of a webhook")]),
    ({}, "the webhook is invalid", [FieldError("url", "is required: an https URL")]),
    ({"url": ""}, "the webhook is invalid", [FieldError("url", "is required: an https URL")]),
    ({"url": "https://x.example/" + "a" * (MAX_URL_CHARS - 17)}, "the webhook is invalid",
     [FieldError("url", "is longer than 2048 characters")]),
    ({"url": "https://x.example/h", "events": []}, "the webhook is invalid",
     [FieldError("events", ALL_EVENTS)]),
    ({"url": "https://x.example/h", "events": "alert.opened"}, "the webhook is invalid",
     [FieldError("events", ALL_EVENTS)]),
    ({"url": "https://x.example/h", "events": ["alert.opened", "alert.closed"]},
     "the webhook is invalid", [FieldError("events[1]", "must be one of ['alert.opened']")]),
])
def test_a_registration_is_refused_with_each_problem_named(
        body: object, message: str, details: list[FieldError]) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_registration(body)
    assert (caught.value.message, caught.value.details) == (message, details)


def test_a_url_of_exactly_the_limit_is_taken_and_repeated_events_are_kept_once() -> None:
    url = "https://x.example/" + "a" * (MAX_URL_CHARS - 18)
    assert len(url) == MAX_URL_CHARS and parse_registration(
        {"url": url, "events": ["alert.opened", "alert.opened"]}) == (url, ("alert.opened",))
