"""Synchronous ingest in plain values: app.py hands in the request parts, gets status + body."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.domain.validation import parse_json, split_batch
from chalicelib.errors import ConflictError, UnsupportedMediaTypeError, ValidationError
from chalicelib.observability import count_metric, log, record_outcomes, refusal_counted
from chalicelib.ports.archive import ArchiveError
from chalicelib.usecases.ledger import (
    CONFLICT,
    CREATED,
    DUPLICATE,
    count_rule_errors,
    ingest,
    summarise,
)
from chalicelib.usecases.rules_admin import active_rule_set

JSON_TYPES = ("application/json",)


def check_content_type(content_type: str | None) -> None:
    """JSON only (`application/json`, `application/*+json`); a missing header means JSON."""
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    raise UnsupportedMediaTypeError(f"send application/json, not {media or 'nothing'}")


def post_transactions(rt: Runtime, bank: str, content_type: str | None, raw: bytes,
                      now: datetime, request_id: str) -> tuple[int, dict[str, Any]]:
    """Ingest one transaction (201/200, or 409/400) or a batch (200 with each item's fate);
    the outcomes are counted and the accepted body archived here, where they are decided."""
    with refusal_counted(rt.settings.stage):
        check_content_type(content_type)
        body = parse_json(raw, rt.settings.max_body_bytes)
        items, is_batch = split_batch(body, rt.settings.max_batch)
        rules = active_rule_set(rt.store, bank, rt.settings.rules, rt.rule_sets)
        results = ingest(rt.store, bank, items, now, rules)
    count_rule_errors(rt.settings.stage, results, "ingest_sync")
    record_outcomes(rt.settings.stage, Counter(r.status for r in results),
                    sum(1 for r in results if r.status == CREATED and r.transaction is not None
                        and r.transaction.flags))
    if is_batch:
        archive_body(rt, bank, request_id, raw, now)
        return 200, {"results": [r.to_json() for r in results], "summary": summarise(results)}
    (result,) = results
    if result.status == CONFLICT:
        raise ConflictError(f"transaction {result.id} already exists with other content",
                            result.errors)
    if result.status not in (CREATED, DUPLICATE) or result.transaction is None:
        raise ValidationError("the transaction is invalid", result.errors)
    archive_body(rt, bank, request_id, raw, now)
    return (201 if result.status == CREATED else 200,
            {"status": result.status, "transaction": result.transaction.to_json()})


def archive_body(rt: Runtime, bank: str, request_id: str, raw: bytes, now: datetime,
                 statement: bool = False) -> None:
    """Write an accepted body to the raw archive, when one is configured. The transactions are
    already committed (or queued), so a failed write does not fail the request: it is logged at
    error level and counted (ArchiveFailures) for an alarm; the ledger has lost nothing."""
    if rt.archive is None:
        return
    try:
        rt.archive.put(bank, request_id, raw, now, statement)
        count_metric(rt.settings.stage, "ArchiveFailures", 0)
    except Exception as exc:  # ArchiveError, or anything else: the commit stands either way
        log("ERROR", "archive_failed", request_id=request_id, bank=bank,
            error=str(exc) if isinstance(exc, ArchiveError) else type(exc).__name__)
        count_metric(rt.settings.stage, "ArchiveFailures", 1)
