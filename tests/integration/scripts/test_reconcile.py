"""`python -m scripts.reconcile`: OK on a consistent store, exit 1 on drift, repairs it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.aggregates import BANK_KEY, AggKey, Bucket, CurrencyTotals
from chalicelib.domain.rules import RuleConfig
from chalicelib.usecases.ledger import ingest
from scripts import reconcile
from tests.conftest import NOW
from tests.support.factories import raw_tx


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteStore:
    """A SQLite ledger the command finds through the environment."""
    path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("SQLITE_PATH", path)
    monkeypatch.setenv("STORE", "sqlite")
    return SqliteStore(path)


def repair_then_ok(capsys: pytest.CaptureFixture[str]) -> str:
    """`--repair` succeeds and a check after it finds nothing; what the repair printed."""
    assert reconcile.main(["--repair"]) == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    assert reconcile.main([]) == 0
    assert ": drift " not in capsys.readouterr().out
    return printed


def test_reconcile_reports_drift_then_repairs_it(ledger: SqliteStore,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    store = ledger
    ingest(store, "acme", [raw_tx(f"t{i}", amount=f"{i}.50") for i in range(1, 6)], NOW,
           RuleConfig())
    assert reconcile.main([]) == 0
    assert "acme: OK" in capsys.readouterr().out
    store.replace_buckets("acme", {BANK_KEY: Bucket(count=1)}, [])
    assert reconcile.main(["--bank", "acme"]) == 1
    assert "acme: drift bank:*" in capsys.readouterr().out
    repair_then_ok(capsys)
    assert store.get_buckets("acme", [BANK_KEY])[BANK_KEY].count == 5


def test_reconcile_explains_a_bad_configuration(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STORE", "dynamodb")
    monkeypatch.delenv("TABLE_NAME", raising=False)
    assert reconcile.main([]) == 2
    assert "TABLE_NAME is required" in capsys.readouterr().err


def _stored_total_as_real(path: str, bank: str, value: float) -> None:
    """What a file written before the carry columns held past 64 bits: an inexact REAL."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE agg_currency SET credit_minor=?, credit_hi=0 WHERE bank=? AND"
                     " kind='bank'", (value, bank))


def test_reconcile_names_money_drift_and_the_store_then_repairs_past_64_bits(
        ledger: SqliteStore, capsys: pytest.CaptureFixture[str]) -> None:
    store, path = ledger, ledger.path
    # the case: a credit total past 2^63 minor units that SQLite had turned REAL
    ingest(store, "acme", [raw_tx("t1", amount="999999999999.99")], NOW, RuleConfig())
    _stored_total_as_real(path, "acme", 9.223372036854776e18)
    assert reconcile.main([]) == 1
    out = capsys.readouterr().out
    assert f"sqlite {path}" in out, out
    assert ("acme: drift bank:* USD credit_total stored 92233720368547758.08,"
            " expected 999999999999.99") in out, out
    assert "count stored" not in out  # the counts agree: not named
    assert "acme: repaired 1 aggregates" in repair_then_ok(capsys)
    total = store.get_buckets("acme", [BANK_KEY])[BANK_KEY].currencies["USD"].credit_total
    assert str(total) == "999999999999.99"


def test_reconcile_repairs_a_total_past_64_bits_without_crashing(
        ledger: SqliteStore, capsys: pytest.CaptureFixture[str]) -> None:
    store = ledger
    ingest(store, "acme", [raw_tx(f"t{i}", amount="999999999999.99") for i in range(3)], NOW,
           RuleConfig())
    # The true total is small; make the stored one exceed 64 bits, then repair the other way
    # round too: a recomputed total past 64 bits (seeded as transactions would make it).
    huge = Bucket(count=3, currencies={"USD": CurrencyTotals(
        3, Decimal("123456789012345678901.23"), 0, Decimal(0))})
    store.replace_buckets("acme", {BANK_KEY: huge}, [])
    assert "acme: repaired 1 aggregates" in repair_then_ok(capsys)
    total = store.get_buckets("acme", [BANK_KEY])[BANK_KEY].currencies["USD"].credit_total
    assert total == Decimal("2999999999999.97")


class _BrokenRepairStore(SqliteStore):
    def replace_buckets(self, bank: str, replacements: dict[AggKey, Bucket],
                        remove: list[AggKey]) -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")


def test_reconcile_repair_that_fails_is_an_error_line_and_exit_2_never_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "ledger.db")
    store = _BrokenRepairStore(path)
    ingest(store, "acme", [raw_tx("t1")], NOW, RuleConfig())
    SqliteStore(path).replace_buckets("acme", {BANK_KEY: Bucket(count=7)}, [])
    monkeypatch.setattr(reconcile, "open_store", lambda settings: store)
    assert reconcile.main(["--repair"]) == 2
    captured = capsys.readouterr()
    assert "acme: drift bank:* count stored 7, expected 1" in captured.out
    assert "repair of acme failed: OverflowError" in captured.err
