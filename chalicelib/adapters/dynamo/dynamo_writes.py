"""A WritePlan as DynamoDB TransactWriteItems calls: chunks of at most 100 actions, each atomic.

A chunk holds some transactions with everything they change: one conditional insert per
transaction, one Put per account (rule state and aggregate together, conditional on the version
read), one ADD per bank shard and per hour, and the account's history pages when its pointers
overflow the account item (dynamo_account). An account's transactions stay in one chunk unless
they alone overflow one; then each chunk writes the account's state as of its transactions and
bumps the version, so no aggregate is ever applied without its transactions.

The largest transaction and the last activity of a bank shard or hour cannot be ADDed (DynamoDB
has no MAX update). The plan knows what was stored when the unit of work read it; only when the
batch beats that does the update SET the new value, on the condition that the stored value is
still beaten by ours. Values only grow, so a value that was beaten when read and is not beaten
now was raised by a concurrent writer: the chunk is cancelled, the store reads the winner from
the cancellation reason and rebuilds the chunk without our now-unneeded SET. Record-breaking
is rare, so this costs almost nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.adapters.dynamo import dynamo_alerts as alerting
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_account import (
    AccountDoc,
    Page,
    account_item,
    history_pk,
    with_history,
)
from chalicelib.adapters.dynamo.dynamo_table import ItemKey, item_key
from chalicelib.domain.aggregates import (
    ACCOUNT,
    BANK,
    BANK_KEY,
    HOUR,
    AggKey,
    Bucket,
    beats_expression,
    deltas_for,
    largest_rank,
)
from chalicelib.domain.alerts import Alert, Event, suppressed_flags
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import remember
from chalicelib.domain.rules import AccountState
from chalicelib.domain.timeutil import hour_key, sort_key
from chalicelib.ports.store import WritePlan

MAX_ACTIONS = 100  # TransactWriteItems' limit per call

@dataclass
class Chunk:
    """One atomic TransactWriteItems call's worth of a plan."""

    transactions: list[Transaction] = field(default_factory=list)
    deltas: dict[AggKey, Bucket] = field(default_factory=dict)
    states: dict[str, AccountState] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # account -> version expected
    # the alerts and events of this chunk's transactions, written with them (dynamo_alerts)
    alerts: list[Alert] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


Part = list[tuple[str, list[Transaction]]]  # (account, its transactions) in one chunk


PER_ACCOUNT = 2  # the account item, and the history page it may flush (dynamo_account)


def _with_alerts(plan: WritePlan) -> set[str]:
    """Ids of the plan's transactions that open an alert (two more actions each: the alert
    and its event)."""
    return {a.transaction_id for a in plan.alerts}


def _counted(plan: WritePlan) -> bool:
    """Whether the plan moves the alert counters (one more action per chunk)."""
    return bool(plan.alerts) or suppressed_flags(plan.transactions) > 0


def _cost(part: Part, extra: dict[str, int], opened: Collection[str] = (),
          counted: bool = False) -> int:
    """Actions of a chunk: inserts (with their alerts and events), two per account (and its
    backdated pages' `extra`), one per hour, one for the bank shard, one for the alert
    counters when they move."""
    hours = {hour_key(tx.timestamp) for _, txs in part for tx in txs}
    alerts = sum(2 for _, txs in part for tx in txs if tx.id in opened)
    return (sum(len(txs) + PER_ACCOUNT + extra.get(a, 0) for a, txs in part)
            + len(hours) + 1 + alerts + int(counted))


def _pieces(txs: list[Transaction], opened: set[str], room: int) -> list[list[Transaction]]:
    """An oversized account's transactions in pieces of at most `room` actions each: four per
    transaction (its insert, its hour, a history page it may rewrite and split) and two more
    when it opens an alert (the alert and its event)."""
    pieces: list[list[Transaction]] = [[]]
    used = 0
    for tx in txs:
        cost = 6 if tx.id in opened else 4
        if pieces[-1] and used + cost > room:
            pieces.append([])
            used = 0
        pieces[-1].append(tx)
        used += cost
    return pieces


def split(plan: WritePlan, read_states: dict[str, AccountState],
          extra: dict[str, int] | None = None) -> list[Chunk]:
    """The plan in chunks of at most MAX_ACTIONS actions (usually one chunk, or a few).
    `extra`: an account's history page rewrites beyond the one page it may flush."""
    extra = extra or {}
    accounts = set(plan.states) | {k.name for k in plan.deltas if k.kind == ACCOUNT}
    versions = {a: (plan.states[a].version if a in plan.states
                    else read_states.get(a, AccountState()).version) for a in accounts}
    hours = {k.name for k in plan.deltas if k.kind == HOUR}
    opened, counted = _with_alerts(plan), _counted(plan)
    if (len(plan.transactions) + PER_ACCOUNT * len(accounts) + sum(extra.values())
            + len(hours) + 1 + 2 * len(opened) + int(counted) <= MAX_ACTIONS):
        states = {a: plan.states.get(a, read_states.get(a, AccountState())) for a in accounts}
        return [Chunk(list(plan.transactions), dict(plan.deltas), states, versions,
                      list(plan.alerts), list(plan.events))]
    groups: dict[str, list[Transaction]] = {a: [] for a in sorted(accounts)}
    for tx in plan.transactions:
        groups[tx.account].append(tx)
    parts: list[Part] = [[]]
    # a piece of an oversized account, in a chunk of its own: each transaction, its hour, and
    # a history page it may rewrite and split (a later piece is older or newer than what the
    # earlier ones flushed), its alert and event if it opens one, plus the account item, its
    # flush, the bank shard and the alert counters when they move (_pieces)
    room = MAX_ACTIONS - 1 - PER_ACCOUNT - int(counted)
    for account, txs in groups.items():
        if _cost([(account, txs)], extra, opened, counted) <= MAX_ACTIONS:
            if parts[-1] and _cost([*parts[-1], (account, txs)], extra, opened,
                                   counted) > MAX_ACTIONS:
                parts.append([])
            parts[-1].append((account, txs))
            continue
        for piece in _pieces(txs, opened, room):  # each piece in a chunk of its own
            if parts[-1]:
                parts.append([])
            parts[-1].append((account, piece))
    chunks = _chunks(plan, read_states, versions, [p for p in parts if p])
    for chunk in chunks:
        ids = {tx.id for tx in chunk.transactions}
        chunk.alerts = [a for a in plan.alerts if a.transaction_id in ids]
        chunk.events = [e for e in plan.events if alerting.event_transaction(e) in ids]
    return chunks


def _chunks(plan: WritePlan, read_states: dict[str, AccountState], versions: dict[str, int],
            parts: list[Part]) -> list[Chunk]:
    """Chunks with their own deltas and each account's state as of its transactions so far."""
    fresh = {a for a, v in versions.items() if v == 0}
    state_now = {a: read_states.get(a, plan.states.get(a, AccountState())) for a in versions}
    last_part = {a: i for i, part in enumerate(parts) for a, _ in part}
    chunks: list[Chunk] = []
    for i, part in enumerate(parts):
        chunk = Chunk()
        new_here: list[str] = []
        for account, txs in part:
            chunk.transactions.extend(txs)
            chunk.versions[account] = versions[account]
            if last_part[account] == i and account in plan.states:
                state = plan.states[account]
            else:
                state = state_now[account]
                for tx in txs:
                    state = remember(state, tx, plan.rules)
            state_now[account] = state
            chunk.states[account] = state
            versions[account] += 1
            if account in fresh:
                fresh.discard(account)
                new_here.append(account)
        chunk.deltas = deltas_for(chunk.transactions, new_here)
        chunks.append(chunk)
    total: dict[AggKey, Bucket] = {}
    for chunk in chunks:
        for k, delta in chunk.deltas.items():
            total.setdefault(k, Bucket()).merge(delta)
    if total != plan.deltas:
        raise ValueError("a plan over 100 actions must carry deltas_for(its transactions)")
    return chunks


class _Expr:
    """Placeholders for an update's attribute names and values."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        for placeholder, known in self.names.items():
            if known == attr:
                return placeholder
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attr
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = codec.to_wire({"v": value})["v"]
        return placeholder


def flat_update(table: str, wire_key: t.Wire, delta: Bucket,
                known: Bucket | None) -> dict[str, Any]:
    """ADD the delta's counters; SET max and last only where the delta beats `known`."""
    e = _Expr()
    adds: list[str] = []
    sets: list[str] = []
    conds: list[str] = []

    def add(attr: str, amount: object) -> None:
        if amount:
            adds.append(f"{e.name(attr)} {e.value(amount)}")

    add("n", delta.count)
    add("na", delta.accounts)
    add("nf", delta.flagged)
    for code, totals in sorted(delta.currencies.items()):
        add(f"cc_{code}", totals.credit_count)
        add(f"ct_{code}", totals.credit_total)
        add(f"dc_{code}", totals.debit_count)
        add(f"dt_{code}", totals.debit_total)
        stored = known.currencies.get(code) if known else None
        ref = totals.max
        if ref is not None and ref.beats(stored.max if stored else None):
            for attr, value in codec.max_attributes(code, ref).items():
                sets.append(f"{e.name(attr)} = {e.value(value)}")
            a, k, i = e.name(f"mxa_{code}"), e.name(f"mxk_{code}"), e.name(f"mxi_{code}")
            ours = {name: e.value(value) for name, value in ref.rank().items()}
            conds.append(f"(attribute_not_exists({a}) OR"
                         f" {beats_expression(ours, largest_rank(a, k, i))})")
    for rule, count in sorted(delta.flags.items()):
        add(f"f_{rule}", count)
    last = delta.last_activity
    if last is not None and (known is None or known.last_activity is None
                             or sort_key(last) > sort_key(known.last_activity)):
        lk = e.name("lastk")
        sets.append(f"{e.name('last')} = {e.value(last)}")
        sets.append(f"{lk} = {e.value(sort_key(last))}")
        conds.append(f"(attribute_not_exists({lk}) OR {lk} < {e.value(sort_key(last))})")
    clauses = ([f"ADD {', '.join(adds)}"] if adds else []) + (
        [f"SET {', '.join(sets)}"] if sets else [])
    update: dict[str, Any] = {"TableName": table, "Key": wire_key,
                              "UpdateExpression": " ".join(clauses),
                              "ExpressionAttributeNames": e.names}
    if e.values:
        update["ExpressionAttributeValues"] = e.values
    if conds:
        update["ConditionExpression"] = " AND ".join(conds)
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": update}


def actions(table: str, bank: str, shard: int, chunk: Chunk,
            known: dict[ItemKey, Bucket | None], docs: dict[str, AccountDoc],
            pages: dict[str, dict[str, Page]]
            ) -> tuple[list[dict[str, Any]], list[ItemKey], dict[str, AccountDoc]]:
    """The chunk's TransactWriteItems actions, the item each action writes, and each account's
    document as the chunk leaves it (its history with the chunk's transactions)."""
    out: list[dict[str, Any]] = []
    keys: list[ItemKey] = []
    for tx in chunk.transactions:
        out.append({"Put": {"TableName": table, "Item": codec.to_wire(codec.tx_item(bank, tx)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        keys.append(item_key(t.tx_key(bank, tx.id)))
    after: dict[str, AccountDoc] = {}
    for account, version in sorted(chunk.versions.items()):
        wire_key = t.account_key(bank, account)
        base = known.get(item_key(wire_key))
        bucket = None if base is None else Bucket.from_json(base.to_json())
        delta = chunk.deltas.get(AggKey(ACCOUNT, account))
        if delta is not None:
            bucket = bucket or Bucket()
            bucket.merge(delta)
        doc = docs.get(account, AccountDoc())
        mine = [tx for tx in chunk.transactions if tx.account == account]
        doc, history = with_history(bank, account, replace(
            doc, state=replace(chunk.states[account], version=version + 1), bucket=bucket,
            created_by=""), mine, pages.get(account, {}))
        after[account] = doc
        item = account_item(bank, account, doc)
        condition = ("#v = :v" if version else "attribute_not_exists(#v) OR #v = :v")
        out.append({"Put": {"TableName": table, "Item": codec.to_wire(item),
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": {"#v": "ver"},
                            "ExpressionAttributeValues": {":v": {"N": str(version)}}}})
        keys.append(item_key(wire_key))
        for page in history.puts:
            out.append({"Put": {"TableName": table,
                                "Item": codec.to_wire(page.item(bank, account))}})
            keys.append((history_pk(bank, account), page.key))
        for page, old in history.rewrites:
            out.append({"Put": {"TableName": table,
                                "Item": codec.to_wire(page.item(bank, account)),
                                "ConditionExpression": "p = :p",
                                "ExpressionAttributeValues": {":p": {"S": old}}}})
            keys.append((history_pk(bank, account), page.key))
    for agg, delta in sorted(chunk.deltas.items()):
        if agg.kind == ACCOUNT:
            continue
        if agg.kind == BANK:
            wire_key = t.shard_key(bank, shard)
        elif agg.kind == HOUR:
            wire_key = t.hour_key(bank, shard, agg.name)
        else:
            raise ValueError(f"unknown aggregate kind {agg.kind!r}")
        out.append(flat_update(table, wire_key, delta, known.get(item_key(wire_key))))
        keys.append(item_key(wire_key))
    for put in alerting.plan_puts(table, chunk.alerts, chunk.events):
        out.append(put)
        keys.append(item_key(put["Put"]["Item"]))
    suppressed = suppressed_flags(chunk.transactions)
    if chunk.alerts or suppressed:
        update = alerting.counter_update(table, bank, shard, len(chunk.alerts), suppressed)
        out.append(update)
        keys.append(item_key(update["Update"]["Key"]))
    return out, keys, after


def after_commit(bank: str, shard: int, chunk: Chunk,
                 known: dict[ItemKey, Bucket | None]) -> None:
    """What the store now holds, so the next chunk's conditions start from it."""
    for agg, delta in chunk.deltas.items():
        if agg.kind == ACCOUNT:
            wire_key = t.account_key(bank, agg.name)
        elif agg == BANK_KEY:
            wire_key = t.shard_key(bank, shard)
        else:
            wire_key = t.hour_key(bank, shard, agg.name)
        bucket = known.get(item_key(wire_key)) or Bucket()
        bucket.merge(delta)
        known[item_key(wire_key)] = bucket
