"""What the queue's consumer records of each item in its receipt (flags and their evidence) and
counts (rules that failed to evaluate), on every store: on DynamoDB Local that is the sequenced
consumer (`consume_run`), which no test `make check` (and so mutmut) runs reaches."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chalicelib.bootstrap import Runtime
from chalicelib.domain import messages
from chalicelib.domain.validation import validate_transaction
from chalicelib.ports.store import RuleSetRecord
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import drain, poll_once
from chalicelib.usecases.rules_admin import put_rules
from tests.conftest import NOW
from tests.integration.usecases.test_ingest_async_exactly_once import (
    BANK,
    SettleFailsOnce,
    env,  # noqa: F401 (the fixture)
)
from tests.support.factories import raw_tx
from tests.support.stores import CONSUMER_STORES


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
def test_the_consumers_receipt_carries_flags_and_evidence_and_it_counts_rule_errors(
        env: tuple[Runtime, Runtime], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    rt, parts = env
    put_rules(rt.store, BANK, {"rules": [
        {"name": "large_amount", "builtin": "large_amount", "params": {"amount": "10000"}},
        {"name": "ratio", "when": "amount / count_1h > 1"}]},  # no history: fails to evaluate
        "key:b1", NOW, rt.settings.rules)
    raw = {"transactions": [raw_tx("big", amount="12345.67"),
                            raw_tx("small", account="B456", amount="5.00")]}
    ingest_async.submit(parts, BANK, json.dumps(raw).encode(), NOW, "flagged")
    capsys.readouterr()
    drain(parts)
    receipt = parts.receipts.get(BANK, "flagged")
    assert receipt is not None and receipt.done
    items = {i.id: i for i in receipt.items()}
    assert (items["big"].status, items["big"].flags) == ("created", ("large_amount",))
    assert items["big"].flag_details == ({"rule": "large_amount", "version": 1, "evidence": {
        "amount": "12345.67", "currency": "USD", "threshold": "10000"}},)
    assert (items["small"].status, items["small"].flags, items["small"].flag_details) == (
        "created", (), ())
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith('{"_aws"')]
    errors = [r for r in records if "RuleEvaluationErrors" in r]
    assert {(r["stage"], r["source"]) for r in errors} == {(rt.settings.stage, "ingest_queue")}
    assert sum(r["RuleEvaluationErrors"] for r in errors) == 2  # one per item


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
def test_the_consumer_counts_every_message_it_applies_together(
        env: tuple[Runtime, Runtime], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _, parts = env
    for n in range(3):  # one account, so one group: the messages are applied as one run
        raw = json.dumps({"transactions": [raw_tx(f"t{n}", amount=f"{n + 1}.00")]}).encode()
        ingest_async.submit(parts, BANK, raw, NOW, f"req{n}")
    capsys.readouterr()
    drain(parts)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith('{"_aws"')]
    created = [r["TransactionsCreated"] for r in records if r.get("source") == "ingest_queue"
               and "TransactionsCreated" in r]
    assert sum(created) == 3


# only the sequenced consumer holds such a message (on SQLite one transaction wrote it all, and
# the next delivery reads it back as written)
@pytest.mark.parametrize("store", CONSUMER_STORES[1:], indirect=True)
def test_a_sequenced_message_whose_receipt_fails_after_its_writes_is_held_saying_why(
        env: tuple[Runtime, Runtime], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _, parts = env
    ingest_async.submit(parts, BANK, json.dumps(raw_tx("h1")).encode(), NOW, "held")
    capsys.readouterr()
    assert poll_once(replace(parts, receipts=SettleFailsOnce(parts.receipts))) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith('{"level"')]
    assert [(line["event"], line.get("error")) for line in lines if line["level"] == "ERROR"] == [
        ("ingest_message_failed", "HalfApplied: RuntimeError: killed after the commit"),
        ("ingest_message_half_applied", None)]


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
def test_a_message_whose_receipt_is_gone_is_done_and_applies_nothing(
        env: tuple[Runtime, Runtime]) -> None:  # noqa: F811
    rt, parts = env
    tx = validate_transaction(raw_tx("ghost"), NOW)
    (part,) = messages.plan(BANK, "no-receipt", [(0, tx)], parts.settings.queue.groups)
    parts.queue.send([part.message()])  # queued, but its receipt never stored (or expired)
    assert poll_once(parts) == 1
    assert parts.queue.depth() == (0, 0)  # handled: deleted, not failed and kept
    assert rt.store.get_transaction(BANK, "ghost") is None


# only the sequenced consumer reads the group's count (its totals are per group)
@pytest.mark.parametrize("store", CONSUMER_STORES[1:], indirect=True)
def test_a_message_hashed_under_another_queue_groups_is_refused_unapplied(
        env: tuple[Runtime, Runtime], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    rt, parts = env
    other = parts.settings.queue.groups + 1
    hashed = replace(parts.settings, queue=replace(parts.settings.queue, groups=other))
    ingest_async.submit(replace(parts, settings=hashed), BANK,
                        json.dumps(raw_tx("moved")).encode(), NOW, "regrouped")
    capsys.readouterr()
    assert poll_once(parts) == 1
    (failed,) = [line for line in map(json.loads, capsys.readouterr().out.splitlines())
                 if line.get("event") == "ingest_message_failed"]
    assert failed["error"].startswith("QueueGroupsChanged: ")
    assert rt.store.get_transaction(BANK, "moved") is None


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
def test_the_consumer_reads_a_banks_rule_set_once_a_cache_period_not_every_batch(
        env: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    _, parts = env
    reads: list[str] = []
    real = parts.store.get_rule_set

    def counted(bank: str, version: int | None = None) -> RuleSetRecord | None:
        reads.append(bank)
        return real(bank, version)

    monkeypatch.setattr(parts.store, "get_rule_set", counted)
    for n in range(2):  # two batches, each its own delivery
        ingest_async.submit(parts, BANK, json.dumps(raw_tx(f"c{n}")).encode(), NOW, f"c{n}")
        drain(parts)
    assert reads == [BANK]  # the runtime's cache answers the second (a PUT here clears it)
