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
# "unknown": sent, but no answer says whether it was stored (lost after the server may have
# committed, or abandoned in flight at Ctrl-C); --verify treats these as a range.
OUTCOMES = ("created", "duplicate", "conflict", "rejected", "error", "unknown")


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
    unknown: dict[str, Kept] = field(default_factory=dict)  # valid items maybe stored, maybe not
    inflight: dict[int, Request] = field(default_factory=dict)
    awaiting: dict[int, Request] = field(default_factory=dict)  # --async: queued, not settled
    unsettled: set[str] = field(default_factory=set)  # --async: queued, receipt never final
    unclaimed: set[str] = field(default_factory=set)  # valid ids "duplicate" on first delivery
    abandoned: int = 0  # requests given up on in flight (Ctrl-C)
    closed: bool = False  # after `abandon`: late answers are ignored, the figures are final
    next_token: int = 0
    latencies: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)  # --async: POST to every item done
    unexpected: int = 0
    samples: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # fraud items that came back unflagged
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

    def begin(self, request: Request) -> int:
        """A request is about to be sent: a token for `record` / `failed`."""
        with self.lock:
            self.next_token += 1
            self.inflight[self.next_token] = request
            return self.next_token

    def _finish(self, token: int) -> Request | None:
        """The request of `token`, unless `abandon` already counted it (call under the lock)."""
        return None if self.closed else self.inflight.pop(token, None)

    def failed(self, token: int, reason: str, maybe_delivered: bool) -> None:
        """The request never got an answer after its retries: not stored, or (if an attempt
        may have reached the server) unknown."""
        with self.lock:
            request = self._finish(token)
            if request is None:
                return
            self.requests += 1
            n = len(request.items)
            if maybe_delivered:
                self._unknown(request)
                self._surprise(f"{n} transaction(s) with no answer, maybe stored: {reason}")
            else:
                self.counts["error"] += n
                self._surprise(f"{n} transaction(s) not delivered: {reason}")

    def abandon(self) -> int:
        """Stop waiting (Ctrl-C): every request still in flight becomes unknown; answers that
        arrive later are ignored. Returns how many requests were abandoned."""
        with self.lock:
            self.closed = True
            for request in [*self.inflight.values(), *self.awaiting.values()]:
                self._unknown(request)
            self.abandoned = len(self.inflight) + len(self.awaiting)
            self.inflight.clear()
            self.awaiting.clear()
            return self.abandoned

    def _unknown(self, request: Request) -> None:
        self.counts["unknown"] += len(request.items)
        for item in request.items:
            if item.should_be_accepted and item.id not in self.accepted:
                self.unknown[item.id] = Kept(item.currency, item.credit, item.amount)

    def record(self, token: int, reply: Reply, latency: float) -> None:
        """Classify each item of an answered request against what was expected of it."""
        with self.lock:
            request = self._finish(token)
            if request is None:
                return
            self.requests += 1
            self.latencies.append(latency)
            for item, (status, result) in zip(request.items, _fates(request, reply),
                                              strict=True):
                self._one(item, status, result, reply)

    def queued(self, token: int, latency: float) -> None:
        """--async: the request was answered 202; its items are classified once settled."""
        with self.lock:
            request = self._finish(token)
            if request is None:
                return
            self.requests += 1
            self.latencies.append(latency)
            self.awaiting[id(request)] = request

    def settled(self, request: Request, reply: Reply, receipt: Any, completion: float) -> None:
        """--async: classify each item from the request's final receipt (GET /ingest/{id})."""
        results = receipt.get("results") if isinstance(receipt, dict) else None
        with self.lock:
            if self.closed or self.awaiting.pop(id(request), None) is None:
                return
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

    def receipt_failed(self, request: Request, reason: str) -> None:
        """--async: the receipt of a queued (202) request never became final: its items may
        yet be applied, so their outcome is unknown."""
        with self.lock:
            if self.closed or self.awaiting.pop(id(request), None) is None:
                return
            self._unknown(request)
            self.unsettled.update(item.id for item in request.items)
            self._surprise(f"{len(request.items)} queued transaction(s) never settled: {reason}")

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
            kept = Kept(item.currency, item.credit, item.amount)
            if not item.should_be_accepted:
                self._surprise(f"invalid transaction accepted ({item.fault}): {item.id}")
            elif status == "created" or (
                    item.id not in self.unclaimed
                    and (reply.maybe_delivered or item.id in self.accepted
                         or item.id in self.unknown)):
                # created now, or stored by an earlier attempt / an earlier replay of ours
                self.unknown.pop(item.id, None)
                self.unclaimed.discard(item.id)
                self.accepted[item.id] = kept
            elif item.id in self.unclaimed:
                pass  # a replay of an unclaimed one says nothing new: it stays unknown
            else:
                # "duplicate" on its first delivery: stored before this run (the API does not
                # move), or by this very request (a retry inside the server after its write
                # committed answers "duplicate"): either way, so --verify takes it as a range.
                self.unclaimed.add(item.id)
                self.unknown[item.id] = kept
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
