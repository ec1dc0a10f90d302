"""One DynamoDB ingest attempt: two BatchGetItem reads, then conditional transactional chunks.

Split from `store` to keep each file to one idea; every call goes through `table`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import dynamo_alerts as alerting
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo import dynamo_writes as writes
from chalicelib.adapters.dynamo.dynamo_account import AccountDoc, Page, backdated, doc_from
from chalicelib.adapters.dynamo.dynamo_history import read_pages
from chalicelib.domain.aggregates import ACCOUNT, BANK, HOUR, Bucket
from chalicelib.domain.alerts import Suppression
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import AccountState
from chalicelib.domain.timeutil import hour_key
from chalicelib.ports.store import CommitConflict, StoreError, UnitOfWork, WritePlan

CHUNK_RETRIES = 3  # rebuilds of a chunk whose only failed conditions were maxima raised meanwhile
_CONFLICTS = {"ConditionalCheckFailed", "TransactionConflict", "None"}
_CANCELLED = "TransactionCanceledException"


class DynamoUnitOfWork(UnitOfWork):
    """Reads what one attempt needs in two BatchGetItem calls, then commits in chunks.

    Nothing is locked: the commit's conditions (id absent, account version unchanged, maxima
    not overtaken) detect a concurrent writer, and the service reads again and retries.
    """

    def __init__(self, db: t.DynamoTable, bank: str, shard: int) -> None:
        self.db = db
        self.bank = bank
        self.shard = shard
        self.hours: set[str] = set()
        self.known: dict[t.ItemKey, Bucket | None] = {}
        self.states: dict[str, AccountState] = {}
        self.docs: dict[str, AccountDoc] = {}
        self.suppressions: list[Suppression] | None = None  # the bank's, read with the states

    def get_transactions(self, ids: list[str]) -> dict[str, Transaction]:
        items = self.db.batch_get([t.tx_key(self.bank, i) for i in ids])
        return {tx.id: tx for tx in (codec.tx_from(codec.from_wire(w)) for w in items.values())}

    def will_write(self, transactions: list[Transaction]) -> None:
        self.hours = {hour_key(tx.timestamp) for tx in transactions}

    def get_account_states(self, accounts: list[str]) -> dict[str, AccountState]:
        self._read(accounts, self.hours)
        return {a: self.states[a] for a in accounts}

    def get_suppressions(self, accounts: list[str]) -> list[Suppression]:
        if self.suppressions is None:  # the states' read had no room: one GetItem
            out = self.db.on_table("get_item", Key=alerting.suppressions_key(self.bank),
                                   ConsistentRead=True)
            self.suppressions = alerting.suppressions_from(self.bank, out.get("Item"))
        wanted = set(accounts)
        return [s for s in self.suppressions if s.account in wanted]

    def _read(self, accounts: list[str], hours: set[str]) -> None:
        """Account items, this attempt's bank shard and its hour items in one BatchGetItem,
        with the bank's suppressions item when the call has room for it (no extra call)."""
        wanted = ([t.account_key(self.bank, a) for a in accounts]
                  + [t.shard_key(self.bank, self.shard)]
                  + [t.hour_key(self.bank, self.shard, h) for h in sorted(hours)])
        wanted = [w for w in wanted if t.item_key(w) not in self.known]
        banned = alerting.suppressions_key(self.bank)
        ride = self.suppressions is None and len(wanted) % t.BATCH_GET != 0
        items = self.db.batch_get([*wanted, banned] if ride else wanted)
        if ride:
            self.suppressions = alerting.suppressions_from(self.bank,
                                                           items.get(t.item_key(banned)))
        for wire in wanted:
            at = t.item_key(wire)
            item = codec.from_wire(items[at]) if at in items else None
            _, agg = t.agg_of(*at) or ("", None)
            if agg is not None and agg.kind == ACCOUNT:
                doc = doc_from(item)
                self.docs[agg.name] = doc
                self.states[agg.name] = doc.state
                self.known[at] = doc.bucket
            else:
                self.known[at] = None if item is None else codec.flat_from(item)

    def commit(self, plan: WritePlan) -> None:
        accounts = set(plan.states) | {k.name for k in plan.deltas if k.kind == ACCOUNT}
        hours = {k.name for k in plan.deltas if k.kind == HOUR}
        self._read(sorted(a for a in accounts if a not in self.states), hours)  # usually no-op
        committed: list[Transaction] = []
        late = {a: backdated(self.docs.get(a, AccountDoc()),
                             [tx for tx in plan.transactions if tx.account == a])
                for a in accounts}
        # each backdated pointer may rewrite a page and split it: two more actions at most
        for chunk in writes.split(plan, self.states, {a: 2 * len(p) for a, p in late.items()}):
            # the pages as the chunks before this one left them (an oversized account's later
            # piece may fall into what an earlier piece flushed)
            pages = read_pages(self.db, self.bank, {
                a: backdated(self.docs.get(a, AccountDoc()),
                             [tx for tx in chunk.transactions if tx.account == a])
                for a in chunk.versions})
            self._commit_chunk(chunk, committed, pages)
            committed.extend(chunk.transactions)
            writes.after_commit(self.bank, self.shard, chunk, self.known)

    def _commit_chunk(self, chunk: writes.Chunk, committed: list[Transaction],
                      pages: dict[str, dict[str, Page]]) -> None:
        for _ in range(CHUNK_RETRIES):
            actions, keys, after = writes.actions(self.db.name, self.bank, self.shard, chunk,
                                                  self.known, self.docs, pages)
            try:
                self.db.call("transact_write_items", expect={_CANCELLED}, TransactItems=actions)
                self.docs.update(after)
                return
            except t.Rejected as exc:
                reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])
                codes = {str(r.get("Code")) for r in reasons}
                if "ValidationError" in codes:  # not a race, not the weather: see refusal
                    raise t.refusal("transact_write_items", " ".join(
                        str(r.get("Message", "")) for r in reasons)) from exc
                if not codes <= _CONFLICTS:  # throttled: not a race
                    raise StoreError(f"DynamoDB cancelled the write: {sorted(codes)}") from exc
                if not self._raised_meanwhile(reasons, keys):
                    raise CommitConflict(f"a concurrent writer got there first: {sorted(codes)}",
                                         committed) from exc
        raise CommitConflict("maxima kept moving; read again", committed)

    def _raised_meanwhile(self, reasons: list[dict[str, Any]], keys: list[t.ItemKey]
                          ) -> bool:
        """True (and `known` refreshed) when every failed condition was a bank shard's or an
        hour's maximum that a concurrent writer raised: the chunk can be rebuilt at once."""
        failed = [(keys[i], r) for i, r in enumerate(reasons) if r.get("Code") != "None"]
        if not failed or any(r.get("Code") != "ConditionalCheckFailed" or "Item" not in r
                             or not _is_flat(at) for at, r in failed):
            return False
        for at, reason in failed:
            self.known[at] = codec.flat_from(codec.from_wire(reason["Item"]))
        return True


def _is_flat(at: t.ItemKey) -> bool:
    """A bank shard's or an hour's item (flat counters, maxima raised by conditional SETs)."""
    _, agg = t.agg_of(*at) or ("", None)
    return agg is not None and agg.kind in (BANK, HOUR)
