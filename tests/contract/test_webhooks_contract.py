"""The webhook store contract: SQLite and DynamoDB keep webhooks and their log alike."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.domain.webhooks import DELIVERED, Delivery, Webhook
from chalicelib.ports.store import Store
from chalicelib.ports.webhooks import WebhookStore

AT = "2026-01-10T18:00:00Z"


def webhooks_for(store: Store, tmp_path: Path) -> WebhookStore:
    """The webhook store that goes with a ledger store (as the runtime builds it)."""
    if store.name == "dynamodb":
        from chalicelib.adapters.dynamo import DynamoStore

        assert isinstance(store, DynamoStore)
        return store.webhooks()
    from chalicelib.adapters.sqlite.sqlite_webhooks import SqliteWebhooks

    return SqliteWebhooks(str(tmp_path / "webhooks.db"))


@pytest.fixture
def hooks(store: Store, tmp_path: Path) -> WebhookStore:
    return webhooks_for(store, tmp_path)


def hook(n: int, bank: str = "b1") -> Webhook:
    return Webhook(bank, f"wh_{n}", f"https://h{n}.example/in", ("alert.opened",),
                   f"2026-01-10T18:00:0{n}Z")


def test_a_webhook_is_stored_listed_and_read_by_its_bank_only(hooks: WebhookStore) -> None:
    assert hooks.create_webhook(hook(2), cap=5) and hooks.create_webhook(hook(1), cap=5)
    assert hooks.list_webhooks("b1") == [hook(1), hook(2)]
    assert hooks.get_webhook("b1", "wh_1") == hook(1)
    assert hooks.get_webhook("b2", "wh_1") is None and hooks.list_webhooks("b2") == []


def test_a_deleted_webhook_is_gone_and_frees_its_place_under_the_cap(
        hooks: WebhookStore) -> None:
    assert hooks.create_webhook(hook(1), cap=2) and hooks.create_webhook(hook(2), cap=2)
    assert not hooks.create_webhook(hook(3), cap=2)
    assert not hooks.delete_webhook("b2", "wh_1", AT)  # another bank's: not found
    assert hooks.delete_webhook("b1", "wh_1", AT)
    assert not hooks.delete_webhook("b1", "wh_1", AT)  # twice: not found the second time
    assert hooks.get_webhook("b1", "wh_1") is None and hooks.list_webhooks("b1") == [hook(2)]
    assert hooks.create_webhook(hook(3), cap=2)
    assert hooks.create_webhook(hook(4, "b2"), cap=2)  # the cap is per bank


def test_concurrent_registrations_never_pass_the_cap(hooks: WebhookStore,
                                                    request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params.get("store") == "dynamodb":
        pytest.skip("moto is not thread-safe; DynamoDB Local runs this under real concurrency")
    with ThreadPoolExecutor(6) as pool:
        made = list(pool.map(lambda n: hooks.create_webhook(hook(n), cap=3), range(6)))
    assert made.count(True) == 3 and len(hooks.list_webhooks("b1")) == 3


def test_the_log_keeps_one_line_per_event_newest_first(hooks: WebhookStore) -> None:
    old = Delivery("wh_1", "evt_a", "alert.opened", "2026-01-10T17:00:00Z")
    new = Delivery("wh_1", "evt_b", "alert.opened", "2026-01-10T18:00:00Z", attempts=1,
                   last_status=500, last_error="HTTP 500", next_retry_at=AT)
    for line in (old, new, Delivery("wh_2", "evt_c", "ping", AT)):
        hooks.put_delivery("b1", line)
    assert hooks.get_delivery("b1", "wh_1", old.created, "evt_a") == old
    done = replace(old, status=DELIVERED, attempts=2, last_status=204)
    hooks.put_delivery("b1", done)  # the next attempt replaces the line
    assert hooks.list_deliveries("b1", "wh_1", 10) == [new, done]
    assert hooks.list_deliveries("b1", "wh_1", 1) == [new]
    assert hooks.list_deliveries("b2", "wh_1", 10) == []
    assert hooks.get_delivery("b2", "wh_1", old.created, "evt_a") is None
