"""POST /transactions with `Prefer: respond-async`, GET /ingest/{id}: the asynchronous contract."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from chalicelib.bootstrap import Runtime, set_runtime
from chalicelib.ports.queue import OutgoingMessage, Queue, QueueError, ReceivedMessage
from chalicelib.ports.store import ApiKeyRecord, ReceiptStore, StoreError
from chalicelib.usecases.consumer import drain, poll_once, start_local_workers
from scripts.redrive import redrive
from tests.conftest import Api
from tests.support.asyncing import install
from tests.support.edges import refused
from tests.support.factories import raw_tx

ASYNC = {"prefer": "respond-async"}


@pytest.fixture
def parts(runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    made = install(runtime, tmp_path)
    yield made
    set_runtime(None)


def batch(*items: dict[str, Any]) -> str:
    return json.dumps({"transactions": list(items)})


def submit(api: Api, body: str) -> tuple[Any, dict[str, Any]]:
    response = api.post(body, **ASYNC)
    return response, json.loads(response.body)


def receipt(api: Api, location: str) -> dict[str, Any]:
    response = api.get(location)
    assert response.status_code == 200, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_async_batch_is_202_with_location_and_each_item_queued_or_rejected(
        api: Api, runtime: Runtime, parts: Runtime) -> None:
    response, body = submit(api, batch(raw_tx("a"), {"id": "bad"}, raw_tx("b", account="B9")))
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location == f"/ingest/{body['request_id']}"
    assert response.headers["Preference-Applied"] == "respond-async"
    assert [(r["index"], r["id"], r["status"]) for r in body["results"]] == [
        (0, "a", "queued"), (1, "bad", "rejected"), (2, "b", "queued")]
    assert body["results"][1]["errors"]
    assert body["summary"] == {"queued": 2, "rejected": 1}
    assert runtime.store.get_transaction("demo", "a") is None  # queued, not yet applied
    pending = receipt(api, location)
    assert pending["status"] == "pending"
    assert [(r["id"], r["status"]) for r in pending["results"]] == [
        ("a", "queued"), ("bad", "rejected"), ("b", "queued")]
    drain(parts)
    done = receipt(api, location)
    assert done["status"] == "done"
    assert [(r["id"], r["status"]) for r in done["results"]] == [
        ("a", "created"), ("bad", "rejected"), ("b", "created")]
    assert done["summary"] == {"created": 2, "rejected": 1}
    analytics = json.loads(api.get("/analytics").body)
    assert analytics["count"] == 2


def test_a_single_invalid_transaction_is_400_and_nothing_is_queued(
        api: Api, parts: Runtime) -> None:
    response, body = submit(api, json.dumps({"id": "x", "amount": "1.001"}))
    assert response.status_code == 400 and body["Code"] == "ValidationError"
    assert parts.queue.depth() == (0, 0)


def test_a_single_valid_transaction_is_queued_too(api: Api, runtime: Runtime,
                                                   parts: Runtime) -> None:
    response, body = submit(api, json.dumps(raw_tx("one", amount="12345.67")))
    assert response.status_code == 202 and body["summary"] == {"queued": 1, "rejected": 0}
    drain(parts)
    (item,) = receipt(api, response.headers["Location"])["results"]
    assert (item["status"], item["flags"]) == ("created", ["large_amount"])


def test_bad_json_and_wrong_content_type_are_refused_as_in_the_sync_path(
        api: Api, parts: Runtime) -> None:
    refused(api.post("{", **ASYNC), 400, "BadRequestError", says="JSON")
    refused(api.post(batch(raw_tx()), **ASYNC, **{"content-type": "text/plain"}), 415,
            "UnsupportedMediaType", says="application/json")
    assert parts.queue.depth() == (0, 0)


def test_without_the_header_the_sync_path_answers(api: Api, parts: Runtime) -> None:
    for tx_id, prefer in (("s", {}), ("s2", {"prefer": "return=minimal"})):
        answer = api.post(json.dumps(raw_tx(tx_id)), **prefer)
        assert answer.status_code == 201, answer.body
        body = json.loads(answer.body)
        assert (body["status"], body["transaction"]["id"]) == ("created", tx_id)
    assert parts.queue.depth() == (0, 0)


def test_prefer_with_other_preferences_still_means_async(api: Api, parts: Runtime) -> None:
    response = api.post(json.dumps(raw_tx("p")), prefer="wait=10, Respond-Async")
    assert response.status_code == 202


def test_same_id_with_other_content_later_ends_conflict_not_dropped(
        api: Api, runtime: Runtime, parts: Runtime) -> None:
    first, _ = submit(api, batch(raw_tx("t1", amount="10.00")))
    again, _ = submit(api, batch(raw_tx("t1", amount="10.00")))
    other, _ = submit(api, batch(raw_tx("t1", amount="11.00")))
    drain(parts)
    fates = [receipt(api, r.headers["Location"])["results"][0]["status"]
             for r in (first, again, other)]
    assert fates == ["created", "duplicate", "conflict"]


def test_another_banks_request_id_is_404(api: Api, runtime: Runtime, parts: Runtime) -> None:
    import hashlib

    response, _ = submit(api, batch(raw_tx("mine")))
    runtime.store.put_api_key(ApiKeyRecord(hashlib.sha256(b"other-key").hexdigest(), "other",
                                           "k1", "2026-01-01T00:00:00Z"))
    foreign = api.get(response.headers["Location"], **{"x-api-key": "other-key"})
    assert foreign.status_code == 404
    assert json.loads(foreign.body)["Code"] == "NotFoundError"
    refused(api.get("/ingest/not-a-request"), 404, "NotFoundError")
    refused(api.get("/ingest/" + "x" * 80), 404, "NotFoundError")


def test_the_local_consumer_threads_apply_the_queue_in_the_background(
        api: Api, runtime: Runtime, tmp_path: Path) -> None:
    start_local_workers(install(runtime, tmp_path), 2)  # as the local server does at start
    try:
        response, _ = submit(api, batch(*[raw_tx(f"w{i}", account=f"A{i % 3}")
                                          for i in range(30)]))
        deadline = time.monotonic() + 60
        while receipt(api, response.headers["Location"])["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert json.loads(api.get("/analytics").body)["count"] == 30
    finally:
        set_runtime(None)


class SendsOnlyTheFirst(Queue):
    """A queue that takes the first message of a send and fails on the rest (SQS refusing a
    later batch): everything else delegates to the embedded queue."""

    def __init__(self, inner: Queue) -> None:
        self.inner = inner
        self.name, self.max_receives = inner.name, inner.max_receives

    def send(self, messages: list[OutgoingMessage]) -> None:
        self.inner.send(messages[:1])
        raise QueueError("injected: the second batch was refused", messages[1:])

    def receive(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.receive(*args, **kwargs)

    def delete(self, handle: str) -> None:
        self.inner.delete(handle)

    def change_visibility(self, handle: str, timeout_s: int) -> None:
        self.inner.change_visibility(handle, timeout_s)

    def dead_letter(self, message: ReceivedMessage) -> None:
        self.inner.dead_letter(message)

    def dead_letters(self, max_messages: int) -> Any:
        return self.inner.dead_letters(max_messages)

    def redrive(self, messages: Any) -> int:
        return self.inner.redrive(messages)

    def depth(self) -> tuple[int, int]:
        return self.inner.depth()


def test_a_queue_failing_half_way_is_503_and_the_unsent_items_read_failed(
        api: Api, runtime: Runtime, parts: Runtime) -> None:
    broken = replace(parts, queue=SendsOnlyTheFirst(parts.queue))
    set_runtime(broken)
    response = api.post(batch(raw_tx("s1"), raw_tx("s2", account="B9")), **ASYNC)
    refused(response, 503, "ServiceUnavailableError",
            says="the ingest queue is unavailable; retry (injected: the second batch")
    assert response.headers["Retry-After"]
    drain(broken)
    (request_id,) = _request_ids(parts)
    body = receipt(api, f"/ingest/{request_id}")
    assert body["status"] == "done"
    assert [(r["id"], r["status"]) for r in body["results"]] == [("s1", "created"),
                                                                 ("s2", "failed")]
    assert runtime.store.get_transaction("demo", "s2") is None  # never applied


def _request_ids(parts: Runtime) -> list[str]:
    """Every request id in the embedded receipts file (the 503 did not tell the client one)."""
    from chalicelib.adapters.sqlite.sqlite_receipts import SqliteReceipts

    assert isinstance(parts.receipts, SqliteReceipts)
    return [str(r[0]) for r in parts.receipts.file.read(
        "SELECT DISTINCT request_id FROM receipt_parts")]


@pytest.mark.parametrize("char", ["\u0085", "\u007f", "\u202e", "\u2067"])
def test_async_path_refuses_control_and_bidi_characters_as_the_sync_path_does(
        api: Api, parts: Runtime, char: str) -> None:
    response, body = submit(api, batch(raw_tx("ok"), raw_tx("c1", merchant=f"Shop{char}")))
    assert response.status_code == 202
    rejected = body["results"][1]
    assert rejected["status"] == "rejected"
    assert rejected["errors"][0]["field"] == "merchant"
    assert f"U+{ord(char):04X}" in rejected["errors"][0]["message"]


class QueuesThenFails(SendsOnlyTheFirst):
    """A queue whose send delivers every message, then fails without knowing which went (a
    timeout after SQS took the batch): every item is `not known to be queued`."""

    def send(self, messages: list[OutgoingMessage]) -> None:
        self.inner.send(messages)
        raise QueueError("injected: the answer to the send was lost")  # unsent: not known


def assert_not_queued_and_unapplied(api: Api, runtime: Runtime, parts: Runtime) -> None:
    """The one request's items u1 and u2 read `failed` (not queued; send again), unstored."""
    (request_id,) = _request_ids(parts)
    body = receipt(api, f"/ingest/{request_id}")
    assert [(r["id"], r["status"], r["errors"]) for r in body["results"]] == [
        (tx_id, "failed", [{"field": "request", "message": "not queued; send again"}])
        for tx_id in ("u1", "u2")]
    assert runtime.store.get_transaction("demo", "u1") is None
    assert runtime.store.get_transaction("demo", "u2") is None


def test_items_not_known_to_be_queued_are_never_applied_even_when_delivered(
        api: Api, runtime: Runtime, parts: Runtime) -> None:
    broken = replace(parts, queue=QueuesThenFails(parts.queue))
    set_runtime(broken)
    response = api.post(batch(raw_tx("u1"), raw_tx("u2", account="B9")), **ASYNC)
    # the client sends it again; what went is `duplicate`
    refused(response, 503, "ServiceUnavailableError", says="the ingest queue is unavailable")
    assert parts.queue.depth()[0] == 2  # the messages did reach the queue
    drain(broken)  # and are delivered: the consumer must skip them
    assert_not_queued_and_unapplied(api, runtime, parts)
    assert json.loads(api.get("/analytics").body)["count"] == 0


class PartsReadsFail:
    """Receipts whose reads of parts fail (the receipts table throttled): every delivery fails
    before it knows what to apply; the rest delegates."""

    def __init__(self, inner: ReceiptStore) -> None:
        self.inner = inner

    def get_parts(self, keys: list[tuple[str, str, int]]) -> Any:
        raise StoreError("injected: the receipts are unavailable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_items_not_known_to_be_queued_stay_unapplied_through_the_dead_letters_and_a_redrive(
        api: Api, runtime: Runtime, parts: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    set_runtime(replace(parts, queue=QueuesThenFails(parts.queue)))
    response = api.post(batch(raw_tx("u1"), raw_tx("u2", account="B9")), **ASYNC)
    refused(response, 503, "ServiceUnavailableError", says="the ingest queue is unavailable")
    now = [1_000_000.0]
    monkeypatch.setattr(parts.queue, "clock", lambda: now[0])
    down = replace(parts, receipts=cast(ReceiptStore, PartsReadsFail(parts.receipts)))
    for _ in range(parts.queue.max_receives):  # each delivery fails: the last gives them up
        poll_once(down)
        now[0] += 100  # past the backoff
    assert parts.queue.depth()[0] == 0
    assert redrive(parts) == 2  # an operator moves every dead letter back
    drain(parts)
    assert_not_queued_and_unapplied(api, runtime, parts)


def test_the_consumer_counts_what_it_applied_in_the_request_metrics_and_keeps_conflicts_reasons(
        api: Api, runtime: Runtime, parts: Runtime,
        capsys: pytest.CaptureFixture[str]) -> None:
    submit(api, batch(raw_tx("k1", amount="10.00")))
    drain(parts)
    response, _ = submit(api, batch(raw_tx("k1", amount="11.00"), raw_tx("k2"),
                                    raw_tx("k3", amount="12000.00", account="B7")))
    other, _ = submit(api, batch(raw_tx("k2"), raw_tx("k4", account="B8")))
    capsys.readouterr()
    drain(parts)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{") and "_aws" in line]
    applied = [r for r in records if r.get("source") == "ingest_queue"]
    assert applied and all(r["stage"] == runtime.settings.stage for r in applied)
    units = {m["Unit"] for r in applied for m in r["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"Count"}
    total = {name: sum(r.get(name, 0) for r in applied) for name in
             ("TransactionsCreated", "Duplicates", "Conflicts", "Flagged")}
    assert total == {"TransactionsCreated": 3, "Duplicates": 1, "Conflicts": 1, "Flagged": 1}
    (conflict,) = [r for r in receipt(api, response.headers["Location"])["results"]
                   if r["status"] == "conflict"]
    assert conflict["errors"] == [{"field": "id",
                                   "message": "transaction k1 exists with other content"}]
    assert [r["status"] for r in receipt(api, other.headers["Location"])["results"]] == [
        "duplicate", "created"]


class Recording(SendsOnlyTheFirst):
    """A queue that sends everything and remembers what it sent."""

    def __init__(self, inner: Queue) -> None:
        super().__init__(inner)
        self.sent: list[OutgoingMessage] = []

    def send(self, messages: list[OutgoingMessage]) -> None:
        self.inner.send(messages)
        self.sent += messages


def test_a_settled_message_delivered_again_beside_new_ones_holds_none_of_them_back(
        api: Api, runtime: Runtime, parts: Runtime) -> None:
    recording = Recording(parts.queue)
    set_runtime(replace(parts, queue=recording))
    submit(api, batch(raw_tx("r1")))
    drain(parts)
    (settled,) = recording.sent
    parts.queue.send([OutgoingMessage(settled.group, settled.dedup_id + "-again",
                                      settled.body)])  # a redelivery of a settled message
    later, _ = submit(api, batch(raw_tx("r2"), raw_tx("r3", account="B3")))
    drain(parts)
    assert [r["status"] for r in receipt(api, later.headers["Location"])["results"]] == [
        "created", "created"]
    assert json.loads(api.get("/analytics").body)["count"] == 3
