"""Large statement files: a presigned S3 PUT per file, and the import its creation event queues.

`POST /statements/uploads?size=N` answers a PUT URL for exactly N bytes (at most
MAX_UPLOAD_BYTES) at `uploads/bank=<bank>/<request id>.stmt`, valid UPLOAD_EXPIRY_S seconds,
and the receipt the import will write. S3 cannot notify a FIFO queue, so the bucket notifies a
function (`import_statement_upload`): it reads the object, checks it as `POST /statements`
does (all or nothing) and queues its entries under the upload's request id, whose receipt
`GET /ingest/{request_id}` answers; a refused file's receipt holds one rejected item saying why.
The bank comes from the key, which only the API signs, and only for the caller's bank.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.bootstrap import Runtime
from chalicelib.domain.receipts import REJECTED, REJECTED_PART, ItemFate
from chalicelib.domain.statements.mapping import prepare, read_statements
from chalicelib.domain.timeutil import format_timestamp
from chalicelib.errors import AppError, BadRequestError, FieldError, NotFoundError
from chalicelib.errors import PayloadTooLargeError as TooLarge
from chalicelib.observability import log
from chalicelib.ports.uploads import UploadError, Uploads
from chalicelib.usecases import ingest_async

PREFIX = "uploads/"
KEY = re.compile(r"uploads/bank=([a-z0-9][a-z0-9-]{0,39})/([0-9a-f]{32})\.stmt")
QUEUED, REFUSED, SKIPPED = "queued", "refused", "skipped"


def upload_key(bank: str, request_id: str) -> str:
    return f"{PREFIX}bank={bank}/{request_id}.stmt"


def request_upload(rt: Runtime, bank: str, params: Mapping[str, str] | None,
                   now: datetime) -> tuple[str, dict[str, Any]]:
    """The request id and the 201 body: where and how to PUT the file."""
    settings, uploads = rt.settings, rt.uploads
    if uploads is None:
        raise NotFoundError("uploads are not configured on this stage; send the file to "
                            f"POST /statements (at most {settings.max_body_bytes} bytes)")
    unknown = sorted(set(params or {}) - {"size"})
    if unknown:
        raise BadRequestError("unknown query parameters",
                              [FieldError(name[:64], "unknown parameter") for name in unknown])
    text = (params or {}).get("size", "")
    if not text.isascii() or not text.isdigit() or len(text) > 12 or int(text) < 1:
        raise BadRequestError("say the file's size: ?size=<bytes>",
                              [FieldError("size", "must be a whole number of bytes from 1")])
    size = int(text)
    if size > settings.max_upload_bytes:
        raise TooLarge(f"an uploaded statement file is at most {settings.max_upload_bytes} "
                       "bytes; split it", [FieldError("size", f"is {size}")])
    request_id = uuid.uuid4().hex
    url, headers = uploads.presign_put(
        upload_key(bank, request_id), size, settings.upload_expiry_s)
    expires = now + timedelta(seconds=settings.upload_expiry_s)
    return request_id, {"request_id": request_id, "method": "PUT", "url": url,
                        "headers": headers, "expires_at": format_timestamp(expires),
                        "max_bytes": settings.max_upload_bytes}


def import_upload(rt: Runtime, bank: str, request_id: str, raw: bytes | AppError,
                  now: datetime) -> str:
    """Queue an uploaded file's entries under `request_id` (once: a repeated event finds the
    receipt and does nothing), or record why the file is refused (`raw` may be that reason)."""
    if rt.receipts.get(bank, request_id) is not None:
        return SKIPPED  # S3 delivers an event at least once
    try:
        if isinstance(raw, AppError):
            raise raw
        booked = prepare(read_statements(raw), now)
    except AppError as exc:
        errors = ({"field": "file", "message": f"{exc.code}: {exc.message}"},
                  *(d.to_json() for d in exc.details))
        rt.receipts.create(bank, request_id, format_timestamp(now),
                              {REJECTED_PART: [ItemFate(0, None, REJECTED, errors=errors)]})
        return REFUSED
    ingest_async.submit_valid(rt, bank, [b.transaction for b in booked], now, request_id)
    return QUEUED


def _uploads(rt: Runtime) -> Uploads:
    if rt.uploads is None:  # an event from a bucket this stage does not name: a misconfiguration
        raise UploadError("UPLOAD_BUCKET is not set on this stage")
    return rt.uploads


def on_s3_records(rt: Runtime, records: list[Mapping[str, Any]], now: datetime) -> dict[str, int]:
    """The upload bucket's creation events: each object under `uploads/` is imported once.
    An unreadable object raises, so Lambda retries the event (then its failure destination)."""
    outcomes = {QUEUED: 0, REFUSED: 0, SKIPPED: 0}
    for record in records:
        s3 = record.get("s3") or {}
        bucket = str((s3.get("bucket") or {}).get("name", ""))
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
        match = KEY.fullmatch(key)
        if bucket != rt.settings.upload_bucket or match is None:
            log("WARNING", "upload_ignored", bucket=bucket, key=key[:200])
            outcomes[SKIPPED] += 1
            continue
        bank, request_id = match.groups()
        limit = rt.settings.max_upload_bytes
        size = int((s3.get("object") or {}).get("size") or 0)
        # a PUT's length is signed, but the bucket may hold an object put another way
        raw: bytes | AppError = TooLarge(f"the file is {size} bytes, over {limit}") \
            if size > limit else _uploads(rt).read(key, limit)
        outcome = import_upload(rt, bank, request_id, raw, now)
        log("INFO", "upload_imported", bank=bank, request_id=request_id, outcome=outcome,
            size=size)
        outcomes[outcome] += 1
    return outcomes
