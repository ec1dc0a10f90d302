"""The raw archive: each accepted request body, byte for byte, as one encrypted S3 object."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from chalicelib.adapters.s3_bucket import S3Bucket
from chalicelib.ports.archive import ArchiveError

PREFIX = "raw"
STATEMENT_PREFIX, STATEMENT_SUFFIX = "statements", ".stmt"
ENCRYPTION = "AES256"  # SSE-S3: encrypted at rest with no key to manage; a bucket default may
# still be SSE-KMS, which S3 applies when the bucket policy asks for it.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def object_key(bank: str, request_id: str, received: datetime, prefix: str = PREFIX,
               suffix: str = ".json") -> str:
    """`raw/bank=<bank>/date=<YYYY-MM-DD>/<request-id>.json`: Hive-style partitions, so Athena
    or Glue can query by bank and day without listing everything. Statement files go under
    their own prefix (`statements/...`), so a JSON query over `raw/` never meets one."""
    day = received.astimezone(UTC).strftime("%Y-%m-%d")
    safe_id = _UNSAFE.sub("_", request_id)[:128] or "unknown"
    return f"{prefix}/bank={bank}/date={day}/{safe_id}{suffix}"


class S3Archive(S3Bucket):
    """One bucket; the boto3 client is created on the first write and reused by later ones."""

    # Short timeouts and few retries: the archive sits on the request path after the commit,
    # and a slow S3 must not hold the bank's answer for long.
    CLIENT_CONFIG: ClassVar[dict[str, Any]] = {
        "connect_timeout": 2, "read_timeout": 5,
        "retries": {"max_attempts": 2, "mode": "standard"}}

    def put(self, bank: str, request_id: str, body: bytes, received: datetime,
            statement: bool = False) -> str:
        """Write the body as received (a statement file under `statements/`); return its key
        or raise ArchiveError."""
        from botocore.exceptions import BotoCoreError, ClientError

        suffix = STATEMENT_SUFFIX if statement else ".json"
        key = object_key(bank, request_id, received, STATEMENT_PREFIX if statement else PREFIX,
                         suffix)
        safe_id = key.rsplit("/", 1)[-1].removesuffix(suffix)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body,
                                   ContentType=("application/octet-stream" if statement
                                                else "application/json"),
                                   ServerSideEncryption=ENCRYPTION,
                                   Metadata={"bank": bank, "request-id": safe_id})
        except (BotoCoreError, ClientError) as exc:
            raise ArchiveError(f"cannot archive to s3://{self.bucket}/{key}: {exc}") from exc
        return key
