"""Bookkeeping of a run: every item's fate, what was accepted (exact), latencies, surprises."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulator.plan import Planned
from simulator.transport import Reply
from simulator.wire import Request

MAX_SAMPLES = 20
OUTCOMES = ("created", "duplicate", "conflict", "rejected", "error")


@dataclass(frozen=True)
class Kept:
    """What the store now holds of one accepted transaction."""

    currency: str
    credit: bool
    amount: Decimal


@dataclass
class Tally:
    """Thread-safe counters; `record` is called by the workers, the rest by the main thread."""

    counts: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    patterns: Counter[str] = field(default_factory=Counter)  # "sent" / "flagged" fraud patterns
    accepted: dict[str, Kept] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)  # --async: POST to every item done
    unexpected: int = 0
    samples: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # fraud items that came back unflagged
    # valid items whose request gave up after an attempt that may have been stored: --verify
    # reads each back before comparing (an answer lost after a commit is not drift)
    unknown: list[Planned] = field(default_factory=list)
    requests: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sent(self) -> int:
        return sum(self.counts[o] for o in OUTCOMES)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def _surprise(self, text: str) -> None:
        self.unexpected += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(text)

    def failed(self, request: Request, reason: str, maybe_delivered: bool = False,
               count_request: bool = True) -> None:
        """The request never got an answer (transport errors after retries, interruption), or
        its receipt never became final (--async; the request itself was counted when queued)."""
        with self.lock:
            self.requests += count_request
            self.counts["error"] += len(request.items)
            if maybe_delivered:
                self.unknown.extend(i for i in request.items if i.should_be_accepted)
            self._surprise(f"{len(request.items)} transaction(s) not delivered: {reason}")

    def record(self, request: Request, reply: Reply, latency: float) -> None:
        """Classify each item of an answered request against what was expected of it."""
        fates = _fates(request, reply)
        with self.lock:
            self.requests += 1
            self.latencies.append(latency)
            for item, (status, result) in zip(request.items, fates, strict=True):
                self._one(item, status, result, reply)

    def queued(self, request: Request, latency: float) -> None:
        """--async: the request was answered 202; its items are classified once settled."""
        with self.lock:
            self.requests += 1
            self.latencies.append(latency)

    def settled(self, request: Request, reply: Reply, receipt: Any, completion: float) -> None:
        """--async: classify each item from the request's final receipt (GET /ingest/{id})."""
        results = receipt.get("results") if isinstance(receipt, dict) else None
        with self.lock:
            self.completions.append(completion)
            if not isinstance(results, list) or len(results) != len(request.items):
                for item in request.items:
                    self._one(item, "error", {"errors": f"unreadable receipt: {receipt!r:.200}"},
                              reply)
                return
            for item, result in zip(request.items, sorted(results, key=lambda r: r["index"]),
                                    strict=True):
                status = str(result.get("status"))
                # `failed`: its message reached the dead-letter queue (not applied, redrivable)
                self._one(item, "error" if status == "failed" else status, result, reply)

    def _one(self, item: Planned, status: str, result: dict[str, Any], reply: Reply) -> None:
        self.counts[status] += 1
        flags = result.get("flags") or []
        self.flagged.update(str(f) for f in flags)
        if item.rule:
            self.patterns["sent"] += 1
            self.patterns["flagged"] += item.rule in flags
            if item.rule not in flags and len(self.missed) < MAX_SAMPLES:
                self.missed.append(f"{item.id} ({item.rule}): {status} {flags}")
        if status in ("created", "duplicate"):
            if not item.should_be_accepted:
                self._surprise(f"invalid transaction accepted ({item.fault}): {item.id}")
            elif status == "created" or reply.maybe_delivered or item.id in self.accepted:
                # created now, or stored by an earlier attempt / an earlier replay of ours
                self.accepted[item.id] = Kept(item.currency, item.credit, item.amount)
        elif status == "rejected":
            if item.should_be_accepted:
                self._surprise(f"valid transaction {item.id} rejected: {result.get('errors')}")
        else:
            self._surprise(f"transaction {item.id}: {status} {result.get('errors') or ''}")

    def latency_ms(self, quantile: float, completions: bool = False) -> float:
        """The latency (ms) at `quantile` of answered requests (nearest rank); with
        `completions`, of the time from an asynchronous POST until all its items were done."""
        with self.lock:
            ordered = sorted(self.completions if completions else self.latencies)
        if not ordered:
            return 0.0
        rank = min(len(ordered) - 1, max(0, int(quantile * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


def _fates(request: Request, reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """(status, result) for each item of the request, from the API's answer."""
    body = reply.body if isinstance(reply.body, dict) else {}
    n = len(request.items)
    if request.batched:
        results = body.get("results")
        if reply.status == 200 and isinstance(results, list) and len(results) == n:
            return [(str(r.get("status")), r) for r in results]
        return [("error", {"errors": f"HTTP {reply.status} {body.get('Message', '')}"})] * n
    details = {"errors": body.get("Details") or body.get("Message")}
    if reply.status == 201:
        return [("created", body.get("transaction") or {})]
    if reply.status == 200 and body.get("status") == "duplicate":
        return [("duplicate", body.get("transaction") or {})]
    if reply.status == 409:
        return [("conflict", details)]
    if reply.status == 400:
        return [("rejected", details)]
    return [("error", {"errors": f"HTTP {reply.status} {body.get('Message', '')}"})]
