"""Replays as jobs: POST /rules/replay answers 202 with where the outcome will be when asked to
(`Prefer: respond-async`) or when the replay would not finish within API Gateway's 29 s; the
ingest queue's consumer runs the job off the request path, and GET /rules/replay/{id} answers it.

A job writes only its own record (`ReplayJobStore`), never the ledger, and reads the window by
the same scan as a synchronous replay: no index is added to the write path. Its record is
bounded: the request (at most MAX_RULES rules of bounded length) and the answer (counts, and at
most MAX_IDS ids of at most 64 characters per side). The job's message carries only the bank
and the job id; the request itself is in the record.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.domain.rule_sets import as_rule_set
from chalicelib.domain.timeutil import format_timestamp, now_utc
from chalicelib.errors import NotFoundError, ServiceUnavailableError
from chalicelib.observability import log
from chalicelib.ports.queue import OutgoingMessage, QueueError, ReceivedMessage
from chalicelib.ports.store import ReplayJobStore
from chalicelib.usecases.rules_admin import replay

JOB_ID = re.compile(r"[0-9a-f]{32}")
PENDING, DONE, FAILED = "pending", "done", "failed"
KIND = "replay"
# An ingest message never holds this text: its keys are fixed and a quote inside any of its
# values is escaped (`\"`), so only a job's body has `"job":"replay"` as written.
MARK = f'"job":"{KIND}"'


def _jobs(rt: Runtime) -> ReplayJobStore:
    if rt.replay_jobs is None:
        raise ServiceUnavailableError("replay jobs are not available on this stage", 30)
    return rt.replay_jobs


def is_job(body: str) -> bool:
    """Whether a queue message is a replay job (else it is an ingest part)."""
    return MARK in body


def submit(rt: Runtime, bank: str, request: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Record a checked replay request (`rules_admin.replay_request`) as a pending job and
    queue it: the 202 body. If the queue fails, the job is recorded failed and the client gets
    a 503 (sending again makes a new job)."""
    jobs, job_id = _jobs(rt), uuid.uuid4().hex
    record = {"status": PENDING, "submitted_at": format_timestamp(now.replace(microsecond=0)),
              "request": request}
    jobs.put_job(bank, job_id, record)
    body = json.dumps({"bank": bank, "id": job_id, "job": KIND}, separators=(",", ":"),
                      sort_keys=True)
    group = hashlib.sha256(f"{KIND}\0{bank}\0{job_id}".encode()).hexdigest()[:40]
    try:
        rt.queue.send([OutgoingMessage(group, hashlib.sha256(body.encode()).hexdigest(),
                                       body)])
    except QueueError as exc:
        jobs.put_job(bank, job_id, {**record, "status": FAILED, "error": "not queued"})
        raise ServiceUnavailableError(f"the job queue is unavailable; retry ({exc})") from exc
    return _answer(job_id, record)


def _parse(message: ReceivedMessage) -> tuple[str, str]:
    raw = json.loads(message.body)
    return str(raw["bank"]), str(raw["id"])


def run(rt: Runtime, message: ReceivedMessage) -> None:
    """Run a queued job once: a redelivery of a finished one does nothing. Raises (StoreError
    ...) to leave the message for another delivery."""
    bank, job_id = _parse(message)
    jobs = _jobs(rt)
    record = jobs.get_job(bank, job_id)
    if record is None or record.get("status") != PENDING:
        return  # finished by an earlier delivery (or not ours to run)
    # the request names its rules, so the bank's active set is not read (passed only as type)
    result = replay(rt.store, bank, record["request"], rt.settings.rules,
                    as_rule_set(rt.settings.rules), unbounded=True)
    jobs.put_job(bank, job_id, {**record, "status": DONE, "result": result,
                                "finished_at": format_timestamp(now_utc().replace(
                                    microsecond=0))})
    log("INFO", "replay_job_done", bank=bank, job=job_id, transactions=result["transactions"])


def give_up(rt: Runtime, message: ReceivedMessage, why: str) -> None:
    """The job's last allowed delivery failed (it goes to the dead letters): recorded failed."""
    bank, job_id = _parse(message)
    jobs = _jobs(rt)
    record = jobs.get_job(bank, job_id)
    if record is not None and record.get("status") == PENDING:
        jobs.put_job(bank, job_id, {**record, "status": FAILED, "error": why[:500]})


def requeue(rt: Runtime, message: ReceivedMessage) -> None:
    """A dead-lettered job is redriven (scripts.redrive): `pending` again, so it runs."""
    bank, job_id = _parse(message)
    jobs = _jobs(rt)
    record = jobs.get_job(bank, job_id)
    if record is not None and record.get("status") == FAILED:
        jobs.put_job(bank, job_id, {k: v for k, v in record.items() if k != "error"}
                     | {"status": PENDING})


def _answer(job_id: str, record: dict[str, Any]) -> dict[str, Any]:
    request = record.get("request") or {}
    body: dict[str, Any] = {"job_id": job_id, "status": record["status"],
                            "submitted_at": record["submitted_at"],
                            "window": {"since": request.get("since"),
                                       "until": request.get("until")}}
    if record["status"] == DONE:
        body["finished_at"] = record.get("finished_at")
        body["result"] = record["result"]
    elif record["status"] == FAILED:
        body["error"] = record.get("error")
    return body


def status(rt: Runtime, bank: str, job_id: str) -> dict[str, Any]:
    """GET /rules/replay/{job_id}: the bank's job, pending, done (with the replay's answer,
    as a synchronous replay gives it) or failed (with why)."""
    record = _jobs(rt).get_job(bank, job_id) if JOB_ID.fullmatch(job_id) else None
    if record is None:
        raise NotFoundError(f"no replay job {job_id[:64]!r} for this bank")
    return _answer(job_id, record)
