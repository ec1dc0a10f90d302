"""The sequenced consumer (DynamoDB, QUEUE_GROUPS > 0) applies each message exactly once, on
DynamoDB Local: with crashes injected before and after random writes and duplicate deliveries
at the same time, the table ends identical, item by item, to a clean run's (totals, account
items, history pages, records, receipts, alerts, outbox events, alert counters). Negative
control: with the high-water marks' check turned off, a redelivered message counts twice, so
the comparison can fail. A flagged transaction opens one alert and one event, counted once,
through a crash after the alert's put and a message delivered twice at once."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.dynamo.dynamo_insert import inserted_item
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.domain import messages
from chalicelib.domain.timeutil import format_timestamp
from chalicelib.ports.store import StoreError
from chalicelib.usecases import ingest_async, sequenced
from chalicelib.usecases.consumer import consume_batch
from tests.conftest import NOW
from tests.support.dynamodb_local import dynamodb_local_store

pytestmark = pytest.mark.emulator
BANK = "b1"
WRITES = {"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
          "batch_execute_statement"}  # records, alerts and events: PartiQL INSERTs


def requests() -> list[tuple[str, list[dict[str, Any]]]]:
    """Four small requests over five accounts: repeats inside a request, the same id again in
    a later request (duplicate) and with other content (conflict), backdated items, amounts
    that trip rules (velocity, large, round, rapid in and out)."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for r in range(4):
        items = []
        for i in range(9):
            at = NOW - timedelta(hours=2, minutes=(i * 7 + r * 13) % 50)
            items.append({"id": f"r{r}-{i}", "account": f"A{(i + r) % 5}",
                          "amount": ["12.50", "9500.00", "5000.00", "1200.00"][(i + r) % 4],
                          "type": "credit" if (i + r) % 3 else "debit",
                          "timestamp": format_timestamp(at)})
        if r:
            items.append(dict(out[0][1][r]))  # the same again: duplicate
            items.append({**out[0][1][r + 1], "amount": "1.00"})  # other content: conflict
            items.append({**out[0][1][r + 2], "account": "Z9"})  # in another group: conflict
            items.append({**items[0], "id": f"r{r}-bd", "timestamp": format_timestamp(
                NOW - timedelta(days=1))})  # backdated
        items.append(dict(items[1]))  # a repeat within the request
        out.append((f"req{r}", items))
    return out


class Crashes:
    """Makes a share of the store's writes fail before or after they reach DynamoDB."""

    def __init__(self, seed: int, rate: float) -> None:
        self.random = random.Random(seed)
        self.rate = rate
        self.on = False
        self.injected = 0
        self.lock = threading.Lock()

    def wrap(self, call: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def crashing(operation: str, **kwargs: Any) -> dict[str, Any]:
            with self.lock:
                roll = self.random.random() if self.on and operation in WRITES else 1.0
            if roll < self.rate / 2:
                self.injected += 1
                raise StoreError(f"crash before {operation}")
            out = call(operation, **kwargs)
            if roll < self.rate:
                self.injected += 1
                raise StoreError(f"crash after {operation}")
            return out
        return crashing


@contextmanager
def world(tmp_path: Path, name: str, crashes: Crashes | None = None) -> Iterator[Runtime]:
    with dynamodb_local_store() as store:
        assert isinstance(store, DynamoStore)
        if crashes is not None:
            store.db.call = crashes.wrap(store.db.call)  # type: ignore[method-assign]
        queue = SqliteQueue(str(tmp_path / f"{name}.db"), max_receives=1000)
        settings = Settings(store="dynamodb", table_name=store.table, queue=QueueSettings(
            groups=3, max_receives=1000, visibility_s=30, local_workers=0))
        yield bootstrap(settings, store, queue=queue, receipts=store.receipts())


def run(rt: Runtime, crashes: Crashes | None = None, twice: float = 0.0, seed: int = 7
        ) -> None:
    """Send every request, then consume until the queue is empty; some deliveries run twice
    at the same time (a consumer stalled past the visibility timeout and its successor)."""
    for request_id, items in requests():
        ingest_async.submit(rt, BANK, json.dumps({"transactions": items}).encode(), NOW,
                            request_id)
    dice = random.Random(seed)
    if crashes is not None:
        crashes.on = True
    for _ in range(500):
        batch = rt.queue.receive(10, 30)
        if not batch:
            break
        if dice.random() < twice:
            broken: set[str] = set()
            for m in batch:  # in the group's order: a later message waits for an earlier one
                if m.group in broken:
                    continue
                ok: list[bool] = []
                threads = [threading.Thread(target=_quietly, args=(rt, m, ok)) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if not any(ok):
                    broken.add(m.group)
        outcome = consume_batch(rt, batch)
        rt.queue.delete_many([m.handle for m in outcome.done])
        for m in (*outcome.failed, *outcome.skipped):
            rt.queue.change_visibility(m.handle, 0)
    if crashes is not None:
        crashes.on = False
    assert rt.queue.depth() == (0, 0)


def _quietly(rt: Runtime, message: Any, ok: list[bool]) -> None:
    try:
        ingest_async.consume(rt, message, NOW)
        ok.append(True)
    except Exception:
        ok.append(False)


# Bookkeeping that counts deliveries, not content: how many writes an account item took (`ver`)
# and which message last wrote it (`hwm`, `nw`) depend on how the queue happened to bundle a
# group's messages into runs; everything else must be equal.
# The alert counters' per-group hwm (`hwm_<group>`) likewise. An alert's and its event's time
# is the consumer's clock at the delivery that opened it: left out, the rest compared.
DELIVERY_BOOKKEEPING = ("ver", "hwm", "nw")


def _content(item: dict[str, Any]) -> dict[str, Any]:
    """An item without its delivery bookkeeping and the time an alert was opened."""
    out = {k: v for k, v in item.items()
           if k not in DELIVERY_BOOKKEEPING and not k.startswith("hwm_")}
    pk = str(item["pk"]["S"])
    if pk.startswith("AL#"):
        body = json.loads(item["body"]["S"])
        body.pop("opened_at")
        out["body"] = body
    elif pk.startswith("EV#"):
        data = json.loads(item["data"]["S"])
        data["alert"].pop("opened_at")
        out["data"] = data
        out = {k: v for k, v in out.items() if k not in ("created", "g2sk")}
    return out


def table(rt: Runtime, exact: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    assert isinstance(rt.store, DynamoStore)
    return {(i["pk"]["S"], i["sk"]["S"]): i if exact else _content(i)
            for i in rt.store.db.query(scan=True)}


def alert_items(items: dict[tuple[str, str], dict[str, Any]]) -> tuple[int, int, int]:
    """(alerts, outbox events, the open count their counters hold) in a table's items."""
    alerts = sum(1 for k in items if k[0].startswith("AL#"))
    events = sum(1 for k in items if k[0].startswith("EV#"))
    counted = sum(int(v.get("ao", {}).get("N", 0)) for k, v in items.items()
                  if k[0].startswith("AO#"))
    return alerts, events, counted


def test_crashes_and_duplicate_deliveries_leave_the_table_a_clean_run_leaves(
        tmp_path: Path, dynamodb_local: Any) -> None:
    with world(tmp_path, "clean") as clean:
        run(clean)
        expected = table(clean)
        exact = table(clean, exact=True)
        receipts = {r: clean.receipts.get(BANK, r) for r, _ in requests()}
    crashes = Crashes(seed=13, rate=0.06)
    with world(tmp_path, "crashy", crashes) as crashy:
        run(crashy, crashes, twice=0.5)
        got = table(crashy)
    assert crashes.injected >= 3
    assert got.keys() == expected.keys()
    for at, item in expected.items():
        assert got[at] == item, at
    fates = {i.status for r in receipts.values() if r for i in r.items()}
    assert fates == {"created", "duplicate", "conflict"}
    assert any(k[0].startswith("GB#") for k in expected)  # the group totals were written
    assert any(k[0].startswith("AC#") and "hwm" in v for k, v in exact.items())
    alerts, events, counted = alert_items(expected)
    assert alerts > 0 and alerts == events == counted  # each alert once, counted once


def test_a_flagged_transaction_opens_one_alert_and_one_event_through_crashes_and_repeats(
        tmp_path: Path, dynamodb_local: Any) -> None:
    from chalicelib.domain.alerts import Suppression
    from chalicelib.domain.timeutil import now_utc
    from chalicelib.ports.store import AlertCounts

    with world(tmp_path, "alerts") as rt:
        store = rt.store
        assert isinstance(store, DynamoStore)
        # in force at the consumer's clock (consume_batch's now, not the tests' NOW)
        store.put_suppression(Suppression(BANK, "s1", "B", "large_amount", format_timestamp(
            now_utc() + timedelta(days=1)), "known payroll", format_timestamp(NOW), "k1"))
        at = format_timestamp(NOW - timedelta(hours=1))
        items = [{"id": "big", "account": "A", "amount": "15000.37", "type": "debit",
                  "timestamp": at},
                 {"id": "quiet", "account": "A", "amount": "12.34", "type": "debit",
                  "timestamp": at},
                 {"id": "hushed", "account": "B", "amount": "15000.37", "type": "debit",
                  "timestamp": at}]
        ingest_async.submit(rt, BANK, json.dumps({"transactions": items}).encode(), NOW, "r1")
        real = store.db.call
        crashed: list[str] = []

        def crash_after_the_alert(operation: str, **kwargs: Any) -> dict[str, Any]:
            out = real(operation, **kwargs)
            if (operation == "batch_execute_statement" and not crashed
                    and any(str(inserted_item(r)["pk"]["S"]).startswith("AL#")
                            for r in kwargs["Statements"])):
                crashed.append(operation)
                raise StoreError("crash after the alert's put")
            return out

        store.db.call = crash_after_the_alert  # type: ignore[method-assign]
        batch = rt.queue.receive(10, 30)
        assert consume_batch(rt, batch).failed_ids() and crashed  # half applied: kept
        for m in batch:
            rt.queue.change_visibility(m.handle, 0)
        batch = rt.queue.receive(10, 30)
        ok: list[bool] = []
        threads = [threading.Thread(target=_quietly, args=(rt, m, ok))  # delivered twice
                   for m in batch for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcome = consume_batch(rt, batch)  # and once more, after both
        rt.queue.delete_many([m.handle for m in outcome.done])
        assert rt.queue.depth() == (0, 0)
        got = table(rt)
        assert sorted(k for k in got if k[0].startswith(("AL#", "EV#"))) == [
            (f"AL#{BANK}#big", "AL"), (f"EV#{BANK}#big", "EV")]
        assert [a.transaction_id for a in store.list_alerts(BANK, None, None, None, 10, None)
                ] == ["big"]
        assert [e.data["alert"]["transaction_id"] for e in store.pending_events(10)] == ["big"]
        assert store.alert_counts(BANK) == AlertCounts(open=1, suppressed=1)
        hushed = store.get_transaction(BANK, "hushed")
        assert hushed is not None and hushed.flags == ("large_amount",)
        assert all(d.suppressed for d in hushed.flag_details)


def test_without_the_high_water_marks_a_redelivered_message_counts_twice(
        tmp_path: Path, dynamodb_local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with world(tmp_path, "clean") as clean:
        run(clean)
        expected = table(clean)
    monkeypatch.setattr(sequenced, "HWM_CHECK", False)
    with world(tmp_path, "again") as again:
        real = ingest_async._consume_sequenced

        def twice(rt: Runtime, message: Any, now: Any) -> None:
            real(rt, message, now)
            part = messages.parse(message.body)
            rt.receipts.settle(BANK, part.request_id, part.number, [
                replace(f, status="queued") for f in rt.receipts.get_part(
                    BANK, part.request_id, part.number).items])  # type: ignore[union-attr]
            real(rt, message, now)  # the same message delivered again

        monkeypatch.setattr(ingest_async, "_consume_sequenced", twice)
        run(again)
        got = table(again)
    banks = [k for k in expected if k[0].startswith("GB#")]
    assert banks and any(got[k] != expected[k] for k in banks)  # counted twice


def test_the_synchronous_path_and_the_consumer_on_the_same_accounts_stay_exact(
        tmp_path: Path, dynamodb_local: Any) -> None:
    from chalicelib.usecases import ingest_sync
    from chalicelib.usecases.reconcile import find_drift

    with world(tmp_path, "both") as rt:
        answers: list[int] = []

        def sync_sender(n: int) -> None:
            for k in range(4):
                body = {"transactions": [{"id": f"s{n}-{k}-{j}", "account": f"A{j % 5}",
                                          "amount": "7.00", "type": "debit",
                                          "timestamp": format_timestamp(NOW - timedelta(hours=1))}
                                         for j in range(5)] + [requests()[0][1][k]]}
                status, _ = ingest_sync.post_transactions(
                    rt, BANK, "application/json", json.dumps(body).encode(), NOW, f"s{n}{k}")
                answers.append(status)

        senders = [threading.Thread(target=sync_sender, args=(n,)) for n in range(2)]
        for t in senders:
            t.start()
        run(rt)
        for t in senders:
            t.join()
        assert answers == [200] * 8
        assert find_drift(rt.store, BANK) == []  # totals = a recomputation from the records
        assert isinstance(rt.store, DynamoStore)
        for a in range(5):  # every record once in its account's history
            history = rt.store.account_transactions(BANK, f"A{a}", 1000, None)
            ids = [tx.id for tx in history]
            assert len(ids) == len(set(ids))
            stored = [tx for tx in rt.store.iter_transactions(BANK) if tx.account == f"A{a}"]
            assert sorted(ids) == sorted(tx.id for tx in stored)


def test_reconcile_finds_and_repairs_the_group_totals_and_the_histories(
        tmp_path: Path, dynamodb_local: Any) -> None:
    from chalicelib.adapters.dynamo import dynamo_table as t
    from chalicelib.usecases.reconcile import (
        find_drift,
        find_history_drift,
        repair,
        repair_history,
    )

    with world(tmp_path, "damaged") as rt:
        run(rt)
        store = rt.store
        assert isinstance(store, DynamoStore)
        assert find_drift(store, BANK) == [] and find_history_drift(store, BANK) == []
        before = table(rt, exact=True)
        group = next(k for k in before if k[0].startswith("GB#"))
        store.db.on_table("update_item", Key=t.key(*group), UpdateExpression="ADD n :one",
                          ExpressionAttributeValues={":one": {"N": "1"}})
        account = next(k for k, v in before.items() if k[0].startswith("AC#") and "h" in v)
        store.db.on_table("update_item", Key=t.key(*account), UpdateExpression="REMOVE h")
        drift, histories = find_drift(store, BANK), find_history_drift(store, BANK)
        assert [d.key.kind for d in drift] == ["bank"]
        assert [h.account for h in histories] == [account[0].split("#")[2]]
        assert histories[0].missing and not histories[0].stray
        repair(store, BANK, drift)
        repair_history(store, BANK, histories)
        assert find_drift(store, BANK) == [] and find_history_drift(store, BANK) == []
        after = table(rt, exact=True)
        assert after[group]["hwm"] == before[group]["hwm"]  # a redelivery still finds it done
