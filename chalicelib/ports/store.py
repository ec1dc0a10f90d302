"""The storage ports by purpose (ledger, keys, admin, receipts) and the values they exchange."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.aggregates import AggKey, Bucket
from chalicelib.domain.alerts import Alert, AlertChange, Event, Suppression
from chalicelib.domain.model import Transaction
from chalicelib.domain.receipts import ItemFate, Receipt, ReceiptPart
from chalicelib.domain.rule_sets import RuleSet
from chalicelib.domain.rules import AccountState, RuleConfig


class StoreError(Exception):
    """The store failed in a way a retry later may mend (throttled, unreachable)."""


class StoreRefused(StoreError):
    """The store refused a request as invalid (DynamoDB's ValidationException): our bug, not the
    store's weather. Validation should have caught what reaches it; a retry sends the same
    request, so it is answered 500 and logged as a bug (`store_refused`), never 503."""


class CommitConflict(Exception):
    """The commit found the world changed since the unit of work read it (an id now taken,
    an account state or a maximum moved). Read again and retry what is not yet written.

    A store that commits a plan in several atomic chunks (DynamoDB: 100 actions a call) lists in
    `committed` the transactions its earlier chunks did write, each with its aggregates; a
    single-transaction store leaves it empty because nothing of the plan was written.
    """

    def __init__(self, message: str, committed: list[Transaction] | None = None) -> None:
        super().__init__(message)
        self.committed = committed or []


@dataclass
class WritePlan:
    """All a batch writes, atomically: new transactions, aggregate deltas and account states.

    Each state carries the version that was read; the store writes version + 1 on the condition
    that the stored version is still the one read. `rules` are the rule set the states were
    pruned with (required, no default; a RuleConfig stands for the default set): a store that
    commits the plan in several chunks derives each chunk's intermediate account state with
    them, never with other rules.

    `alerts` and `events` (the outbox) are written with the transactions they belong to, keyed
    by transaction id: writing one again writes the same thing, so a store may put them with
    plain idempotent writes before the commit point of their transaction's account (the seam
    between ingest, triage and delivery: `domain/alerts.py`).
    """

    transactions: list[Transaction] = field(default_factory=list)
    deltas: dict[AggKey, Bucket] = field(default_factory=dict)
    states: dict[str, AccountState] = field(default_factory=dict)
    rules: RuleConfig | RuleSet = field(kw_only=True)
    alerts: list[Alert] = field(default_factory=list, kw_only=True)
    events: list[Event] = field(default_factory=list, kw_only=True)


@dataclass(frozen=True)
class ApiKeyRecord:
    """A bank's API key as stored: only its hash, never the key."""

    key_hash: str
    bank: str
    key_id: str
    created_at: str
    revoked: bool = False


@dataclass(frozen=True)
class AppClientRecord:
    """A Cognito app client (a bank's system, client-credentials tokens) mapped to its bank."""

    client_id: str
    bank: str
    created_at: str


@dataclass(frozen=True)
class RuleSetRecord:
    """One version of a bank's rule set as stored: the rules' JSON, who set it and when (`by` is
    an API key's id or a token's subject, never a secret)."""

    bank: str
    version: int
    updated_at: str
    updated_by: str
    rules: list[dict[str, Any]]


class UnitOfWork(ABC):
    """Reads and one commit for one bank; a store may hold a lock for its lifetime."""

    @abstractmethod
    def get_transactions(self, ids: list[str]) -> dict[str, Transaction]:
        """The stored transactions among `ids`."""

    def will_write(self, transactions: list[Transaction]) -> None:  # noqa: B027 (optional hook)
        """A hint, before `get_account_states`: the transactions the commit will write, so a
        store can read what their aggregates need in the same round trip. Optional."""

    @abstractmethod
    def get_account_states(self, accounts: list[str]) -> dict[str, AccountState]:
        """The rules' state of each account (version 0 for one never seen)."""

    def get_suppressions(self, accounts: list[str]) -> list[Suppression]:
        """The suppressions of these accounts, expired ones included (the caller decides what
        is in force at its time). A store may read them with the account states. Optional: a
        store without suppressions has none."""
        return []

    @abstractmethod
    def commit(self, plan: WritePlan) -> None:
        """Write the plan all or nothing; raise CommitConflict when a condition fails."""


class LedgerStore(ABC):
    """What ingest and the reads need: a unit of work per ingest and bank-scoped reads that
    never scan. The ingest service, analytics and `/health` are typed against this port."""

    name: str

    @abstractmethod
    def unit_of_work(self, bank: str) -> AbstractContextManager[UnitOfWork]:
        """Open a unit of work for an ingest."""

    @abstractmethod
    def get_transaction(self, bank: str, tx_id: str) -> Transaction | None:
        """One stored transaction, or None."""

    @abstractmethod
    def get_buckets(self, bank: str, keys: list[AggKey]) -> dict[AggKey, Bucket]:
        """The aggregates at `keys` (absent keys are left out)."""

    @abstractmethod
    def get_hour_buckets(self, bank: str, first_hour: str, last_hour: str) -> list[Bucket]:
        """The hourly aggregates from `first_hour` to `last_hour` inclusive (`2026-01-10T14`)."""

    @abstractmethod
    def recent_flagged(self, bank: str, since: str | None, until: str | None,
                       limit: int) -> list[Transaction]:
        """Flagged transactions with since <= timestamp < until, newest first."""

    @abstractmethod
    def account_transactions(self, bank: str, account: str, limit: int,
                             after: tuple[str, str] | None) -> list[Transaction]:
        """An account's transactions newest first, strictly after the (timestamp, id) position."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreError unless the store answers."""


class KeyStore(ABC):
    """Banks' API keys, stored by hash, and the Cognito app clients mapped to banks (the auth
    middleware and `scripts.keys`)."""

    @abstractmethod
    def put_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key record."""

    @abstractmethod
    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record of a key hash, or None."""

    @abstractmethod
    def list_api_keys(self, bank: str) -> list[ApiKeyRecord]:
        """Every key record of a bank."""

    @abstractmethod
    def revoke_api_key(self, bank: str, key_id: str) -> bool:
        """Mark a bank's key revoked; False if the bank has no such key."""

    @abstractmethod
    def map_app_client(self, record: AppClientRecord) -> bool:
        """Store the mapping unless the client is already mapped (then False: the existing one
        stays, so a client never changes banks without an unmap)."""

    @abstractmethod
    def find_app_client(self, client_id: str) -> AppClientRecord | None:
        """The mapping of an app client, or None."""

    @abstractmethod
    def list_app_clients(self, bank: str) -> list[AppClientRecord]:
        """The app clients mapped to a bank, oldest first."""

    @abstractmethod
    def unmap_app_client(self, bank: str, client_id: str) -> bool:
        """Remove a client's mapping; False if it is not mapped to this bank."""


class AdminStore(ABC):
    """Scans and overwrites for `reconcile` and the scripts; never on a request's path."""

    @abstractmethod
    def iter_transactions(self, bank: str) -> Iterator[Transaction]:
        """Every transaction of the bank (reconcile only: this is a scan)."""

    @abstractmethod
    def iter_buckets(self, bank: str) -> Iterator[tuple[AggKey, Bucket]]:
        """Every aggregate of the bank, shards summed (reconcile only)."""

    @abstractmethod
    def replace_buckets(self, bank: str, buckets: dict[AggKey, Bucket],
                        remove: list[AggKey]) -> None:
        """Overwrite aggregates with recomputed values and drop stray ones (reconcile --repair)."""

    @abstractmethod
    def banks(self) -> list[str]:
        """Every bank that has stored anything."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, for an operator's output (the SQLite file; the DynamoDB table,
        endpoint and region): the scripts name the store they used."""


class RuleSetStore(ABC):
    """Banks' rule sets, every version kept (the rules use case and ingest), and the window of
    transactions a replay re-evaluates."""

    @abstractmethod
    def put_rule_set(self, record: RuleSetRecord) -> bool:
        """Store a new version unless the bank already has that version (then False: another
        writer got there first, nothing is written)."""

    @abstractmethod
    def get_rule_set(self, bank: str, version: int | None = None) -> RuleSetRecord | None:
        """One version of the bank's set, or its newest when `version` is None; None if absent."""

    @abstractmethod
    def transactions_between(self, bank: str, since: str, until: str) -> Iterator[Transaction]:
        """The bank's transactions with since <= sort key < until (timeutil.sort_key), in any
        order, each with its content and flag names (its `flag_details` may be left out: a
        replay compares flags). SQLite reads its primary key's range of the bank; DynamoDB has
        no index by time for every transaction (adding one would cost a write per
        transaction), so it scans in parallel segments: a replay's read, never ingest's."""


class OutboxStore(ABC):
    """Events recorded with the commits that caused them, waiting to be handed to delivery (the
    webhook queue; EventBridge on AWS). Handing over is at least once: an event is marked
    dispatched only after delivery has it, so a crash between the two sends it again."""

    @abstractmethod
    def pending_events(self, limit: int) -> list[Event]:
        """Up to `limit` recorded events not yet dispatched, oldest first, across banks."""

    @abstractmethod
    def mark_dispatched(self, events: list[Event]) -> None:
        """Remove these events from the outbox (delivery now holds them)."""


class AlertChanged(Exception):
    """The alert's status moved since it was read (a concurrent triage): read it again."""


@dataclass(frozen=True)
class AlertCounts:
    """A bank's alert counters, kept with the commits and the triage (never counted by a scan):
    alerts open now, and flags a suppression kept from opening one."""

    open: int = 0
    suppressed: int = 0


class AlertStore(ABC):
    """Alerts (written with the commit, see WritePlan), their triage, and the suppressions."""

    @abstractmethod
    def get_alert(self, bank: str, transaction_id: str) -> Alert | None:
        """The bank's alert on a transaction, or None (another bank's is None too)."""

    @abstractmethod
    def list_alerts(self, bank: str, status: str | None, rule: str | None, account: str | None,
                    limit: int, after: tuple[str, str] | None) -> list[Alert]:
        """Alerts matching every filter given, newest transaction first, strictly after the
        (time key, transaction id) position. Never a scan."""

    @abstractmethod
    def change_alert(self, bank: str, alert: Alert, change: AlertChange) -> Alert:
        """Record a triage step on `alert` as read; raise AlertChanged when the stored alert is
        no longer that one. The open count moves with the status in the same write."""

    @abstractmethod
    def alert_counts(self, bank: str) -> AlertCounts:
        """The bank's counters (cheap: a few items, never a scan)."""

    @abstractmethod
    def put_suppression(self, suppression: Suppression) -> None:
        """Store a new suppression (its id is new)."""

    @abstractmethod
    def list_suppressions(self, bank: str) -> list[Suppression]:
        """The bank's suppressions (a store may already have dropped expired ones)."""

    @abstractmethod
    def delete_suppression(self, bank: str, suppression_id: str) -> bool:
        """Remove one; False if the bank has no such suppression."""


class Store(LedgerStore, KeyStore, AdminStore, RuleSetStore, AlertStore, OutboxStore, ABC):
    """A full adapter (SQLite, DynamoDB): every port in one object, as the runtime holds it.
    Consumers take only the port they use, so a fake implements only that."""


class ReceiptStore(ABC):
    """Receipts of asynchronous requests (a SQLite file of their own locally, the ledger table on
    DynamoDB). A part is written by the one consumer of its message at a time."""

    @abstractmethod
    def create(self, bank: str, request_id: str, created_at: str,
               parts: dict[int, list[ItemFate]]) -> None:
        """Store a new receipt with every part (before any message is sent)."""

    @abstractmethod
    def get(self, bank: str, request_id: str) -> Receipt | None:
        """The bank's receipt, or None (another bank's id is None too)."""

    @abstractmethod
    def get_part(self, bank: str, request_id: str, part: int) -> ReceiptPart | None:
        """One part of a receipt, or None."""

    @abstractmethod
    def mark_writing(self, bank: str, request_id: str, part: int, ids: list[str]) -> None:
        """Add `ids` to the part's ids being written (called just before a ledger commit)."""

    @abstractmethod
    def settle(self, bank: str, request_id: str, part: int, items: list[ItemFate]) -> None:
        """Replace the part's items with their new fates."""

    def get_parts(self, keys: list[tuple[str, str, int]]
                  ) -> dict[tuple[str, str, int], ReceiptPart]:
        """`get_part` for several (bank, request id, part); absent ones are left out. A store
        may read them in one round trip."""
        found = {k: self.get_part(*k) for k in keys}
        return {k: v for k, v in found.items() if v is not None}

    def mark_writing_many(self, bank: str, marks: list[tuple[str, int, list[str]]]) -> None:
        """`mark_writing` for several (request id, part, ids); a store may do it in one write."""
        for request_id, part, ids in marks:
            self.mark_writing(bank, request_id, part, ids)

    def settle_many(self, bank: str, settles: list[tuple[str, int, list[ItemFate]]]) -> None:
        """`settle` for several (request id, part, items); a store may do it in one write."""
        for request_id, part, items in settles:
            self.settle(bank, request_id, part, items)


class ReplayJobStore(ABC):
    """Replays run as jobs off the request path: each a small JSON record per (bank, job id),
    written at submission (`pending`) and again with its outcome by the consumer. Nothing of
    the ledger is written; the SQLite file of the receipts locally, the ledger table on AWS."""

    @abstractmethod
    def put_job(self, bank: str, job_id: str, record: dict[str, Any]) -> None:
        """Write the job's record (a whole record: a later write replaces it)."""

    @abstractmethod
    def get_job(self, bank: str, job_id: str) -> dict[str, Any] | None:
        """The bank's job record, or None (another bank's id is None too)."""
