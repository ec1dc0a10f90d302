"""Recomputing every aggregate from the stored transactions, to find (and mend) drift."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.domain.aggregates import BANK_KEY, AggKey, Bucket, MaxRef, deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.domain.money import to_text
from chalicelib.ports.store import AdminStore, HistoryAdmin, HistoryDrift


@dataclass(frozen=True)
class Drift:
    """An aggregate whose stored value differs from the recomputed one (None: absent)."""

    key: AggKey
    stored: Bucket | None
    expected: Bucket | None

    def differences(self) -> list[tuple[str, str, str]]:
        """(field, stored, expected) for every field that differs, money totals included."""
        have, want = _fields(self.stored), _fields(self.expected)
        return [(name, _show(have.get(name, _ABSENT)), _show(want.get(name, _ABSENT)))
                for name in sorted(set(have) | set(want), key=_field_order)
                if have.get(name, _ABSENT) != want.get(name, _ABSENT)]  # money: by value

    def describe(self) -> str:
        """The aggregate and each differing field with both values, e.g.
        `bank:* USD credit_total stored 92233720368547758.08, expected 1000000000000.00`."""
        where = f"{self.key.kind}:{self.key.name or '*'}"
        if self.stored is None or self.expected is None:
            side = "stored" if self.stored is None else "expected"
            parts = [f"{name}={_show(value)}" for name, value in
                     _fields(self.expected if self.stored is None else self.stored).items()]
            return f"{where} {side} absent; the other side has {', '.join(parts)}"
        return where + "; ".join(f" {name} stored {have}, expected {want}"
                                 for name, have, want in self.differences())


_SCALARS = ("count", "accounts", "flagged", "last_activity")
_ABSENT = "absent"


def _fields(bucket: Bucket | None) -> dict[str, object]:
    """A bucket flattened to named values (money as Decimal, compared by value)."""
    if bucket is None:
        return {}
    out: dict[str, object] = {name: getattr(bucket, name) for name in _SCALARS}
    for code, totals in sorted(bucket.currencies.items()):
        out.update({f"{code} credit_count": totals.credit_count,
                    f"{code} credit_total": totals.credit_total,
                    f"{code} debit_count": totals.debit_count,
                    f"{code} debit_total": totals.debit_total,
                    f"{code} max": totals.max})
    out.update({f"flags.{rule}": n for rule, n in sorted(bucket.flags.items())})
    return out


def _show(value: object) -> str:
    """A field's value as the report prints it: money never in scientific notation."""
    if isinstance(value, Decimal):
        return to_text(value)
    if isinstance(value, MaxRef):
        return ",".join(f"{k}={v}" for k, v in value.to_json().items())
    return str(value)


def _field_order(name: str) -> tuple[int, str]:
    return (_SCALARS.index(name), "") if name in _SCALARS else (len(_SCALARS), name)


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


def find_history_drift(store: object, bank: str) -> list[HistoryDrift]:
    """Accounts whose history does not list their transactions exactly once (none for a
    store whose history is a query of the transactions themselves, as SQLite's is)."""
    return store.history_drift(bank) if isinstance(store, HistoryAdmin) else []


def repair_history(store: object, bank: str, drift: list[HistoryDrift]) -> None:
    """Rebuild each drifted account's history from its transactions."""
    if isinstance(store, HistoryAdmin):
        for item in drift:
            store.rebuild_history(bank, item.account)
