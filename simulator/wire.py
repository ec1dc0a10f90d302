"""Packing planned items into requests and requests into ordered units of work."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from simulator.plan import Group, Planned


@dataclass(frozen=True)
class Request:
    """One POST /transactions: its items and the exact body (encoded once, ahead of time)."""

    items: tuple[Planned, ...]
    body: bytes
    batched: bool


Unit = list[Request]  # requests one worker sends in order (a pattern split over requests)


def encode(items: list[Planned], batched: bool) -> Request:
    """The body: one object, or `{"transactions": [...]}`; amounts are already decimal strings."""
    raws = [p.raw for p in items]
    payload = {"transactions": raws} if batched else raws[0]
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Request(tuple(items), body, batched)


def units(groups: Iterable[Group], batch_size: int) -> Iterator[Unit]:
    """Fill requests up to `batch_size` without splitting a group across workers; a group
    larger than a request becomes one unit of consecutive requests."""
    batched = batch_size > 1
    pending: list[Planned] = []
    for group in groups:
        if len(pending) + len(group) > batch_size and pending:
            yield [encode(pending, batched)]
            pending = []
        if len(group) > batch_size:
            yield [encode(group[i:i + batch_size], batched)
                   for i in range(0, len(group), batch_size)]
            continue
        pending.extend(group)
        if len(pending) == batch_size:
            yield [encode(pending, batched)]
            pending = []
    if pending:
        yield [encode(pending, batched)]
