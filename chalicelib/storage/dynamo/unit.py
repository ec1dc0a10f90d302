"""One DynamoDB ingest attempt: two BatchGetItem reads, then conditional transactional chunks.

Split from `dynamo` (the store) to keep each file to one idea.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aggregates import ACCOUNT, HOUR, Bucket
from chalicelib.model import Transaction
from chalicelib.rules import AccountState
from chalicelib.storage.dynamo import codec, writes
from chalicelib.storage.port import CommitConflict, StoreError, UnitOfWork, WritePlan
from chalicelib.timeutil import hour_key

if TYPE_CHECKING:
    from chalicelib.storage.dynamo.store import DynamoStore

CHUNK_RETRIES = 3  # rebuilds of a chunk whose only failed conditions were maxima raised meanwhile
_CONFLICTS = {"ConditionalCheckFailed", "TransactionConflict", "None"}


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" when it has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoUnitOfWork(UnitOfWork):
    """Reads what one attempt needs in two BatchGetItem calls, then commits in chunks.

    Nothing is locked: the commit's conditions (id absent, account version unchanged, maxima
    not overtaken) detect a concurrent writer, and the service reads again and retries.
    """

    def __init__(self, store: DynamoStore, bank: str, shard: int) -> None:
        self.store = store
        self.bank = bank
        self.shard = shard
        self.hours: set[str] = set()
        self.known: dict[writes.ItemKey, Bucket | None] = {}
        self.states: dict[str, AccountState] = {}

    def get_transactions(self, ids: list[str]) -> dict[str, Transaction]:
        items = self.store.batch_get([codec.tx_key(self.bank, i) for i in ids])
        return {tx.id: tx for tx in (codec.tx_from(i) for i in items.values())}

    def expect(self, transactions: list[Transaction]) -> None:
        self.hours = {hour_key(tx.timestamp) for tx in transactions}

    def get_account_states(self, accounts: list[str]) -> dict[str, AccountState]:
        self._read(accounts, self.hours)
        return {a: self.states[a] for a in accounts}

    def _read(self, accounts: list[str], hours: set[str]) -> None:
        """Account items, this attempt's bank shard and its hour items, in one BatchGetItem."""
        wanted = ([codec.account_key(self.bank, a) for a in accounts]
                  + [codec.shard_key(self.bank, self.shard)]
                  + [codec.hour_key(self.bank, self.shard, h) for h in sorted(hours)])
        wanted = [w for w in wanted if writes.item_key(w) not in self.known]
        items = self.store.batch_get(wanted)
        for wire in wanted:
            at = writes.item_key(wire)
            item = items.get(at)
            if at[0].startswith("AC#"):
                account = at[0].split("#", 2)[2]
                self.states[account] = codec.state_from(item)
                self.known[at] = codec.account_bucket_from(item)
            else:
                self.known[at] = None if item is None else codec.flat_from(item)

    def commit(self, plan: WritePlan) -> None:
        accounts = set(plan.states) | {k.name for k in plan.deltas if k.kind == ACCOUNT}
        hours = {k.name for k in plan.deltas if k.kind == HOUR}
        self._read(sorted(a for a in accounts if a not in self.states), hours)  # usually no-op
        committed: list[Transaction] = []
        for chunk in writes.split(plan, self.states):
            self._commit_chunk(chunk, committed)
            committed.extend(chunk.transactions)
            writes.after_commit(self.bank, self.shard, chunk, self.known)

    def _commit_chunk(self, chunk: writes.Chunk, committed: list[Transaction]) -> None:
        store = self.store
        for _ in range(CHUNK_RETRIES):
            actions, keys = writes.actions(store.table, self.bank, self.shard, chunk, self.known)
            try:
                store.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
                return
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise StoreError(f"DynamoDB transact_write_items failed: {error_code(exc)}"
                                     ) from exc
                reasons: list[dict[str, Any]] = exc.response.get(  # type: ignore[assignment]
                    "CancellationReasons", [])
                codes = {str(r.get("Code")) for r in reasons}
                if not codes <= _CONFLICTS:  # throttled, or a validation error: not a race
                    raise StoreError(f"DynamoDB cancelled the write: {sorted(codes)}") from exc
                if not self._raised_meanwhile(reasons, keys):
                    raise CommitConflict(f"a concurrent writer got there first: {sorted(codes)}",
                                         committed) from exc
            except BotoCoreError as exc:
                raise StoreError(f"DynamoDB transact_write_items failed: {exc}") from exc
        raise CommitConflict("maxima kept moving; read again", committed)

    def _raised_meanwhile(self, reasons: list[dict[str, Any]], keys: list[writes.ItemKey]
                          ) -> bool:
        """True (and `known` refreshed) when every failed condition was a bank shard's or an
        hour's maximum that a concurrent writer raised: the chunk can be rebuilt at once."""
        failed = [(keys[i], r) for i, r in enumerate(reasons) if r.get("Code") != "None"]
        if not failed or any(r.get("Code") != "ConditionalCheckFailed" or "Item" not in r
                             or not at[0].startswith(("BS#", "HR#")) for at, r in failed):
            return False
        for at, reason in failed:
            self.known[at] = codec.flat_from(codec.from_wire(reason["Item"]))
        return True
