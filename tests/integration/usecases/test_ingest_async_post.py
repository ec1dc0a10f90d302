"""`POST /transactions` with `Prefer: respond-async`, below the route: what it refuses, archives
and counts (the request counts what it refused; the consumer what it creates and the rules
that failed)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import Settings
from chalicelib.errors import UnsupportedMediaTypeError
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import drain
from chalicelib.usecases.rules_admin import put_rules
from tests.conftest import NOW
from tests.support.asyncing import install
from tests.support.factories import raw_tx


class KeptBodies:
    """An archive that keeps what it is given, in memory."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, str, bytes, datetime, bool]] = []

    def put(self, bank: str, request_id: str, body: bytes, received: datetime,
            statement: bool = False) -> str:
        self.puts.append((bank, request_id, body, received, statement))
        return f"raw/{bank}/{request_id}"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    made = install(bootstrap(Settings(sqlite_path=str(tmp_path / "ledger.db"), stage="qa"),
                             SqliteStore(str(tmp_path / "ledger.db"))), tmp_path)
    return replace(made, archive=KeptBodies())


def outcome_metrics(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith('{"_aws"')]
    return [r for r in records if "Rejected" in r]


def test_an_accepted_async_body_is_archived_as_received(rt: Runtime) -> None:
    raw = json.dumps({"transactions": [raw_tx("a1"), raw_tx("a2")]}).encode()
    request_id, body = ingest_async.post(rt, "demo", "application/json", raw, NOW)
    assert body["summary"] == {"queued": 2, "rejected": 0}
    assert isinstance(rt.archive, KeptBodies)
    assert rt.archive.puts == [("demo", request_id, raw, NOW, False)]


def test_the_items_an_async_request_refused_are_counted_in_its_stage(
        rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.dumps({"transactions": [raw_tx("ok"), {"id": "bad"}]}).encode()
    capsys.readouterr()
    ingest_async.post(rt, "demo", "application/json", raw, NOW)
    (metrics,) = outcome_metrics(capsys)
    assert (metrics["stage"], metrics["source"]) == ("qa", "api")
    assert (metrics["Rejected"], metrics["TransactionsCreated"], metrics["Flagged"]) == (1, 0, 0)


def test_an_async_body_refused_whole_is_counted_once_in_its_stage(
        rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(UnsupportedMediaTypeError):
        ingest_async.post(rt, "demo", "text/plain", b"{}", NOW)
    (metrics,) = outcome_metrics(capsys)
    assert (metrics["stage"], metrics["Rejected"]) == ("qa", 1)
    assert isinstance(rt.archive, KeptBodies) and rt.archive.puts == []


def test_an_item_that_is_not_an_object_is_rejected_alone(rt: Runtime) -> None:
    raw = json.dumps({"transactions": [raw_tx("ok"), 5, "x"]}).encode()
    _, body = ingest_async.post(rt, "demo", "application/json", raw, NOW)
    assert [(r["id"], r["status"]) for r in body["results"]] == [
        ("ok", "queued"), (None, "rejected"), (None, "rejected")]


def test_the_consumer_counts_rules_that_failed_to_evaluate_in_its_stage(
        rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    put_rules(rt.store, "demo", {"rules": [{"name": "ratio", "when": "amount / count_1h > 1"}]},
              "key:demo", NOW, rt.settings.rules)
    ingest_async.post(rt, "demo", "application/json", json.dumps(raw_tx("r1")).encode(), NOW)
    capsys.readouterr()
    drain(rt)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith('{"_aws"')]
    (metrics,) = [r for r in records if "RuleEvaluationErrors" in r]
    assert (metrics["stage"], metrics["source"], metrics["RuleEvaluationErrors"]) == (
        "qa", "ingest_queue", 1)
    # a CloudWatch unit, spelt as CloudWatch spells it (units are case-sensitive)
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "RuleEvaluationErrors", "Unit": "Count"}]
