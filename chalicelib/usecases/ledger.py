"""The ingest service: validate, classify against what is stored, flag, write exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.aggregates import deltas_for
from chalicelib.domain.alerts import in_force, mark_suppressed, open_alerts, opened_event
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import RuleSet, as_rule_set, evaluate_set, remember
from chalicelib.domain.rules import RuleConfig
from chalicelib.domain.timeutil import format_timestamp
from chalicelib.domain.validation import validate_transaction
from chalicelib.errors import FieldError, ServiceUnavailableError, ValidationError
from chalicelib.ports.store import CommitConflict, LedgerStore, WritePlan
from chalicelib.support.backoff import Backoff

CREATED, DUPLICATE, CONFLICT, REJECTED = "created", "duplicate", "conflict", "rejected"
STATUSES = (CREATED, DUPLICATE, CONFLICT, REJECTED)
MAX_ATTEMPTS = 8  # commit retries when a concurrent writer got there first
# Full jitter, so writers that collided (on DynamoDB: the same shard or account) do not collide
# again in lockstep; 5 ms doubling, 0.64 s at most.
LOST_RACE_BACKOFF = Backoff(0.005, 0.64)
BeforeCommit = Callable[[list[Transaction]], None]  # told what a commit is about to write


@dataclass
class ItemResult:
    """The fate of one item of a request."""

    index: int
    id: str | None
    status: str = REJECTED
    transaction: Transaction | None = None
    errors: list[FieldError] = field(default_factory=list)
    stored: Transaction | None = None  # what the id holds, once known (for in-batch repeats)
    # rules that failed to evaluate for this transaction (rule, message): logged and counted,
    # never a reason to refuse it
    rule_errors: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        tx = self.transaction
        return {"index": self.index, "id": self.id, "status": self.status,
                "flags": list(tx.flags) if tx else [],
                "flag_details": [d.to_json() for d in tx.flag_details] if tx else [],
                "errors": [e.to_json() for e in self.errors]}


def summarise(results: list[ItemResult]) -> dict[str, int]:
    """How many items ended in each status."""
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] += 1
    return counts


def _conflict(result: ItemResult, tx: Transaction, stored: Transaction | None) -> None:
    result.status, result.stored = CONFLICT, stored
    result.errors = [FieldError("id", f"transaction {tx.id} exists with other content")]


def ingest(store: LedgerStore, bank: str, items: list[Any], now: datetime,
           rules: RuleConfig | RuleSet, backoff: Backoff = LOST_RACE_BACKOFF,
           before_commit: BeforeCommit | None = None) -> list[ItemResult]:
    """Store each valid new item exactly once with its aggregates; report every item's fate.
    `rules` is the bank's rule set (a RuleConfig stands for the default set). `before_commit`
    hears, before each commit attempt, which transactions it will write."""
    rule_set = as_rule_set(rules)
    results = [ItemResult(i, item.get("id") if isinstance(item, dict)
                          and isinstance(item.get("id"), str) else None)
               for i, item in enumerate(items)]
    first: dict[str, tuple[ItemResult, Transaction]] = {}
    repeats: list[tuple[ItemResult, Transaction]] = []
    for result, item in zip(results, items, strict=True):
        try:
            tx = validate_transaction(item, now)
        except ValidationError as exc:
            result.errors = exc.details
            continue
        if tx.id in first:
            repeats.append((result, tx))  # settled against the first occurrence below
        else:
            first[tx.id] = (result, tx)
    if first:
        _write_once(store, bank, first, rule_set, now, backoff, before_commit)
    for result, tx in repeats:
        # compare with what the id holds now: the leader's transaction or the one it clashed with
        holder = first[tx.id][0].stored
        if holder is not None and holder.same_content(tx):
            result.status, result.transaction, result.stored = DUPLICATE, holder, holder
        else:
            _conflict(result, tx, holder)
    return results


def _write_once(store: LedgerStore, bank: str,
                pending: dict[str, tuple[ItemResult, Transaction]],
                rules: RuleSet, now: datetime, backoff: Backoff,
                before_commit: BeforeCommit | None = None) -> None:
    """Commit the new transactions; on a lost race read again and retry what is still new."""
    todo = dict(pending)
    for attempt in range(MAX_ATTEMPTS):
        try:
            accepted = _attempt(store, bank, todo, rules, now, before_commit)
        except CommitConflict as conflict:
            for tx in conflict.committed:  # written by an earlier chunk: created, not duplicate
                result, _ = todo.pop(tx.id)
                result.status, result.transaction, result.stored = CREATED, tx, tx
            backoff.pause(attempt)
            continue  # what was not written is read again and retried
        for (result, _), tx in zip(todo.values(), accepted, strict=True):
            result.status, result.transaction, result.stored = CREATED, tx, tx
        return
    raise ServiceUnavailableError("too many concurrent writers; retry the request", 1)


def _attempt(store: LedgerStore, bank: str, todo: dict[str, tuple[ItemResult, Transaction]],
             rules: RuleSet, now: datetime, before_commit: BeforeCommit | None = None
             ) -> list[Transaction]:
    """One read-classify-flag-commit pass; settles stored ids in place, returns what it wrote.
    Each flagged transaction opens an alert with its event (the outbox) in the same commit,
    unless a suppression in force now covers every one of its flags."""
    with store.unit_of_work(bank) as uow:
        for tx_id, stored in uow.get_transactions(list(todo)).items():
            result, tx = todo.pop(tx_id)
            if stored.same_content(tx):
                result.status, result.transaction, result.stored = DUPLICATE, stored, stored
            else:
                _conflict(result, tx, stored)
        if not todo:
            return []
        accounts = sorted({tx.account for _, tx in todo.values()})
        uow.will_write([tx for _, tx in todo.values()])  # lets a store fetch more in one read
        states = uow.get_account_states(accounts)
        accepted: list[Transaction] = []
        # per account in the order applied, each from the state before it: a redelivered
        # batch, read against the same stored state, decides the same flags
        for result, tx in todo.values():
            state = states[tx.account]
            outcome = evaluate_set(tx, state, rules)
            flagged = tx.with_flags(outcome.flags, outcome.details)
            states[tx.account] = remember(state, flagged, rules)
            accepted.append(flagged)
            result.rule_errors = outcome.errors
            if outcome.errors:
                _log_rule_errors(bank, tx, rules.version, outcome.errors)
        # suppressions matter only to flagged transactions: none flagged, none read
        flagged_accounts = sorted({tx.account for tx in accepted if tx.flags})
        suppressed = (in_force(uow.get_suppressions(flagged_accounts), now)
                      if flagged_accounts else frozenset())
        accepted = [mark_suppressed(tx, suppressed) for tx in accepted]
        new_accounts = [a for a in accounts if states[a].version == 0]
        if before_commit is not None:
            before_commit(accepted)
        alerts = open_alerts(bank, accepted, format_timestamp(now), suppressed)
        uow.commit(WritePlan(accepted, deltas_for(accepted, new_accounts), states, rules=rules,
                             alerts=alerts, events=[opened_event(a) for a in alerts]))
        return accepted


def _log_rule_errors(bank: str, tx: Transaction, version: int,
                     errors: list[tuple[str, str]]) -> None:
    """Record rules that failed to evaluate (the transaction is stored all the same)."""
    from chalicelib.observability import log  # it imports this module's statuses

    for rule, error in errors:
        log("WARNING", "rule_evaluation_failed", bank=bank, id=tx.id, rule=rule,
            version=version, error=error)


def count_rule_errors(stage: str, results: list[ItemResult], source: str) -> None:
    """The metric RuleEvaluationErrors: rules that failed to evaluate in this ingest (each is
    logged where it happened); nothing is emitted when there were none."""
    failed = sum(len(r.rule_errors) for r in results)
    if failed:
        from chalicelib.observability import emit_metrics

        emit_metrics(stage, {"RuleEvaluationErrors": (float(failed), "Count")},
                     {"source": source})
