"""Applying one queue message exactly once without transactions (a SequencedLedger's consumer).

The queue delivers a group's messages one at a time in order, so the consumer of a message is
the only writer of its accounts' items and its group's totals (the synchronous path may write
an account too: its version condition catches that). Each account item and each totals item
carries a high-water mark: the sequence number of the last message applied to it, so a
redelivery skips what is done. For an account not yet committed, the flags, the state and the
deltas are recomputed from the account item as it was before the message (the same rule
evaluation as the synchronous path: `evaluate_set`, `remember`); for one committed already, the
records the message created say what they hold. Writes go records -> alerts/events -> account
items (each account's commit point) -> bank and hour totals; the caller then writes the receipt
part and deletes the message. Once a message has written anything it must never be skipped or
dead-lettered: a later message would apply on top of half of it (`HalfApplied`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from chalicelib.domain import messages
from chalicelib.domain.aggregates import ACCOUNT, AggKey, Bucket, deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import RuleSet, evaluate_set, remember
from chalicelib.domain.rules import AccountState
from chalicelib.domain.validation import validate_transaction
from chalicelib.errors import ServiceUnavailableError, ValidationError
from chalicelib.ports.store import AccountCommit, AccountMark, SequencedLedger, SequencedSession
from chalicelib.usecases.ledger import CREATED, DUPLICATE, ItemResult, _conflict

SEQUENCE_DIGITS = 40  # SQS's sequence numbers are 128-bit: more than a DynamoDB number holds
MAX_ATTEMPTS = 8  # re-reads when the synchronous path wrote one of the accounts meanwhile
HWM_CHECK = True  # the high-water marks' check (False only in a negative control test)


class HalfApplied(Exception):
    """A message failed after its first write: it must be delivered again until it completes,
    never dead-lettered (its items would read `failed` while half of them count)."""


def padded(sequence: str) -> str:
    """A queue's sequence number as a fixed-width string that orders as the number does."""
    if not sequence.isdigit() or len(sequence) > SEQUENCE_DIGITS:
        raise ValueError(f"not a queue sequence number: {sequence!r}")
    return sequence.rjust(SEQUENCE_DIGITS, "0")


def writer_token(part: messages.Part) -> str:
    """The token a message's records carry: its request and part, hashed short (12 chars)."""
    digest = hashlib.blake2s(f"{part.request_id}\0{part.number}".encode(), digest_size=9)
    return digest.hexdigest()[:12] + hex(part.number)[2:]


class QueueGroupsChanged(Exception):
    """A message was hashed under another QUEUE_GROUPS than this consumer's: its group's
    totals would get two writers. Drain the queue before changing the count (or set it back);
    the message is left for a later delivery, having written nothing."""


def group_number(group: str, groups: int | None = None) -> int | None:
    """The number of a message group of QUEUE_GROUPS > 0 (`<bank digest>-<n>-<count>`), else
    None; QueueGroupsChanged when `groups` is given and the message's count is another."""
    parts = group.split("-")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if groups is not None and int(parts[2]) != groups:
        raise QueueGroupsChanged(f"message group {group!r} was hashed into {parts[2]} groups,"
                                 f" this consumer has QUEUE_GROUPS={groups}: drain the queue"
                                 " before changing it")
    return int(parts[1])


def apply_message(ledger: SequencedLedger, part: messages.Part, sequence: str, group: int,
                  rules: RuleSet, now: datetime) -> list[ItemResult]:
    """Apply one message's items; every item's fate (as the synchronous ledger answers)."""
    seq = padded(sequence)
    token = writer_token(part)
    results = [ItemResult(i, str(c.get("id"))) for i, c in part.items]
    first: dict[str, tuple[ItemResult, Transaction]] = {}
    repeats: list[tuple[ItemResult, Transaction]] = []
    for result, (_, content) in zip(results, part.items, strict=True):
        try:
            tx = validate_transaction(content, now)
        except ValidationError as exc:
            result.errors = exc.details
            continue
        (repeats.append((result, tx)) if tx.id in first else
         first.__setitem__(tx.id, (result, tx)))
    wrote = False
    try:
        for _ in range(MAX_ATTEMPTS):
            session = ledger.sequenced(part.bank)
            try:
                done = _attempt(session, first, seq, token, group, rules)
            finally:
                wrote = wrote or session.wrote
            if done:
                break
        else:
            raise ServiceUnavailableError("accounts kept changing under the consumer; retry", 1)
    except Exception as exc:
        if wrote:
            raise HalfApplied(f"{type(exc).__name__}: {exc}") from exc
        raise
    for result, tx in repeats:
        holder = first[tx.id][0].stored
        if holder is not None and holder.same_content(tx):
            result.status, result.transaction, result.stored = DUPLICATE, holder, holder
        else:
            _conflict(result, tx, holder)
    return results


def _settle(result: ItemResult, tx: Transaction, stored: Transaction, ours: bool) -> None:
    if ours:
        result.status, result.transaction, result.stored = CREATED, stored, stored
    elif stored.same_content(tx):
        result.status, result.transaction, result.stored = DUPLICATE, stored, stored
    else:
        _conflict(result, tx, stored)


def _attempt(session: SequencedSession, first: dict[str, tuple[ItemResult, Transaction]],
             seq: str, token: str, group: int, rules: RuleSet) -> bool:
    """One read-write pass; False when an account moved under it (read again)."""
    accounts = sorted({tx.account for _, tx in first.values()})
    hours = sorted({tx.hour for _, tx in first.values()})
    marks = session.read(accounts, group, hours)
    done = {a for a in accounts if HWM_CHECK and marks[a].hwm >= seq}
    # accounts this message committed already: what their records hold decides
    settled = session.get_records([i for i, (_, tx) in first.items() if tx.account in done])
    for tx_id, (result, tx) in first.items():
        if tx.account in done:
            if tx_id not in settled:
                raise RuntimeError(f"account committed without its record {tx_id}")
            stored, writer = settled[tx_id]
            _settle(result, tx, stored, writer == token)
    # the others: evaluate against the state before the message, write, and evaluate again
    # without the ids another writer holds until nothing changes
    pending = {i: v for i, v in first.items() if v[1].account not in done}
    taken: dict[str, Transaction] = {}
    written: dict[str, Transaction] = {}
    commits: dict[str, AccountCommit] = {}
    for _ in range(len(pending) + 2):
        flagged, commits = _evaluate(pending, taken, marks, rules)
        todo = [tx for tx in flagged.values() if written.get(tx.id) != tx]
        if not todo:
            break
        other = session.put_records(token, todo)
        taken.update(other)
        written.update({tx.id: tx for tx in todo if tx.id not in other})
    else:
        raise RuntimeError("the records kept changing under the consumer")
    for tx_id, (result, tx) in pending.items():
        if tx_id in taken:
            _settle(result, tx, taken[tx_id], False)
        else:
            _settle(result, tx, written[tx_id], True)
    session.put_alerts(token, [], [])  # the seam: alerts and events go here (domain/alerts.py)
    if session.commit_accounts(seq, list(commits.values())):
        return False
    created = [r.stored for r, _ in first.values() if r.status == CREATED and r.stored]
    new_accounts = [a for a in accounts if (a in done and marks[a].created_by == seq)
                    or (a in commits and commits[a].new)]
    deltas = {k: v for k, v in deltas_for(created, new_accounts).items() if k.kind != ACCOUNT}
    if deltas:
        session.put_totals(seq if HWM_CHECK else "", group, deltas)
    return True


def _evaluate(pending: dict[str, tuple[ItemResult, Transaction]], taken: dict[str, Any],
              marks: dict[str, AccountMark], rules: RuleSet
              ) -> tuple[dict[str, Transaction], dict[str, AccountCommit]]:
    """Each pending transaction not taken by another writer, flagged in its account's order
    from the state before the message, and each account's commit."""
    states: dict[str, AccountState] = {}
    flagged: dict[str, Transaction] = {}
    mine: dict[str, list[Transaction]] = {}
    for tx_id, (result, tx) in pending.items():
        if tx_id in taken:
            continue
        state = states[tx.account] if tx.account in states else marks[tx.account].state
        outcome = evaluate_set(tx, state, rules)
        done = tx.with_flags(outcome.flags, outcome.details)
        states[tx.account] = remember(state, done, rules)
        result.rule_errors = outcome.errors
        flagged[tx_id] = done
        mine.setdefault(tx.account, []).append(done)
    commits = {}
    for account, txs in mine.items():
        delta = deltas_for(txs).get(AggKey(ACCOUNT, account), Bucket())
        commits[account] = AccountCommit(account, states[account], delta, txs,
                                         marks[account].state.version == 0)
    return flagged, commits
