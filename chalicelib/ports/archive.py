"""The archive port: where an accepted request body is kept byte for byte (S3 on AWS)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ArchiveError(Exception):
    """The archive could not keep a body (the ledger is unaffected)."""


class Archive(Protocol):
    """Keeps one accepted body per request (a statement file apart from JSON bodies); answers
    the object's key."""

    def put(self, bank: str, request_id: str, body: bytes, received: datetime,
            statement: bool = False) -> str: ...
