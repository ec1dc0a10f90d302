"""A bank's rules: read (any version), replace (a new version, with who and when), the set that
ingest applies (cached briefly per process), and replay of a candidate set over a window."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_set_input import parse_rule_set, rule_set_from_json
from chalicelib.domain.rule_sets import (
    RuleSet,
    as_rule_set,
    evaluate_set,
    remember,
)
from chalicelib.domain.rules import AccountState, RuleConfig
from chalicelib.domain.timeutil import (
    TimestampError,
    format_timestamp,
    parse_timestamp,
    sort_key,
)
from chalicelib.errors import ConflictError, FieldError, NotFoundError, ValidationError
from chalicelib.ports.store import KeyStore, RuleSetRecord, RuleSetStore
from chalicelib.support.ttl_cache import TtlCache

MAX_WINDOW = timedelta(days=31)
WARM_UP = timedelta(days=1)  # history before the window that only builds account state
DEFAULT_IDS, MAX_IDS = 100, 1000  # ids listed per side of a replay's difference
# A synchronous replay that would not answer within API Gateway's 29 s stops here and goes on
# as a job (usecases/replay_jobs.py): the route answers 202 with where to fetch the outcome.
REPLAY_BUDGET_S = 20.0


class ReplayTooLong(ValidationError):
    """The window holds more than a synchronous replay reads and evaluates within its budget
    (a 400 only where no job can take it over)."""

    def __init__(self) -> None:
        super().__init__("the window holds too many transactions to replay in one request",
                         [FieldError("until", "narrow the window")])


def _from_record(record: RuleSetRecord, defaults: RuleConfig) -> RuleSet:
    return rule_set_from_json({"version": record.version, "rules": record.rules,
                               "updated_at": record.updated_at,
                               "updated_by": record.updated_by}, defaults)


def active_rule_set(store: RuleSetStore, bank: str, defaults: RuleConfig,
                    cache: TtlCache[RuleSet] | None = None) -> RuleSet:
    """The bank's newest set, or today's five rules (`defaults`) when it has none; through
    the runtime's cache when given, so a batch costs no extra read (another process sees a PUT
    within the cache's TTL, this one at once)."""
    def load(_: str) -> RuleSet:
        record = store.get_rule_set(bank)
        return as_rule_set(defaults) if record is None else _from_record(record, defaults)
    found = load(bank) if cache is None else cache.get(bank, load)
    assert found is not None  # load never answers None
    return found


def _only(params: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError("unknown query parameters",
                              [FieldError(n, "unknown query parameter") for n in unknown])


def get_rules(store: RuleSetStore, bank: str, params: Mapping[str, str] | None,
              defaults: RuleConfig) -> dict[str, Any]:
    """The bank's newest set (version 0: the default set), or `?version=N`."""
    params = params or {}
    _only(params, {"version"})
    raw = params.get("version")
    if raw is None:
        record = store.get_rule_set(bank)
        return (as_rule_set(defaults) if record is None
                else _from_record(record, defaults)).to_json()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise ValidationError("invalid version", [FieldError("version", "must be a whole "
                                                             "number from 0")])
    if int(raw) == 0:
        return as_rule_set(defaults).to_json()
    record = store.get_rule_set(bank, int(raw))
    if record is None:
        raise NotFoundError(f"the bank has no rule set version {int(raw)}")
    return _from_record(record, defaults).to_json()


def put_rules(store: RuleSetStore, bank: str, body: Any, who: str, now: datetime,
              defaults: RuleConfig,
              cache: TtlCache[RuleSet] | None = None) -> dict[str, Any]:
    """Replace the bank's set: checked whole (400 naming each bad rule and position), stored
    as the next version; 409 when another change took that version first."""
    rules = parse_rule_set(body, defaults)
    latest = store.get_rule_set(bank)
    version = (latest.version if latest else 0) + 1
    rule_set = RuleSet(version, rules, format_timestamp(now.replace(microsecond=0)), who)
    record = RuleSetRecord(bank, version, str(rule_set.updated_at), who,
                           [r.to_json() for r in rules])
    if not store.put_rule_set(record):
        raise ConflictError(f"the rule set changed meanwhile (version {version} exists); "
                            "read it and send yours again")
    if cache is not None:
        cache.forget(bank)
    return rule_set.to_json()


def who_is(context: Mapping[str, Any], api_key: str | None, keys: KeyStore) -> str:
    """Who changes a set, never a secret: `key:<key id>`, `user:<token subject>` or
    `client:<app client id>`."""
    from chalicelib.usecases.api_keys import hash_key

    if context.get("auth") == "token":
        user = context.get("user")
        return f"user:{user}" if user else f"client:{context.get('client_id')}"
    record = keys.find_api_key(hash_key(api_key)) if api_key else None
    return f"key:{record.key_id}" if record is not None else "key:demo"


# --- replay ---------------------------------------------------------------------------------

def _moment(body: Mapping[str, Any], name: str) -> datetime:
    value = body.get(name)
    try:
        if not isinstance(value, str):
            raise TimestampError("must be an RFC 3339 timestamp")
        return parse_timestamp(value)
    except TimestampError as exc:
        raise ValidationError(f"invalid {name}", [FieldError(name, str(exc))]) from None


def _window(body: Any) -> tuple[datetime, datetime, int]:
    if not isinstance(body, dict):
        raise ValidationError("send {\"since\", \"until\", \"rules\"?, \"limit\"?}",
                              [FieldError("body", "must be an object")])
    unknown = sorted(set(body) - {"since", "until", "rules", "limit"})
    if unknown:
        raise ValidationError("unknown fields", [FieldError(n, "unknown field")
                                                 for n in unknown])
    since, until = _moment(body, "since"), _moment(body, "until")
    if not since < until <= since + MAX_WINDOW:
        raise ValidationError("invalid window", [FieldError(
            "until", "must be after since, at most 31 days after it")])
    limit = body.get("limit", DEFAULT_IDS)
    if (isinstance(limit, bool) or not isinstance(limit, int | Decimal)
            or limit != int(limit) or not 0 <= limit <= MAX_IDS):
        raise ValidationError("invalid limit", [FieldError("limit", f"must be a whole number "
                                                           f"from 0 to {MAX_IDS}")])
    return since, until, int(limit)


def replay_request(body: Any, defaults: RuleConfig, active: RuleSet) -> dict[str, Any]:
    """A replay's body checked whole (400s as `replay` gives them) and made self-contained for
    a job: the candidate's rules written out (the active set's when none were sent), so the job
    replays what was asked even if the bank's set changes meanwhile."""
    since, until, limit = _window(body)
    candidate = (RuleSet(-1, parse_rule_set({"rules": body["rules"]}, defaults))
                 if "rules" in body else active)
    return {"since": format_timestamp(since), "until": format_timestamp(until), "limit": limit,
            "rules": [r.to_json() for r in candidate.rules]}


def replay(store: RuleSetStore, bank: str, body: Any, defaults: RuleConfig,
           active: RuleSet, clock: Callable[[], float] = time.monotonic,
           unbounded: bool = False) -> dict[str, Any]:
    """What a candidate set (or the active one) would have flagged in a window, against what
    was flagged; writes nothing. Each account is replayed in time order from an empty state a
    day before the window (so windowed rules see their look-back). Past REPLAY_BUDGET_S it
    raises ReplayTooLong, unless `unbounded` (a job, the bench)."""
    since, until, limit = _window(body)
    candidate = (RuleSet(-1, parse_rule_set({"rules": body["rules"]}, defaults))
                 if "rules" in body else active)
    budget = float("inf") if unbounded else REPLAY_BUDGET_S
    started = clock()
    start_key = sort_key(format_timestamp(since - WARM_UP))
    by_account: dict[str, list[Transaction]] = {}
    for n, tx in enumerate(store.transactions_between(bank, start_key,
                                                      sort_key(format_timestamp(until)))):
        by_account.setdefault(tx.account, []).append(tx)
        if n % 1000 == 0 and clock() - started > budget:
            raise ReplayTooLong()
    now_flags: Counter[str] = Counter()
    then_flags: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    added: list[tuple[datetime, str]] = []
    removed: list[tuple[datetime, str]] = []
    counted = flagged_then = flagged_now = 0
    for n, txs in enumerate(by_account.values()):
        if n % 100 == 0 and clock() - started > budget:
            raise ReplayTooLong()
        state = AccountState()
        # the order ingest applied them in: time (UTC datetimes order as their sort keys
        # do), then id; compared as datetimes, not formatted texts (100,000 of them)
        for tx in sorted(txs, key=lambda t: (t.timestamp, t.id)):
            outcome = evaluate_set(tx, state, candidate)
            state = remember(state, tx, candidate)
            if tx.timestamp < since:
                continue  # warm-up: state only
            counted += 1
            if tx.flags:
                then_flags.update(tx.flags)
                flagged_then += 1
            if outcome.flags:
                now_flags.update(outcome.flags)
                flagged_now += 1
            if outcome.errors:
                errors.update(rule for rule, _ in outcome.errors)
            if outcome.flags and not tx.flags:
                added.append((tx.timestamp, tx.id))
            elif tx.flags and not outcome.flags:
                removed.append((tx.timestamp, tx.id))
    return {
        "window": {"since": format_timestamp(since), "until": format_timestamp(until)},
        "transactions": counted,
        "candidate": {"flagged": flagged_now, "by_rule": dict(sorted(now_flags.items())),
                      "errors": dict(sorted(errors.items()))},
        "current": {"flagged": flagged_then, "by_rule": dict(sorted(then_flags.items()))},
        "added": {"count": len(added), "ids": [i for _, i in sorted(added)[:limit]]},
        "removed": {"count": len(removed), "ids": [i for _, i in sorted(removed)[:limit]]},
    }
