"""Asynchronous ingest: validate at once, queue the valid items, consume them, keep receipts.

`submit` answers a `Prefer: respond-async` POST; `consume` applies one message with the same
ledger ingest as the synchronous path (so the same decisions and flags); `status` answers
GET /ingest/{request_id}. The ledger's conditional writes keep exactly-once across redeliveries.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.domain import messages
from chalicelib.domain.model import Transaction
from chalicelib.domain.receipts import (
    FAILED,
    QUEUED,
    REJECTED,
    ItemFate,
    ReceiptPart,
    bounded,
    rejected_parts,
)
from chalicelib.domain.timeutil import format_timestamp
from chalicelib.domain.validation import parse_json, split_batch, validate_transaction
from chalicelib.errors import NotFoundError, ServiceUnavailableError, ValidationError
from chalicelib.observability import record_outcomes, refusal_counted
from chalicelib.ports.queue import QueueError, ReceivedMessage
from chalicelib.ports.store import ReceiptStore, SequencedLedger
from chalicelib.usecases.ingest_sync import archive_body, check_content_type
from chalicelib.usecases.ledger import CREATED, DUPLICATE, ItemResult, count_rule_errors, ingest
from chalicelib.usecases.rules_admin import active_rule_set
from chalicelib.usecases.sequenced import HalfApplied, apply_messages, group_number, has_written

__all__ = ["HalfApplied"]

REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
DEAD_LETTERED, NOT_QUEUED = "queue", "request"  # the `field` of a failed item's error
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')  # a quoted-string, its escapes still in


def _split(text: str, separator: str) -> list[str]:
    """`text` cut at `separator` outside quoted-strings (an unclosed quote runs to the end)."""
    parts, start, quoted, escaped = [], 0, False, False
    for at, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:at])
            start = at + 1
    return [*parts, text[start:]]


def preferences(prefer: str | None) -> dict[str, str]:
    """RFC 7240's `Prefer`: `1#( token [ "=" word ] *( ";" parameter ) )`, the values of
    repeated headers joined with commas. Each preference's name (lower-cased) and value
    (unquoted; "" without one); parameters are not preferences; the first of a repeated name
    wins; a malformed element is ignored, as the RFC lets a server ignore what it does not
    understand."""
    found: dict[str, str] = {}
    for element in _split(prefer or "", ","):
        head = _split(element, ";")[0]
        name, _, value = (part.strip(" \t") for part in head.partition("="))
        quoted = QUOTED.fullmatch(value)
        if not TOKEN.fullmatch(name) or not (quoted or not value or TOKEN.fullmatch(value)):
            continue
        if quoted:
            value = re.sub(r"\\(.)", r"\1", quoted.group(1))
        found.setdefault(name.lower(), value)
    return found


def wants_async(prefer: str | None) -> bool:
    """RFC 7240: `respond-async` (it takes no value; an empty one is none) as a preference of
    its own, never as a parameter after another's `;` (`return=minimal; respond-async`)."""
    return preferences(prefer).get("respond-async") == ""


def post(rt: Runtime, bank: str, content_type: str | None, raw: bytes,
         now: datetime) -> tuple[str, dict[str, Any]]:
    """POST /transactions with `Prefer: respond-async`: the new request's id and 202 body."""
    request_id = uuid.uuid4().hex
    with refusal_counted(rt.settings.stage):
        check_content_type(content_type)
        body = submit(rt, bank, raw, now, request_id)
    # the consumer counts what it creates; what was refused here is counted here
    record_outcomes(rt.settings.stage, {REJECTED: body["summary"][REJECTED]}, 0)
    archive_body(rt, bank, request_id, raw, now)
    return request_id, body


def submit(rt: Runtime, bank: str, raw: bytes, now: datetime,
           request_id: str) -> dict[str, Any]:
    """Validate every item, store the receipt, queue the valid items: the 202 body."""
    body = parse_json(raw, rt.settings.max_body_bytes)
    items, is_batch = split_batch(body, rt.settings.max_batch)
    fates: list[ItemFate] = []
    valid: list[tuple[int, Transaction]] = []
    for index, item in enumerate(items):
        tx_id = item.get("id") if isinstance(item, dict) else None
        try:
            valid.append((index, validate_transaction(item, now)))
            fates.append(ItemFate(index, tx_id, QUEUED))
        except ValidationError as exc:
            if not is_batch:
                raise  # one invalid transaction: 400, as the synchronous path answers
            fates.append(bounded(ItemFate(index, tx_id if isinstance(tx_id, str) else None,
                                          REJECTED, errors=tuple(e.to_json()
                                                                 for e in exc.details))))
    return enqueue(rt, bank, now, request_id, fates, valid)


def submit_valid(rt: Runtime, bank: str, txs: list[Transaction], now: datetime,
                 request_id: str) -> dict[str, Any]:
    """Queue transactions validated already (a statement's entries): the 202 body."""
    return enqueue(rt, bank, now, request_id,
                   [ItemFate(i, tx.id, QUEUED) for i, tx in enumerate(txs)],
                   list(enumerate(txs)))


def enqueue(rt: Runtime, bank: str, now: datetime, request_id: str, fates: list[ItemFate],
            valid: list[tuple[int, Transaction]]) -> dict[str, Any]:
    """Store the receipt and queue the valid items: the 202 body."""
    queue, receipts, groups = rt.queue, rt.receipts, rt.settings.queue.groups
    parts = messages.plan(bank, request_id, valid, groups)
    by_part = rejected_parts([f for f in fates if f.status == REJECTED])
    for part in parts:
        by_part[part.number] = [fates[i] for i, _ in part.items]
    receipts.create(bank, request_id, format_timestamp(now), by_part)
    outgoing = [p.message() for p in parts]
    try:
        queue.send(outgoing)
    except QueueError as exc:
        # The items of messages not known to be queued read `failed` and are never applied
        # (a consumer skips a part that is not `queued`); the client gets a 503 and sends the
        # request again, where what did go comes back `duplicate`.
        unsent = {m.dedup_id for m in (outgoing if exc.unsent is None else exc.unsent)}
        receipts.settle_many(bank, [
            (request_id, part.number, [_failed(f, NOT_QUEUED, "not queued; send again")
                                       for f in by_part[part.number]])
            for part, message in zip(parts, outgoing, strict=True) if message.dedup_id in unsent])
        raise ServiceUnavailableError(f"the ingest queue is unavailable; retry ({exc})") from exc
    summary = Counter(f.status for f in fates)
    return {"request_id": request_id,
            "results": [{"index": f.index, "id": f.id, "status": f.status,
                         "errors": list(f.errors)} for f in fates],
            "summary": {QUEUED: summary[QUEUED], REJECTED: summary[REJECTED]}}


def _failed(fate: ItemFate, reason: str, why: str) -> ItemFate:
    return ItemFate(fate.index, fate.id, FAILED, errors=({"field": reason, "message": why},))


def _to_apply(fate: ItemFate) -> bool:
    """Still to be applied by a delivery: queued, or dead-lettered (a message moved back from
    the dead-letter queue by any tool, `scripts.redrive` or SQS's own move task, is applied).
    An item whose message was never known to be queued stays `failed`."""
    return fate.status == QUEUED or (fate.status == FAILED
                                     and any(e.get("field") == DEAD_LETTERED for e in fate.errors))


def status(receipts: ReceiptStore, bank: str, request_id: str) -> dict[str, Any]:
    """GET /ingest/{request_id}: the receipt of one of the bank's requests, `done` once every
    item is final."""
    receipt = (receipts.get(bank, request_id) if REQUEST_ID.fullmatch(request_id) else None)
    if receipt is None:
        raise NotFoundError(f"no ingest request {request_id!r} for this bank")
    items = receipt.items()
    return {"request_id": request_id, "status": "done" if receipt.done else "pending",
            "submitted_at": receipt.created_at,
            "results": [i.to_json() for i in items],
            "summary": dict(sorted(Counter(i.status for i in items).items()))}


def consume(rt: Runtime, message: ReceivedMessage, now: datetime) -> None:
    """Apply one message exactly once and record its items' fates in the receipt. Raises
    (MessageError, StoreError, ...) to leave the message for another delivery; HalfApplied
    when it failed after a write (never to be dead-lettered)."""
    if sequenced(rt, message):
        _consume_sequenced(rt, message, now)
    else:
        consume_many(rt, [message], now)


def sequenced(rt: Runtime, message: ReceivedMessage) -> bool:
    """Whether the store applies this message in its group's sequence, without transactions:
    a SequencedLedger (DynamoDB), a queue that numbers its messages and QUEUE_GROUPS > 0 (a
    group's totals need a group of their own; with a group per account they would be one item
    per account). Otherwise the ledger's transactions apply it (consume_many)."""
    return (isinstance(rt.store, SequencedLedger) and message.sequence.isdigit()
            and group_number(message.group) is not None)


def _consume_sequenced(rt: Runtime, message: ReceivedMessage, now: datetime) -> None:
    consume_run(rt, [message], now)


def consume_run(rt: Runtime, run: list[ReceivedMessage], now: datetime) -> None:
    """Apply consecutive messages of one group together (the sequenced consumer), then settle
    each one's receipt part. Raises like `consume`; ValueError when two of them share an id
    (the caller applies them one by one)."""
    parts = [messages.parse(m.body) for m in run]
    group = group_number(parts[0].group, rt.settings.queue.groups)
    stored = rt.receipts.get_parts([(p.bank, p.request_id, p.number) for p in parts])
    todo = [(p, m.sequence) for p, m in zip(parts, run, strict=True)
            if (mine := stored.get((p.bank, p.request_id, p.number))) is not None
            and any(_to_apply(f) for f in mine.items)]
    if not todo or group is None:
        return  # settled by an earlier delivery (or the receipt is gone): nothing to do
    assert isinstance(rt.store, SequencedLedger)
    bank = todo[0][0].bank
    rules = active_rule_set(rt.store, bank, rt.settings.rules, rt.rule_sets)
    outcomes = apply_messages(rt.store, todo, group, rules, now)
    settles: list[tuple[str, int, list[ItemFate]]] = []
    fates: list[ItemFate] = []
    for (part, _), results in zip(todo, outcomes, strict=True):
        count_rule_errors(rt.settings.stage, results, "ingest_queue")
        done = [bounded(ItemFate(index, r.id, r.status,
                                 tuple(r.transaction.flags) if r.transaction else (),
                                 tuple(e.to_json() for e in r.errors),
                                 tuple(d.to_json() for d in r.transaction.flag_details)
                                 if r.transaction else ()))
                for (index, _), r in zip(part.items, results, strict=True)]
        settles.append((part.request_id, part.number, done))
        fates += done
    try:  # the receipt parts last: then the messages may go
        rt.receipts.settle_many(bank, settles)
    except Exception as exc:
        raise HalfApplied(f"{type(exc).__name__}: {exc}") from exc
    _emit_outcomes(rt, fates)


def consume_many(rt: Runtime, batch: list[ReceivedMessage], now: datetime) -> None:
    """Apply delivered messages, one ledger ingest (one commit) per bank for all of them.

    The items are concatenated in delivery order, so each group's (account's) items keep their
    order, and the ledger decides exactly as it would have message by message: a later message's
    repeat of an id is settled against the earlier one. Raises on any failure; the caller then
    handles the messages one by one (what was committed reads back as already written)."""
    receipts = rt.receipts
    parsed = [messages.parse(m.body) for m in batch]
    stored = receipts.get_parts([(p.bank, p.request_id, p.number) for p in parsed])
    by_bank: dict[str, list[tuple[messages.Part, ReceiptPart]]] = {}
    for part in parsed:
        mine = stored.get((part.bank, part.request_id, part.number))
        if mine is None or not any(_to_apply(f) for f in mine.items):
            continue  # settled by an earlier delivery (or the receipt is gone): nothing to do
        by_bank.setdefault(part.bank, []).append((part, mine))
    for bank, todo in by_bank.items():
        _apply(rt, bank, todo, now)


def _apply(rt: Runtime, bank: str, todo: list[tuple[messages.Part, ReceiptPart]],
           now: datetime) -> None:
    receipts = rt.receipts
    owner: dict[str, messages.Part] = {}  # the part whose item the ledger writes for an id
    for part, _ in todo:
        for _, content in part.items:
            owner.setdefault(str(content["id"]), part)

    def mark(txs: list[Transaction]) -> None:
        written: dict[int, tuple[messages.Part, list[str]]] = {}
        for t in txs:
            part = owner[t.id]
            written.setdefault(id(part), (part, []))[1].append(t.id)
        receipts.mark_writing_many(bank, [(part.request_id, part.number, ids)
                                          for part, ids in written.values()])

    items = [content for part, _ in todo for _, content in part.items]
    rules = active_rule_set(rt.store, bank, rt.settings.rules, rt.rule_sets)
    outcomes = ingest(rt.store, bank, items, now, rules, before_commit=mark)
    count_rule_errors(rt.settings.stage, outcomes, "ingest_queue")
    writing = _writing_now(receipts, bank, todo, outcomes)
    results = iter(outcomes)
    fates: list[ItemFate] = []
    settles: list[tuple[str, int, list[ItemFate]]] = []
    seen: set[str | None] = set()  # a repeat of an id in these messages stays `duplicate`
    for part, _ in todo:
        mine = []
        for (index, _), result in zip(part.items, results, strict=False):
            state = result.status
            if (state == DUPLICATE and result.id not in seen
                    and result.id in writing[part.number, part.request_id]):
                state = CREATED  # another delivery of this message committed it
            seen.add(result.id)
            tx = result.transaction
            mine.append(bounded(ItemFate(
                index, result.id, state, tuple(tx.flags) if tx else (),
                tuple(e.to_json() for e in result.errors),
                tuple(d.to_json() for d in tx.flag_details) if tx else ())))
        settles.append((part.request_id, part.number, mine))
        fates += mine
    receipts.settle_many(bank, settles)
    _emit_outcomes(rt, fates)


def _writing_now(receipts: ReceiptStore, bank: str,
                 todo: list[tuple[messages.Part, ReceiptPart]],
                 outcomes: list[ItemResult]) -> dict[tuple[int, str], set[str]]:
    """The ids each part's consumers marked as writing, as of after this ingest. A delivery
    of the same message that committed an id marked it before its commit, so before this
    ingest found the id stored: when an id came back `duplicate` without a mark in the part as
    read at the start (a second consumer at work meanwhile, the first stalled past the
    visibility timeout), the marks are read again, and a marked id reads `created`."""
    writing = {(p.number, p.request_id): set(stored.writing) for p, stored in todo}
    results = iter(outcomes)
    unsure = False
    for p, _ in todo:
        for _, result in zip(p.items, results, strict=False):
            unsure |= result.status == DUPLICATE and result.id not in writing[p.number,
                                                                                p.request_id]
    if unsure:
        fresh = receipts.get_parts([(bank, p.request_id, p.number) for p, _ in todo])
        for p, _ in todo:
            got = fresh.get((bank, p.request_id, p.number))
            if got is not None:
                writing[p.number, p.request_id] |= got.writing
    return writing


def _emit_outcomes(rt: Runtime, fates: list[ItemFate]) -> None:
    """The same outcome metrics a synchronous request emits, for what this message applied."""
    record_outcomes(rt.settings.stage, Counter(f.status for f in fates),
                    sum(1 for f in fates if f.status == CREATED and f.flags), "ingest_queue")


def check_unwritten(rt: Runtime, message: ReceivedMessage) -> None:
    """Before a message is given up: HalfApplied if the store applies it in sequence and some
    delivery of it has written (such a message is never dead-lettered, even when this
    delivery failed before writing). A store read: if it fails, the message is not given up."""
    if not sequenced(rt, message):
        return  # applied by the ledger's transactions: nothing or a whole commit, idempotent
    try:
        part = messages.parse(message.body)
    except messages.MessageError:
        return  # not ours: it wrote nothing
    assert isinstance(rt.store, SequencedLedger)
    if has_written(rt.store, part):
        raise HalfApplied("a delivery of it has written: retried until it completes")


def give_up(receipts: ReceiptStore, message: ReceivedMessage, why: str) -> None:
    """The message's last allowed delivery failed before any write: it goes to the dead letters
    (the consumer moves it next), so its items still queued become `failed` first (a redrive
    puts them back to `queued`)."""
    try:
        part = messages.parse(message.body)
    except messages.MessageError:
        return  # not ours: no receipt to tell
    stored = receipts.get_part(part.bank, part.request_id, part.number)
    if stored is not None:
        receipts.settle(part.bank, part.request_id, part.number,
                        [_failed(f, DEAD_LETTERED, why) if f.status == QUEUED else f
                         for f in stored.items])


def requeue(receipts: ReceiptStore, message: ReceivedMessage) -> None:
    """A dead letter is redriven: its failed items are `queued` again."""
    part = messages.parse(message.body)
    stored = receipts.get_part(part.bank, part.request_id, part.number)
    if stored is not None:
        receipts.settle(part.bank, part.request_id, part.number,
                        [ItemFate(f.index, f.id, QUEUED) if f.status == FAILED and _to_apply(f)
                         else f for f in stored.items])
