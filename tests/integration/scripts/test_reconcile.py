"""`python -m scripts.reconcile`: OK on a consistent store, exit 1 on drift, repairs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.aggregates import BANK_KEY, Bucket
from chalicelib.domain.rules import RuleConfig
from chalicelib.usecases.ledger import ingest
from scripts import reconcile
from tests.conftest import NOW
from tests.support.factories import raw_tx


def test_reconcile_reports_drift_then_repairs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("SQLITE_PATH", path)
    monkeypatch.setenv("STORE", "sqlite")
    store = SqliteStore(path)
    ingest(store, "acme", [raw_tx(f"t{i}", amount=f"{i}.50") for i in range(1, 6)], NOW,
           RuleConfig())
    assert reconcile.main([]) == 0
    assert "acme: OK" in capsys.readouterr().out
    store.replace_buckets("acme", {BANK_KEY: Bucket(count=1)}, [])
    assert reconcile.main(["--bank", "acme"]) == 1
    assert "acme: drift bank:*" in capsys.readouterr().out
    assert reconcile.main(["--repair"]) == 0
    assert reconcile.main([]) == 0
    assert store.get_buckets("acme", [BANK_KEY])[BANK_KEY].count == 5


def test_reconcile_explains_a_bad_configuration(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STORE", "dynamodb")
    monkeypatch.delenv("TABLE_NAME", raising=False)
    assert reconcile.main([]) == 2
    assert "TABLE_NAME is required" in capsys.readouterr().err
