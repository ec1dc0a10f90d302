"""POST /statements: a bank's statement file through the same ingest as JSON transactions.

The file is read (400 naming the line or element path), every booked entry validated (one
invalid entry refuses the file with every reason) and each statement's balances checked (422):
only then does anything reach the ledger, synchronously (`ledger.ingest`) or through the queue
(`ingest_async`), for the caller's bank and no other.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.domain.statements.mapping import Booked, figures, prepare, read_statements
from chalicelib.domain.statements.parsed import BOOKED, ParsedFile
from chalicelib.errors import (
    BadRequestError,
    FieldError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from chalicelib.observability import record_outcomes, refusal_counted
from chalicelib.usecases import ingest_async
from chalicelib.usecases.ingest_sync import archive_body
from chalicelib.usecases.ledger import CREATED, count_rule_errors, ingest, summarise
from chalicelib.usecases.rules_admin import active_rule_set

MEDIA_TYPES = ("text/plain", "application/xml", "text/xml", "application/octet-stream")
PARAMETERS = frozenset({"format"})
UPLOAD_HINT = ("split the file (each statement may be sent on its own) or, on AWS, "
               "upload it with POST /statements/uploads")


@dataclass(frozen=True)
class Answer:
    """What app.py sends: the status, the body, and the receipt's id when queued."""

    status: int
    body: dict[str, Any]
    request_id: str | None = None


def check_request(content_type: str | None, params: Mapping[str, str] | None, raw: bytes,
                  max_bytes: int) -> str | None:
    """The declared format, once the media type, parameters and size are acceptable."""
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"a statement file sent here is at most {max_bytes} bytes; "
                                   f"{UPLOAD_HINT}")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in MEDIA_TYPES and not media.endswith("+xml"):
        raise UnsupportedMediaTypeError(
            f"send the file as {', '.join(MEDIA_TYPES)}, not {media}")
    unknown = sorted(set(params or {}) - PARAMETERS)
    if unknown:
        raise BadRequestError("unknown query parameters",
                              [FieldError(name[:64], "unknown parameter") for name in unknown])
    return (params or {}).get("format")


def post_statement(rt: Runtime, bank: str, content_type: str | None,
                   params: Mapping[str, str] | None, prefer: str | None, raw: bytes,
                   now: datetime, request_id: str | None = None) -> Answer:
    """Import a statement file for `bank`: 200 with every entry's fate, or 202 and a receipt;
    the outcomes counted and the file archived here, where they are decided."""
    with refusal_counted(rt.settings.stage):
        declared = check_request(content_type, params, raw, rt.settings.max_body_bytes)
        parsed = read_statements(raw, declared)
        booked = prepare(parsed, now)
    described = describe(parsed, booked)
    txs = [b.transaction for b in booked]
    request_id = str(uuid.uuid4().hex if request_id is None else request_id)
    if ingest_async.wants_async(prefer):
        request_id = uuid.uuid4().hex  # the receipt's id, answered in Location
        body = ingest_async.submit_valid(rt, bank, txs, now, request_id)
        archive_body(rt, bank, request_id, raw, now, statement=True)
        return Answer(202, {**body, **described}, request_id)
    rules = active_rule_set(rt.store, bank, rt.settings.rules, rt.rule_sets)
    results = ingest(rt.store, bank, [t.content() for t in txs], now, rules)
    count_rule_errors(rt.settings.stage, results, "statements")
    record_outcomes(rt.settings.stage, Counter(r.status for r in results),
                    sum(1 for r in results if r.status == CREATED and r.transaction is not None
                        and r.transaction.flags))
    archive_body(rt, bank, request_id, raw, now, statement=True)
    return Answer(200, {**described, "results": [r.to_json() for r in results],
                        "summary": summarise(results)})


def describe(parsed: ParsedFile, booked: list[Booked]) -> dict[str, Any]:
    """The file's format and, per statement, its balances and entries (what was not booked
    is listed: it is reported, never stored)."""
    first: dict[int, int] = {}
    for index, b in enumerate(booked):
        first.setdefault(b.statement, index)
    rows = []
    for number, s in enumerate(parsed.statements):
        fig = figures(s)
        rows.append({
            "id": s.statement_id, "source": s.source, "account": s.account,
            "currency": s.currency,
            "opening_balance": s.opening.text() if s.opening else None,
            "closing_balance": s.closing.text() if s.closing else None,
            "balance_checked": fig is not None,
            "entries": len(s.entries),
            "booked": sum(1 for e in s.entries if e.status == BOOKED),
            "first_index": first.get(number),
            "not_booked": [{"source": e.source, "status": e.status, "type": e.type,
                            "amount": e.amount, "currency": e.currency}
                           for e in s.entries if e.status != BOOKED],
        })
    return {"format": parsed.format, "statements": rows}
