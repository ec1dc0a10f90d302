"""The webhook routes through the app: registration, listing, deletion, ping, the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.bootstrap import Runtime, set_runtime
from chalicelib.domain.webhooks import derive_secret
from chalicelib.usecases.api_keys import create_key
from tests.conftest import TEST_KEY
from tests.support.outbox import webhook_runtime

HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["alert.opened"]}


class Caller:
    """One bank's calls to the API (its own key)."""

    def __init__(self, client: Client, key: str) -> None:
        self.client, self.key = client, key

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"x-api-key": self.key, "content-type": "application/json"}
        raw = json.dumps(body) if body is not None else None
        response = getattr(self.client.http, method)(path, body=raw, headers=headers)
        return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def wrt(runtime: Runtime, tmp_path: Path) -> Runtime:
    return webhook_runtime(runtime, tmp_path, max_per_bank=3)


@pytest.fixture
def banks(wrt: Runtime) -> Iterator[tuple[Caller, Caller]]:
    other, _ = create_key(wrt.store, "bank-b")
    with Client(app) as client:
        yield Caller(client, TEST_KEY), Caller(client, other)
    set_runtime(None)


def test_registration_answers_201_with_the_secret_once_and_never_again(
        banks: tuple[Caller, Caller], wrt: Runtime, tmp_path: Path) -> None:
    a, _ = banks
    status, made = a.call("post", "/webhooks", HOOK)
    assert status == 201 and made["url"] == HOOK["url"] and made["events"] == ["alert.opened"]
    key = (tmp_path / "ledger-webhook.key").read_text().encode()
    assert made["secret"] == derive_secret(key, "demo", made["id"])
    status, listed = a.call("get", "/webhooks")
    assert status == 200 and listed == {"webhooks": [
        {k: v for k, v in made.items() if k != "secret"}]}
    assert made["secret"] not in (tmp_path / "webhooks.db").read_bytes().decode("latin-1")


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
    ({"url": "https://10.0.0.8/hook"}, "url"),
    ({"url": "http://example.com/hook"}, "url"),
    ({"url": "http://[::1]:9/hook"}, "url"),
    ({"url": "https://x.example/h", "events": ["alert.closed"]}, "events[0]"),
    ({"url": "https://x.example/h", "secret": "mine"}, "secret"),
    ({"events": ["alert.opened"]}, "url"),
    (["https://x.example/h"], "body")])
def test_unsafe_urls_and_bad_shapes_are_a_clear_400_and_store_nothing(
        banks: tuple[Caller, Caller], body: Any, field: str) -> None:
    a, _ = banks
    status, error = a.call("post", "/webhooks", body)
    assert status == 400 and error["Code"] == "ValidationError"
    assert field in {d["field"] for d in error["Details"]}
    assert a.call("get", "/webhooks") == (200, {"webhooks": []})


def test_another_banks_webhook_is_404_everywhere(banks: tuple[Caller, Caller]) -> None:
    a, b = banks
    _, made = a.call("post", "/webhooks", HOOK)
    path = f"/webhooks/{made['id']}"
    assert b.call("get", "/webhooks") == (200, {"webhooks": []})
    for method, where in (("delete", path), ("post", f"{path}/test"),
                          ("get", f"{path}/deliveries")):
        status, error = b.call(method, where)
        assert status == 404 and error["Code"] == "NotFoundError", (method, where)
    assert a.call("get", f"{path}/deliveries") == (200, {"deliveries": []})


def test_a_bank_has_at_most_its_cap_of_webhooks_and_deleting_frees_a_place(
        banks: tuple[Caller, Caller]) -> None:
    a, b = banks
    made = [a.call("post", "/webhooks", HOOK)[1] for _ in range(3)]
    status, error = a.call("post", "/webhooks", HOOK)
    assert status == 409 and "at most 3" in error["Message"]
    assert b.call("post", "/webhooks", HOOK)[0] == 201  # the cap is per bank
    assert a.call("delete", f"/webhooks/{made[0]['id']}") == (204, None)
    assert a.call("delete", f"/webhooks/{made[0]['id']}")[0] == 404
    assert a.call("post", "/webhooks", HOOK)[0] == 201


def test_a_ping_is_queued_for_delivery_and_answered_202(
        banks: tuple[Caller, Caller], wrt: Runtime) -> None:
    a, _ = banks
    _, made = a.call("post", "/webhooks", HOOK)
    status, ping = a.call("post", f"/webhooks/{made['id']}/test")
    assert status == 202 and ping["type"] == "ping" and ping["event_id"].startswith("evt_")
    assert wrt.webhook_queue is not None
    (message,) = wrt.webhook_queue.receive(10, 30)
    body = json.loads(message.body)
    assert (body["bank"], body["webhook_id"], body["event"]["id"]) == (
        "demo", made["id"], ping["event_id"])


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1"])
def test_the_log_limit_is_checked(banks: tuple[Caller, Caller], limit: str) -> None:
    a, _ = banks
    _, made = a.call("post", "/webhooks", HOOK)
    status, error = a.call("get", f"/webhooks/{made['id']}/deliveries?limit={limit}")
    assert status == 400 and error["Details"][0]["field"] == "limit"


def test_registration_on_a_stage_without_a_webhook_key_refuses_and_stores_nothing(
        banks: tuple[Caller, Caller], wrt: Runtime, tmp_path: Path) -> None:
    from dataclasses import replace

    from chalicelib.bootstrap import bootstrap

    prod = bootstrap(replace(wrt.settings, stage="prod", demo_api_key=None), wrt.store,
                     queue=wrt.queue, receipts=wrt.receipts, webhooks=wrt.webhooks)
    set_runtime(prod)
    _, b = banks
    status, error = b.call("post", "/webhooks", {"url": "https://93.184.216.34/hook"})
    assert status == 500 and "misconfigured" in error["Message"]
    assert wrt.webhooks.list_webhooks("bank-b") == []
