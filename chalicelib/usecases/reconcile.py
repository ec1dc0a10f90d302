"""Recomputing every aggregate from the stored transactions, to find (and mend) drift."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chalicelib.domain.aggregates import BANK_KEY, AggKey, Bucket, deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.ports.store import AdminStore


@dataclass(frozen=True)
class Drift:
    """An aggregate whose stored value differs from the recomputed one (None: absent)."""

    key: AggKey
    stored: Bucket | None
    expected: Bucket | None

    def describe(self) -> str:
        def show(bucket: Bucket | None) -> str:
            return "absent" if bucket is None else f"count={bucket.count}"
        return (f"{self.key.kind}:{self.key.name or '*'} stored {show(self.stored)},"
                f" expected {show(self.expected)}")


def recompute(transactions: Iterable[Transaction],
              progress: Callable[[int], None] | None = None) -> dict[AggKey, Bucket]:
    """Every aggregate as the transactions imply, built with the same deltas as ingest."""
    expected: dict[AggKey, Bucket] = {}
    accounts: set[str] = set()
    chunk: list[Transaction] = []

    def flush() -> None:
        for key, delta in deltas_for(chunk).items():
            expected.setdefault(key, Bucket()).merge(delta)
        if progress:
            progress(len(chunk))
        chunk.clear()

    for tx in transactions:
        accounts.add(tx.account)
        chunk.append(tx)
        if len(chunk) >= 1000:
            flush()
    flush()
    if accounts:
        expected[BANK_KEY].accounts = len(accounts)
    return expected


def find_drift(store: AdminStore, bank: str,
               progress: Callable[[int], None] | None = None) -> list[Drift]:
    """Compare stored aggregates with a recomputation from the bank's transactions."""
    expected = recompute(store.iter_transactions(bank), progress)
    stored = dict(store.iter_buckets(bank))
    drift = []
    for key in sorted(set(expected) | set(stored)):
        want, have = expected.get(key), stored.get(key)
        if want != have:  # dataclass equality: amounts compare by value ("0" == "0.00")
            drift.append(Drift(key, have, want))
    return drift


def repair(store: AdminStore, bank: str, drift: list[Drift]) -> None:
    """Overwrite drifted aggregates with their recomputed values, drop stray ones."""
    store.replace_buckets(bank, {d.key: d.expected for d in drift if d.expected is not None},
                          [d.key for d in drift if d.expected is None])
