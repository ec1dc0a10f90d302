"""Large statement files on S3: presigned PUT URLs, and reading an uploaded object back."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.adapters.s3_bucket import S3Bucket
from chalicelib.ports.uploads import UploadError

ENCRYPTION = "AES256"
CONTENT_TYPE = "application/octet-stream"


class S3Uploads(S3Bucket):
    """One bucket; the boto3 client is made on first use (a cold start without uploads never
    imports boto3) and reused. SigV4 for the presigned URLs; reads of large files get time."""

    CLIENT_CONFIG: ClassVar[dict[str, Any]] = {
        "signature_version": "s3v4", "connect_timeout": 2, "read_timeout": 20,
        "retries": {"max_attempts": 3, "mode": "standard"}}

    def presign_put(self, key: str, size: int, expires_s: int) -> tuple[str, dict[str, str]]:
        """A PUT URL for exactly `size` bytes at `key`, and the headers the PUT must carry
        (they are signed: another length, type or encryption is refused by S3)."""
        headers = {"content-type": CONTENT_TYPE, "content-length": str(size),
                   "x-amz-server-side-encryption": ENCRYPTION}
        url = self.client.generate_presigned_url(
            "put_object", ExpiresIn=expires_s, HttpMethod="PUT",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": CONTENT_TYPE,
                    "ContentLength": size, "ServerSideEncryption": ENCRYPTION})
        return str(url), headers

    def read(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes; UploadError when it is larger than `max_bytes` or unreadable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            if int(answer.get("ContentLength", 0)) > max_bytes:
                answer["Body"].close()
                raise UploadError(f"the upload is larger than {max_bytes} bytes")
            body: bytes = answer["Body"].read(max_bytes + 1)
        except (BotoCoreError, ClientError) as exc:
            raise UploadError(f"cannot read s3://{self.bucket}/{key}: {exc}") from exc
        if len(body) > max_bytes:
            raise UploadError(f"the upload is larger than {max_bytes} bytes")
        return body
