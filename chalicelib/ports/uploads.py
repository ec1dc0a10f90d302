"""The uploads port: large statement files put straight into storage (S3 on AWS), read back."""

from __future__ import annotations

from typing import Protocol


class UploadError(Exception):
    """The object cannot be read (gone, too large, access denied, storage unreachable)."""


class Uploads(Protocol):
    """Presigned PUTs for a bank's large file, and reading an uploaded object back."""

    def presign_put(self, key: str, size: int, expires_s: int) -> tuple[str, dict[str, str]]: ...

    def read(self, key: str, max_bytes: int) -> bytes: ...
