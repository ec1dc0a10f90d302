"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics, printed to stdout."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.ledger import STATUSES

NAMESPACE = "TxnStream"
DIMENSIONS = [["stage"]]  # low cardinality only: never bank, account or request id
# The metric of each ingest outcome; the ledger's statuses are the keys.
OUTCOME_METRICS = {"created": "TransactionsCreated", "duplicate": "Duplicates",
                   "conflict": "Conflicts", "rejected": "Rejected"}
# Field names whose values never reach a log, whatever the caller passes.
SECRET_FIELDS = frozenset({"api_key", "x-api-key", "key", "authorization", "x_api_key", "token",
                           "access_token", "id_token"})
MAX_LOGGED_CHARS = 256  # a logged value longer than this is cut (a 60,000-character path)
_write_lock = threading.Lock()


def _emit(record: Mapping[str, Any]) -> None:
    # One line per record: CloudWatch Logs takes each line as an event. The lock keeps lines of
    # chalice local's threads from interleaving.
    line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=True)
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def mask_account(account: str) -> str:
    """An account number with all but its last 4 characters hidden (all of it when short)."""
    if len(account) <= 4:
        return "*" * 4
    return "*" * (len(account) - 4) + account[-4:]


def _cap(value: Any) -> Any:
    """Strings cut to MAX_LOGGED_CHARS (saying by how much), in lists too."""
    if isinstance(value, str) and len(value) > MAX_LOGGED_CHARS:
        return value[:MAX_LOGGED_CHARS] + f"...(+{len(value) - MAX_LOGGED_CHARS} chars)"
    if isinstance(value, (list, tuple)):
        return [_cap(item) for item in value]
    return value


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop secrets, mask account numbers and cap long values, at any depth."""
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        lowered = name.lower()
        if lowered in SECRET_FIELDS or "api_key" in lowered or "apikey" in lowered:
            continue
        if isinstance(value, Mapping):
            value = _clean(value)
        elif "account" in lowered and isinstance(value, str):
            value = mask_account(value)
        clean[name] = _cap(value)
    return clean


def log(level: str, event: str, **fields: Any) -> None:
    """Print one structured log line: level, event name, time and the (cleaned) fields."""
    _emit({"level": level.upper(), "event": event,
           "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
           **_clean(fields)})


def emit_metrics(stage: str, metrics: Mapping[str, tuple[float, str]],
                 properties: Mapping[str, Any] | None = None,
                 dimensions: Mapping[str, str] | None = None) -> None:
    """Print one EMF record: CloudWatch turns each named value into a metric, no API call.
    `dimensions` adds dimensions beside `stage`; only ever a small fixed set of values."""
    extra = dict(dimensions or {})
    record: dict[str, Any] = {
        "_aws": {"Timestamp": int(time.time() * 1000),
                 "CloudWatchMetrics": [{
                     "Namespace": NAMESPACE,
                     "Dimensions": [[*DIMENSIONS[0], *extra]] if extra else DIMENSIONS,
                     "Metrics": [{"Name": name, "Unit": unit}
                                 for name, (_, unit) in metrics.items()]}]},
        "stage": stage,
        **extra,
    }
    record.update(_clean(properties or {}))  # properties are searchable, not dimensions
    record.update({name: value for name, (value, _) in metrics.items()})
    _emit(record)


def ingest_outcomes(status: int, body: Any) -> dict[str, int]:
    """What a POST /transactions answer says happened, by ledger status plus `flagged`
    (created transactions that tripped a rule). A body refused whole (bad JSON, wrong type,
    too large, a single invalid transaction) counts as one rejected."""
    counts = dict.fromkeys((*STATUSES, "flagged"), 0)
    if not isinstance(body, Mapping):
        return counts
    if isinstance(body.get("summary"), Mapping):  # a batch
        for name in STATUSES:
            counts[name] = int(body["summary"].get(name, 0))
        counts["flagged"] = sum(1 for r in body.get("results", ())
                                if r.get("status") == "created" and r.get("flags"))
    elif body.get("status") in ("created", "duplicate"):
        counts[str(body["status"])] = 1
        flags = (body.get("transaction") or {}).get("flags")
        counts["flagged"] = int(body["status"] == "created" and bool(flags))
    elif status == 409:
        counts["conflict"] = 1
    elif 400 <= status < 500 and status not in (401, 403):
        counts["rejected"] = 1
    return counts


INGEST_ROUTES = frozenset({"/transactions", "/statements"})  # the routes that write the ledger


class RequestObserver:
    """Times one request and, when it ends, prints its log line and its metrics."""

    def __init__(self, request_id: str, method: str, route: str, stage: str) -> None:
        self.started = time.perf_counter()
        self.request_id = request_id
        self.method = method
        self.route = route
        self.stage = stage
        self.metrics: dict[str, tuple[float, str]] = {}
        self.fields: dict[str, Any] = {}
        self.refusal: str | None = None

    @property
    def is_ingest(self) -> bool:
        return self.method == "POST" and self.route in INGEST_ROUTES

    def count(self, metric: str, value: float = 1, unit: str = "Count") -> None:
        """Add a metric to this request's EMF record (e.g. ArchiveFailures)."""
        self.metrics[metric] = (value, unit)

    def identify(self, authorizer: Mapping[str, Any]) -> None:
        """Note how the caller proved who it is (`auth`: key or token, and the token's client
        and user ids, never the token), or why it was refused (counted in AuthRefused)."""
        for name in ("auth", "client_id", "user"):
            if authorizer.get(name) is not None:
                self.fields[name] = authorizer[name]
        if authorizer.get("refused"):
            self.refusal = str(authorizer["refused"])
            self.fields["refused"] = self.refusal

    def finish(self, status: int, body: Any, bank: str | None) -> None:
        """Print the request's log line and, for an ingest or a 5xx, its EMF record."""
        latency_ms = round((time.perf_counter() - self.started) * 1000, 2)
        fields: dict[str, Any] = {"request_id": self.request_id, "bank": bank,
                                  "method": self.method, "route": self.route, "status": status,
                                  "latency_ms": latency_ms, **self.fields}
        if status >= 400 and isinstance(body, Mapping):
            fields["error"] = body.get("Code")  # the code only: messages may quote input
        if self.is_ingest and bank is not None:  # 401/403 never reached the ledger
            outcomes = ingest_outcomes(status, body)
            fields["outcomes"] = outcomes
            for name, metric in OUTCOME_METRICS.items():
                self.count(metric, outcomes[name])
            self.count("Flagged", outcomes["flagged"])
            self.count("IngestLatency", latency_ms, "Milliseconds")
        if status >= 500:
            self.count("ServerErrors", 1)
        log("ERROR" if status >= 500 else "INFO", "request", **fields)
        if self.metrics:
            emit_metrics(self.stage, self.metrics, {"request_id": self.request_id})
        if self.refusal:  # its own record: Reason is a dimension of this metric only
            emit_metrics(self.stage, {"AuthRefused": (1, "Count")},
                         {"request_id": self.request_id}, {"Reason": self.refusal})
