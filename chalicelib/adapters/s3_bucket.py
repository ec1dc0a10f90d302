"""One S3 bucket with a boto3 client made on first use and reused (boto3 is imported only then)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar


class S3Bucket:
    """The shared part of the archive and the uploads: the bucket's name and its lazy client.
    `CLIENT_CONFIG` (botocore Config keywords) is each subclass's own: timeouts and retries
    suited to where it is called. No endpoint_url: AWS_ENDPOINT_URL_S3 keeps working."""

    CLIENT_CONFIG: ClassVar[dict[str, Any]] = {}

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # here: a cold start that never touches S3 never pays for it
                    from botocore.config import Config

                    self._client = boto3.client("s3", config=Config(**self.CLIENT_CONFIG))
        return self._client
