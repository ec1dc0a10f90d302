"""Applying one queue message exactly once without transactions (a SequencedLedger's consumer).

The queue delivers a group's messages one at a time in order, so the consumer of a message is
the only writer of its accounts' items and its group's totals (the synchronous path may write
an account too: its version condition catches that). Each account item and each totals item
carries a high-water mark: the sequence number of the last message applied to it, so a
redelivery skips what is done. For an account not yet committed, the flags, the state and the
deltas are recomputed from the account item as it was before the message (the same rule
evaluation as the synchronous path: `evaluate_set`, `remember`); for one committed already, the
records the message created say what they hold. Writes go records -> alerts/events -> account
items (each account's commit point) -> bank and hour totals and alert counters; the caller then
writes the receipt
part and deletes the message. Alerts open as the synchronous ledger opens them (`open_alerts`
with the suppressions in force for the accounts, `opened_event`), put only if absent (keyed by
transaction id); the alert counters move per message under the group's hwm, from what the
records hold (a suppressed flag is marked in the record's evidence), so a redelivery counts
nothing twice. Once a message has written anything it must never be skipped or
dead-lettered: a later message would apply on top of half of it (`HalfApplied`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from chalicelib.domain import messages
from chalicelib.domain.aggregates import ACCOUNT, AggKey, Bucket, deltas_for
from chalicelib.domain.alerts import (
    in_force,
    mark_suppressed,
    open_alerts,
    opened_event,
    suppressed_flags,
)
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import RuleSet, evaluate_set, remember
from chalicelib.domain.rules import AccountState
from chalicelib.domain.timeutil import format_timestamp
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


def has_written(ledger: SequencedLedger, part: messages.Part) -> bool:
    """Whether any delivery of this message has written: every attempt's first write is its
    records (`put_records`, each with the message's token), and an attempt that writes no
    record writes nothing else of its own, so one record holding its token says so. Asked
    before a message is dead-lettered (a delivery that failed before writing may follow one
    that wrote: a run split after a failure, an earlier delivery)."""
    ids = sorted({str(c["id"]) for _, c in part.items if isinstance(c.get("id"), str)})
    if not ids:
        return False
    token = writer_token(part)
    found = ledger.sequenced(part.bank).get_records(ids)
    return any(writer == token for _, writer in found.values())


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


class Entry:
    """One first occurrence of an id in one message of the run being applied."""

    def __init__(self, seq: str, token: str, result: ItemResult, tx: Transaction) -> None:
        self.seq, self.token, self.result, self.tx = seq, token, result, tx


def apply_message(ledger: SequencedLedger, part: messages.Part, sequence: str, group: int,
                  rules: RuleSet, now: datetime) -> list[ItemResult]:
    """Apply one message's items; every item's fate (as the synchronous ledger answers)."""
    return apply_messages(ledger, [(part, sequence)], group, rules, now)[0]


def apply_messages(ledger: SequencedLedger, run: list[tuple[messages.Part, str]], group: int,
                   rules: RuleSet, now: datetime) -> list[list[ItemResult]]:
    """Apply consecutive messages of one group together (one read, one write of each item);
    each message's items' fates. The messages share no id (the caller applies such ones one
    by one); each keeps its own token, and every item written gets the run's last sequence as
    its high-water mark, so a later delivery of any of them, alone or in another run, finds
    what is done."""
    bank = run[0][0].bank
    per_message: list[list[ItemResult]] = []
    entries: list[Entry] = []
    repeats: list[tuple[dict[str, Entry], ItemResult, Transaction]] = []
    for part, sequence in run:
        seq, token = padded(sequence), writer_token(part)
        results = [ItemResult(i, str(c.get("id"))) for i, c in part.items]
        per_message.append(results)
        first: dict[str, Entry] = {}
        for result, (_, content) in zip(results, part.items, strict=True):
            try:
                tx = validate_transaction(content, now)
            except ValidationError as exc:
                result.errors = exc.details
                continue
            if tx.id in first:
                repeats.append((first, result, tx))
            else:
                first[tx.id] = Entry(seq, token, result, tx)
                entries.append(first[tx.id])
    if len({e.tx.id for e in entries}) != len(entries):
        raise ValueError("messages of one run share an id: apply them one by one")
    wrote = False
    try:
        for _ in range(MAX_ATTEMPTS):
            session = ledger.sequenced(bank)
            try:
                done = _attempt(session, bank, entries, group, rules, now)
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
    for first, result, tx in repeats:
        holder = first[tx.id].result.stored
        if holder is not None and holder.same_content(tx):
            result.status, result.transaction, result.stored = DUPLICATE, holder, holder
        else:
            _conflict(result, tx, holder)
    return per_message


def _settle(result: ItemResult, tx: Transaction, stored: Transaction, ours: bool) -> None:
    if ours:
        result.status, result.transaction, result.stored = CREATED, stored, stored
    elif stored.same_content(tx):
        result.status, result.transaction, result.stored = DUPLICATE, stored, stored
    else:
        _conflict(result, tx, stored)


def _attempt(session: SequencedSession, bank: str, entries: list[Entry], group: int,
             rules: RuleSet, now: datetime) -> bool:
    """One read-write pass; False when an account moved under it (read again)."""
    accounts = sorted({e.tx.account for e in entries})
    hours = sorted({e.tx.hour for e in entries})
    last = max(e.seq for e in entries)
    marks = session.read(accounts, group, hours)

    def done(e: Entry) -> bool:  # its message is applied to its account already
        return HWM_CHECK and marks[e.tx.account].hwm >= e.seq

    # what the run's messages committed already: their records say what they hold
    settled = session.get_records([e.tx.id for e in entries if done(e)])
    for e in entries:
        if done(e):
            if e.tx.id not in settled:
                raise RuntimeError(f"account committed without its record {e.tx.id}")
            stored, writer = settled[e.tx.id]
            _settle(e.result, e.tx, stored, writer == e.token)
    # the others: evaluate against the state before the run, write, and evaluate again
    # without the ids another writer holds until nothing changes
    pending = [e for e in entries if not done(e)]
    taken: dict[str, Transaction] = {}
    written: dict[str, Transaction] = {}
    commits: dict[str, AccountCommit] = {}
    suppressed: frozenset[tuple[str, str]] | None = None  # read once something is flagged
    for _ in range(len(pending) + 2):
        flagged, commits = _evaluate(pending, taken, marks, rules, suppressed or frozenset())
        if suppressed is None and any(tx.flags for tx in flagged.values()):
            suppressed = in_force(session.get_suppressions(accounts), now)
            if suppressed:
                flagged, commits = _evaluate(pending, taken, marks, rules, suppressed)
        todo = [(e.token, tx) for e in pending if (tx := flagged.get(e.tx.id)) is not None
                and written.get(tx.id) != tx]
        if not todo:
            break
        other = session.put_records(todo)
        taken.update(other)
        written.update({tx.id: tx for _, tx in todo if tx.id not in other})
    else:
        raise RuntimeError("the records kept changing under the consumer")
    for e in pending:
        if e.tx.id in taken:
            _settle(e.result, e.tx, taken[e.tx.id], False)
        else:
            _settle(e.result, e.tx, written[e.tx.id], True)
    # the alerts of what this run created, before the account items (their commit points):
    # once an account is committed, its transactions' alerts are in place
    alerts = open_alerts(bank, [written[e.tx.id] for e in pending if e.tx.id not in taken],
                         format_timestamp(now), suppressed or frozenset())
    session.put_alerts(alerts, [opened_event(a) for a in alerts])
    if session.commit_accounts(last, list(commits.values())):
        return False
    # each message's deltas, for the totals items still below its sequence
    creator: dict[str, str] = {}  # account -> the message that created it
    for e in entries:
        account = e.tx.account
        if e.result.status == CREATED and account not in creator and (
                (done(e) and marks[account].created_by == e.seq)
                or (not done(e) and account in commits and commits[account].new)):
            creator[account] = e.seq
    by_message: list[tuple[str, dict[AggKey, Bucket]]] = []
    for seq in sorted({e.seq for e in entries}):
        created = [e.result.stored for e in entries
                   if e.seq == seq and e.result.status == CREATED and e.result.stored]
        new = [a for a, s in creator.items() if s == seq]
        deltas = {k: v for k, v in deltas_for(created, new).items() if k.kind != ACCOUNT}
        if deltas:
            by_message.append((seq if HWM_CHECK else "", deltas))
    if by_message:
        session.put_totals(group, by_message)
    counts = []
    for seq in sorted({e.seq for e in entries}):
        created = [e.result.stored for e in entries
                   if e.seq == seq and e.result.status == CREATED and e.result.stored]
        counts.append((seq if HWM_CHECK else "", sum(1 for tx in created if _opens(tx)),
                       suppressed_flags(created)))
    session.put_alert_counts(group, counts)
    return True


def _opens(tx: Transaction) -> bool:
    """Whether a stored transaction opened an alert: a flag no suppression covered (the record
    marks the suppressed ones in its evidence: `mark_suppressed`)."""
    return any(not d.suppressed for d in tx.flag_details)


def _evaluate(pending: list[Entry], taken: dict[str, Any], marks: dict[str, AccountMark],
              rules: RuleSet, suppressed: frozenset[tuple[str, str]]
              ) -> tuple[dict[str, Transaction], dict[str, AccountCommit]]:
    """Each pending transaction not taken by another writer, flagged in its account's order
    from the state before the run (the flags a suppression covers marked so, as the ledger
    does after remembering them), and each account's commit."""
    states: dict[str, AccountState] = {}
    flagged: dict[str, Transaction] = {}
    mine: dict[str, list[Transaction]] = {}
    for e in pending:
        tx = e.tx
        if tx.id in taken:
            continue
        state = states[tx.account] if tx.account in states else marks[tx.account].state
        outcome = evaluate_set(tx, state, rules)
        flagged_tx = tx.with_flags(outcome.flags, outcome.details)
        states[tx.account] = remember(state, flagged_tx, rules)
        flagged_tx = mark_suppressed(flagged_tx, suppressed)
        e.result.rule_errors = outcome.errors
        flagged[tx.id] = flagged_tx
        mine.setdefault(tx.account, []).append(flagged_tx)
    commits = {}
    for account, txs in mine.items():
        delta = deltas_for(txs).get(AggKey(ACCOUNT, account), Bucket())
        commits[account] = AccountCommit(account, states[account], delta, txs,
                                         marks[account].state.version == 0)
    return flagged, commits
