"""The DynamoDB side of the sequenced consumer (usecases/sequenced.py): plain conditional puts.

- records: put only if absent, 25 a call (dynamo_insert: PartiQL INSERTs in one
  BatchExecuteStatement, each billed as a PutItem); a key found taken is read (a duplicate
  or a conflict, rare: a read only then): another writer's record is what the id holds, this
  message's own from an earlier delivery is kept, or rewritten on `w = :token` when it must
  now hold other content (a suppression came in between);
- account items (dynamo_account): a Put on the condition that `ver` is still the one read, with
  `hwm` = the message's sequence; its history pages first (plain puts, idempotent);
- alerts and outbox events (dynamo_alerts.plan_puts, keyed by transaction id): each put only
  if absent (INSERTs as the records), after the records and before the account items, so a
  redelivery writes nothing;
- the group's bank and hour totals (`GB#<bank>` / `GH#<bank>`, one item each per group): the
  item read, plus the deltas of the messages above its hwm, put whole on the hwm read (when
  another delivery wrote it meanwhile, read again: only what is still missing is added);
- the bank's alert counters (dynamo_alerts' `AO` item of shard group mod shards, which the
  transactional path and the triage ADD to as well): an ADD of the messages above the group's
  own hwm attribute there (`hwm_<group>`), on the condition that it is still the one read
  (read with the accounts, as the bank's suppressions are: one BatchGetItem per attempt).
Independent writes of one step go out together (boto3 clients are thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from chalicelib.adapters.dynamo import dynamo_alerts as alerting
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_account import (
    AccountDoc,
    Page,
    account_item,
    backdated,
    doc_from,
    history_pk,
    with_history,
)
from chalicelib.adapters.dynamo.dynamo_history import read_pages
from chalicelib.adapters.dynamo.dynamo_insert import BATCH_STATEMENTS, insert_absent
from chalicelib.domain.aggregates import BANK, HOUR, AggKey, Bucket
from chalicelib.domain.alerts import Alert, Event, Suppression
from chalicelib.domain.model import Transaction
from chalicelib.ports.store import AccountCommit, AccountMark, SequencedSession, StoreError

PARALLEL = 10
MAX_TOTAL_TRIES = 4  # re-reads of a totals item another delivery wrote meanwhile
_FAILED = "ConditionalCheckFailedException"
T = TypeVar("T")


def _together(calls: Sequence[Callable[[], T]]) -> list[T]:
    if len(calls) <= 1:
        return [c() for c in calls]
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(calls))) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


class DynamoSequencedSession(SequencedSession):
    """One attempt at one message, for one bank."""

    def __init__(self, db: t.DynamoTable, bank: str, shards: int = 1) -> None:
        self.db = db
        self.bank = bank
        self.shards = shards  # the store's bank shards: the alert counters' too
        self.wrote = False
        self.docs: dict[str, AccountDoc] = {}
        self.totals: dict[t.ItemKey, tuple[Bucket | None, str]] = {}
        self.suppressions: t.Wire | None = None
        self.counter_hwm: str | None = None  # None: not read yet

    def _key(self, group: int, agg: AggKey) -> t.Wire:
        if agg.kind == BANK:
            return t.group_bank_key(self.bank, group)
        if agg.kind == HOUR:
            return t.group_hour_key(self.bank, group, agg.name)
        raise ValueError(f"not a group total: {agg}")

    def read(self, accounts: list[str], group: int, hours: list[str]) -> dict[str, AccountMark]:
        totals = [self._key(group, AggKey(BANK))] + [self._key(group, AggKey(HOUR, h))
                                                    for h in hours]
        # the suppressions and the alert counters' item in the same call: a round trip less
        # for a message that flags something, a read unit more for one that does not
        counter = alerting.counter_key(self.bank, group % self.shards)
        found = self.db.batch_get([t.account_key(self.bank, a) for a in accounts] + totals
                                  + [alerting.suppressions_key(self.bank), counter])
        self.suppressions = found.get(t.item_key(alerting.suppressions_key(self.bank)))
        self.counter_hwm = str(found.get(t.item_key(counter), {}).get(
            f"hwm_{group:04d}", {}).get("S", ""))
        for a in accounts:
            wire = found.get(t.item_key(t.account_key(self.bank, a)))
            self.docs[a] = doc_from(None if wire is None else codec.from_wire(wire))
        for wire_key in totals:
            at = t.item_key(wire_key)
            item = codec.from_wire(found[at]) if at in found else None
            self.totals[at] = (None, "") if item is None else (codec.flat_from(item),
                                                                str(item.get("hwm", "")))
        return {a: AccountMark(d.state, d.hwm, d.created_by) for a, d in self.docs.items()}

    def get_records(self, ids: list[str]) -> dict[str, tuple[Transaction, str | None]]:
        items = self.db.batch_get([t.tx_key(self.bank, i) for i in ids])
        out: dict[str, tuple[Transaction, str | None]] = {}
        for wire in items.values():
            item = codec.from_wire(wire)
            tx = codec.tx_from(item)
            out[tx.id] = (tx, codec.writer_of(item))
        return out

    def put_records(self, writes: list[tuple[str, Transaction]]) -> dict[str, Transaction]:
        self.wrote = True
        items = [codec.to_wire(codec.tx_item(self.bank, tx, token)) for token, tx in writes]
        present = self._insert(items)
        if not present:
            return {}
        # a key taken: another writer's record, or this message's own from an earlier delivery
        stored = self.db.batch_get([t.tx_key(self.bank, tx.id) for _, tx in writes
                                    if t.item_key(t.tx_key(self.bank, tx.id)) in present])
        taken: dict[str, Transaction] = {}
        ours: list[tuple[str, Transaction]] = []
        for token, tx in writes:
            at = t.item_key(t.tx_key(self.bank, tx.id))
            if at not in present:
                continue
            if at not in stored:
                raise StoreError(f"record {tx.id} reported present, then not found")
            item = codec.from_wire(stored[at])
            held = codec.tx_from(item)
            if codec.writer_of(item) != token:
                taken[tx.id] = held
            elif held != tx:
                ours.append((token, tx))
        # ours with other content (a suppression came in between two deliveries): rewrite it
        return taken | self._overwrite_own(ours)

    def _insert(self, items: list[t.Wire]) -> set[t.ItemKey]:
        chunks = [items[i:i + BATCH_STATEMENTS] for i in range(0, len(items), BATCH_STATEMENTS)]
        return set().union(*_together([partial(insert_absent, self.db, c) for c in chunks]))

    def _overwrite_own(self, writes: list[tuple[str, Transaction]]) -> dict[str, Transaction]:
        def put(token: str, tx: Transaction) -> tuple[str, Transaction | None]:
            try:
                self.db.on_table("put_item", expect={_FAILED},
                                 Item=codec.to_wire(codec.tx_item(self.bank, tx, token)),
                                 ConditionExpression="attribute_not_exists(pk) OR w = :t",
                                 ExpressionAttributeValues={":t": {"S": token}},
                                 ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except t.Rejected as exc:
                return tx.id, codec.tx_from(codec.from_wire(exc.response["Item"]))
            return tx.id, None

        return {i: stored for i, stored in _together([partial(put, token, tx)
                                                      for token, tx in writes])
                if stored is not None}

    def get_suppressions(self, accounts: list[str]) -> list[Suppression]:
        wanted = set(accounts)
        return [s for s in alerting.suppressions_from(self.bank, self.suppressions)
                if s.account in wanted]

    def put_alerts(self, alerts: list[Alert], events: list[Event]) -> None:
        puts = alerting.plan_puts(self.db.name, alerts, events)
        if not puts:
            return
        self.wrote = True
        # each only if absent: one put by an earlier delivery (maybe triaged or dispatched
        # since) is left as it is
        self._insert([request["Put"]["Item"] for request in puts])

    def put_alert_counts(self, group: int, counts: list[tuple[str, int, int]]) -> None:
        counts = [c for c in counts if c[1] or c[2]]
        if not counts:
            return
        self.wrote = True
        key = alerting.counter_key(self.bank, group % self.shards)
        names = {"#h": f"hwm_{group:04d}", "#o": alerting.OPEN_COUNT,
                 "#s": alerting.SUPPRESSED_COUNT}
        hwm: str | None = self.counter_hwm  # as read with the accounts
        for _ in range(MAX_TOTAL_TRIES):
            if hwm is None:
                out = self.db.on_table("get_item", Key=key, ConsistentRead=True,
                                       ProjectionExpression="#h",
                                       ExpressionAttributeNames={"#h": names["#h"]})
                hwm = str(out.get("Item", {}).get(names["#h"], {}).get("S", ""))
            todo = [(s, o, x) for s, o, x in counts if not s or s > hwm]
            if not todo:
                return  # counted by an earlier delivery
            last = max(s for s, _, _ in todo)
            values: dict[str, Any] = {":o": {"N": str(sum(o for _, o, _ in todo))},
                                      ":s": {"N": str(sum(x for _, _, x in todo))}}
            params: dict[str, Any] = {"UpdateExpression": "ADD #o :o, #s :s",
                                      "ExpressionAttributeNames": dict(names)}
            if last:
                params["UpdateExpression"] += " SET #h = :l"
                values[":l"] = {"S": last}
                if hwm:
                    params["ConditionExpression"] = "#h = :h"
                    values[":h"] = {"S": hwm}
                else:
                    params["ConditionExpression"] = "attribute_not_exists(#h)"
            else:
                del params["ExpressionAttributeNames"]["#h"]
            try:
                self.db.on_table("update_item", expect={_FAILED}, Key=key,
                                 ExpressionAttributeValues=values, **params)
                return
            except t.Rejected:  # another delivery counted meanwhile: read the hwm again
                hwm = None
        raise StoreError("the alert counters kept changing; retry")

    def commit_accounts(self, sequence: str, commits: list[AccountCommit]) -> list[str]:
        if not commits:
            return []
        self.wrote = True
        pages = read_pages(self.db, self.bank, {
            c.account: backdated(self.docs[c.account], c.transactions) for c in commits})
        results = _together([partial(self._commit, sequence, c, pages.get(c.account, {}))
                             for c in commits])
        return [c.account for c, ok in zip(commits, results, strict=True) if not ok]

    def _commit(self, sequence: str, commit: AccountCommit, pages: dict[str, Page]) -> bool:
        doc = self.docs[commit.account]
        bucket = Bucket() if doc.bucket is None else Bucket.from_json(doc.bucket.to_json())
        bucket.merge(commit.delta)
        version = doc.version
        after, history = with_history(self.bank, commit.account, replace(
            doc, state=replace(commit.state, version=version + 1), bucket=bucket,
            hwm=sequence or doc.hwm, created_by=sequence if commit.new else ""),
            commit.transactions, pages)
        try:
            for page in history.puts:
                self.db.on_table("put_item", Item=codec.to_wire(page.item(self.bank,
                                                                          commit.account)))
            for page, old in history.rewrites:
                self.db.on_table("put_item", expect={_FAILED},
                                 Item=codec.to_wire(page.item(self.bank, commit.account)),
                                 ConditionExpression="p = :p",
                                 ExpressionAttributeValues={":p": {"S": old}})
            params: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"} if version == 0 else
                {"ConditionExpression": "ver = :v",
                 "ExpressionAttributeValues": {":v": {"N": str(version)}}})
            self.db.on_table("put_item", expect={_FAILED}, **params, Item=codec.to_wire(
                account_item(self.bank, commit.account, after)))
        except t.Rejected:
            return False
        return True

    def put_totals(self, group: int, deltas: list[tuple[str, dict[AggKey, Bucket]]]) -> None:
        self.wrote = True
        keys = sorted({k for _, d in deltas for k in d})

        def put(agg: AggKey) -> None:
            wire_key = self._key(group, agg)
            at = t.item_key(wire_key)
            stored, hwm = self.totals.get(at, (None, ""))
            for _ in range(MAX_TOTAL_TRIES):
                todo = [(s, d[agg]) for s, d in deltas if agg in d and (not s or s > hwm)]
                if not todo:
                    return  # applied by an earlier delivery
                bucket = Bucket() if stored is None else Bucket.from_json(stored.to_json())
                for _, delta in todo:
                    bucket.merge(delta)
                item = codec.flat_item(*at, bucket)
                last = max(s for s, _ in todo)
                params: dict[str, Any] = {}
                if last:
                    item["hwm"] = last
                    params = ({"ConditionExpression": "attribute_not_exists(pk)"} if stored is None
                              else {"ConditionExpression": "hwm = :h",
                                    "ExpressionAttributeValues": {":h": {"S": hwm}}})
                try:
                    self.db.on_table("put_item", expect={_FAILED}, Item=codec.to_wire(item),
                                     **params)
                    return
                except t.Rejected:  # another delivery wrote it meanwhile: read it again
                    out = self.db.on_table("get_item", Key=wire_key, ConsistentRead=True)
                    found = codec.from_wire(out["Item"]) if "Item" in out else None
                    stored = None if found is None else codec.flat_from(found)
                    hwm = "" if found is None else str(found.get("hwm", ""))
            raise StoreError("a group's totals item kept changing; retry")

        _together([partial(put, agg) for agg in keys])


__all__ = ["DynamoSequencedSession", "history_pk"]
