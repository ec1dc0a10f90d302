"""Aggregate buckets and the deltas a batch of accepted transactions adds to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.domain.model import Transaction
from chalicelib.domain.money import ZERO, add, to_text
from chalicelib.domain.timeutil import sort_key

BANK = "bank"
HOUR = "hour"
ACCOUNT = "account"


@dataclass(frozen=True, order=True)
class AggKey:
    """Which aggregate: the bank's totals (`bank`, ""), an hour, or an account."""

    kind: str
    name: str = ""


BANK_KEY = AggKey(BANK)

# Which transaction is the largest of a bucket and currency, for every store: a total order, so
# the winner depends neither on arrival order nor on the store. Each criterion in turn decides
# unless tied: the larger amount, then the earlier time, then the smaller id.
# (criterion, True when the larger value wins)
LARGEST: tuple[tuple[str, bool], ...] = (("amount", True), ("time", False), ("id", False))


def largest_rank(amount: Any, time_key: Any, tx_id: Any) -> dict[str, Any]:
    """A transaction's values for the LARGEST criteria (stored values, or expressions)."""
    return {"amount": amount, "time": time_key, "id": tx_id}


def beats_expression(new: Mapping[str, str], old: Mapping[str, str]) -> str:
    """The LARGEST rule as a condition on the ranks of `new` and `old` given as expressions
    (`largest_rank` of column names or placeholders), in the comparison syntax that SQLite and
    DynamoDB's condition expressions share: how each store's conditional write applies it."""
    expr = ""
    for name, larger in reversed(LARGEST):
        wins = f"{new[name]} {'>' if larger else '<'} {old[name]}"
        expr = wins if not expr else f"{wins} OR ({new[name]} = {old[name]} AND ({expr}))"
    return f"({expr})"


@dataclass(frozen=True)
class MaxRef:
    """The largest transaction of a bucket and currency."""

    id: str
    account: str
    amount: Decimal
    type: str
    timestamp: str

    def rank(self) -> dict[str, Any]:
        """This transaction's values for the LARGEST criteria."""
        return largest_rank(self.amount, sort_key(self.timestamp), self.id)

    def beats(self, other: MaxRef | None) -> bool:
        """True when this is the larger transaction under the LARGEST rule (in Python)."""
        if other is None:
            return True
        mine, theirs = self.rank(), other.rank()
        for name, larger in LARGEST:
            if mine[name] != theirs[name]:
                return bool(mine[name] > theirs[name]) == larger
        return False

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "account": self.account, "amount": to_text(self.amount),
                "type": self.type, "timestamp": self.timestamp}

    @classmethod
    def from_json(cls, body: dict[str, str]) -> MaxRef:
        return cls(body["id"], body["account"], Decimal(body["amount"]), body["type"],
                   body["timestamp"])

    @classmethod
    def of(cls, tx: Transaction) -> MaxRef:
        return cls(tx.id, tx.account, tx.amount, tx.type, tx.timestamp_text)


@dataclass
class CurrencyTotals:
    """Credits and debits in one currency, and the largest transaction."""

    credit_count: int = 0
    credit_total: Decimal = ZERO
    debit_count: int = 0
    debit_total: Decimal = ZERO
    max: MaxRef | None = None

    def merge(self, other: CurrencyTotals) -> None:
        self.credit_count += other.credit_count
        self.credit_total = add(self.credit_total, other.credit_total)
        self.debit_count += other.debit_count
        self.debit_total = add(self.debit_total, other.debit_total)
        if other.max is not None and other.max.beats(self.max):
            self.max = other.max

    def to_json(self) -> dict[str, object]:
        return {"credit_count": self.credit_count, "credit_total": to_text(self.credit_total),
                "debit_count": self.debit_count, "debit_total": to_text(self.debit_total),
                "max": None if self.max is None else self.max.to_json()}

    @classmethod
    def from_json(cls, body: dict[str, object]) -> CurrencyTotals:
        top = body.get("max")
        return cls(int(str(body["credit_count"])), Decimal(str(body["credit_total"])),
                   int(str(body["debit_count"])), Decimal(str(body["debit_total"])),
                   MaxRef.from_json(top) if isinstance(top, dict) else None)


@dataclass
class Bucket:
    """One aggregate: counts and totals by currency, flags by rule, accounts, last activity."""

    count: int = 0
    accounts: int = 0
    flagged: int = 0
    currencies: dict[str, CurrencyTotals] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    last_activity: str | None = None

    def add(self, tx: Transaction) -> None:
        """Count one accepted transaction (with its flags) into this bucket."""
        self.count += 1
        totals = self.currencies.setdefault(tx.currency, CurrencyTotals())
        if tx.is_credit:
            totals.credit_count += 1
            totals.credit_total = add(totals.credit_total, tx.amount)
        else:
            totals.debit_count += 1
            totals.debit_total = add(totals.debit_total, tx.amount)
        top = totals.max
        if top is None or tx.amount >= top.amount:  # only then can it win (ties: beats decides)
            ref = MaxRef.of(tx)
            if ref.beats(top):
                totals.max = ref
        self.flagged += 1 if tx.flags else 0
        for rule in tx.flags:
            self.flags[rule] = self.flags.get(rule, 0) + 1
        self._touch(tx.timestamp_text)

    def merge(self, other: Bucket) -> None:
        """Add another bucket (a delta, a shard, an hour) into this one."""
        self.count += other.count
        self.accounts += other.accounts
        self.flagged += other.flagged
        for code, totals in other.currencies.items():
            self.currencies.setdefault(code, CurrencyTotals()).merge(totals)
        for rule, n in other.flags.items():
            self.flags[rule] = self.flags.get(rule, 0) + n
        if other.last_activity is not None:
            self._touch(other.last_activity)

    def _touch(self, moment: str) -> None:
        last = self.last_activity
        # equal-length texts (no fraction, or both with one) order as plain strings
        if last is None or (moment > last if len(moment) == len(last)
                            else sort_key(moment) > sort_key(last)):
            self.last_activity = moment

    def to_json(self) -> dict[str, object]:
        return {"count": self.count, "accounts": self.accounts, "flagged": self.flagged,
                "currencies": {c: t.to_json() for c, t in sorted(self.currencies.items())},
                "flags": dict(sorted(self.flags.items())), "last_activity": self.last_activity}

    @classmethod
    def from_json(cls, body: dict[str, object]) -> Bucket:
        currencies = body.get("currencies") or {}
        flags = body.get("flags") or {}
        last = body.get("last_activity")
        assert isinstance(currencies, dict) and isinstance(flags, dict)
        return cls(int(str(body.get("count", 0))), int(str(body.get("accounts", 0))),
                   int(str(body.get("flagged", 0))),
                   {str(c): CurrencyTotals.from_json(t) for c, t in currencies.items()},
                   {str(r): int(n) for r, n in flags.items()},
                   None if last is None else str(last))


def merged(buckets: Iterable[Bucket]) -> Bucket:
    """The sum of several buckets (shards of one key, or the hours of a window)."""
    total = Bucket()
    for bucket in buckets:
        total.merge(bucket)
    return total


def deltas_for(accepted: Iterable[Transaction], new_accounts: Iterable[str] = ()
               ) -> dict[AggKey, Bucket]:
    """What a batch adds: one delta per key (bank, each hour, each account), not per transaction."""
    hours: dict[AggKey, Bucket] = {}
    accounts: dict[AggKey, Bucket] = {}
    for tx in accepted:
        hours.setdefault(AggKey(HOUR, tx.hour), Bucket()).add(tx)
        accounts.setdefault(AggKey(ACCOUNT, tx.account), Bucket()).add(tx)
    if not hours:
        return {}
    bank = merged(hours.values())  # the hours of a batch are few: cheaper than a third add
    bank.accounts = sum(1 for _ in new_accounts)
    return {BANK_KEY: bank, **hours, **accounts}
