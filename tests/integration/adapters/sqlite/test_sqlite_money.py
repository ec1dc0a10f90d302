"""SQLite money totals: two integer parts, a version-2 file migrated exactly, and the limit
refused rather than rounded."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_buckets import CARRY
from chalicelib.adapters.sqlite.sqlite_schema import SCHEMA_VERSION
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.aggregates import BANK_KEY, Bucket, CurrencyTotals
from chalicelib.domain.rules import RuleConfig
from chalicelib.errors import TotalTooLargeError
from chalicelib.usecases.ledger import ingest
from chalicelib.usecases.reconcile import find_drift, repair
from tests.conftest import NOW
from tests.support.factories import raw_tx


def _as_version_3(path: str, credit_minor: int | float) -> None:
    """Make the file what version 3 wrote (before the carries): no carry columns, one total as
    given."""
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE agg_currency DROP COLUMN credit_hi")
        conn.execute("ALTER TABLE agg_currency DROP COLUMN debit_hi")
        conn.execute("UPDATE agg_currency SET credit_minor=? WHERE kind='bank'", (credit_minor,))
        conn.execute("PRAGMA user_version=3")


def test_a_version_3_file_moves_its_high_digits_over_exactly(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    ingest(SqliteStore(path), "acme", [raw_tx("t1", amount="5.00")], NOW, RuleConfig())
    _as_version_3(path, 2**63 - 1)  # the largest total version 3 held exactly
    store = SqliteStore(path)
    usd = store.get_buckets("acme", [BANK_KEY])[BANK_KEY].currencies["USD"]
    assert str(usd.credit_total) == "92233720368547758.07"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        low, high = conn.execute("SELECT credit_minor, credit_hi FROM agg_currency"
                                 " WHERE kind='bank'").fetchone()
    assert (high, low) == divmod(2**63 - 1, CARRY)
    ingest(store, "acme", [raw_tx("t2", amount="999999999999.99")], NOW, RuleConfig())
    usd = store.get_buckets("acme", [BANK_KEY])[BANK_KEY].currencies["USD"]
    assert str(usd.credit_total) == "92234720368547758.06"  # past 2^63 minor units, exact


def test_a_version_3_total_already_real_is_drift_that_repair_mends(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    ingest(SqliteStore(path), "acme", [raw_tx("t1", amount="5.00")], NOW, RuleConfig())
    _as_version_3(path, 9.223372036854778e18)  # what version 3 silently stored past 64 bits
    store = SqliteStore(path)
    drift = find_drift(store, "acme")
    assert [(d.key, d.differences()) for d in drift] == [
        (BANK_KEY, [("USD credit_total", "92233720368547778.56", "5.00")])]
    repair(store, "acme", drift)
    assert find_drift(store, "acme") == []


def test_a_total_past_the_two_parts_is_refused_whole_and_never_rounded(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    minor = str(2**63 * CARRY - 1)  # the largest total it holds, in cents (37 digits)
    near = Decimal(f"{minor[:-2]}.{minor[-2:]}")
    store.replace_buckets("acme", {BANK_KEY: Bucket(count=1, currencies={
        "USD": CurrencyTotals(1, near, 0, Decimal(0))})}, [])
    assert store.get_buckets("acme", [BANK_KEY])[BANK_KEY].currencies["USD"].credit_total == near
    with pytest.raises(TotalTooLargeError, match="nothing was stored"):
        ingest(store, "acme", [raw_tx("t1", amount="0.01")], NOW, RuleConfig())
    assert store.get_transaction("acme", "t1") is None
    with pytest.raises(TotalTooLargeError):
        store.replace_buckets("acme", {BANK_KEY: Bucket(count=1, currencies={
            "USD": CurrencyTotals(1, near + Decimal("0.01"), 0, Decimal(0))})}, [])
