"""AWS X-Ray: with TRACING on, botocore is patched so each AWS call is a subsegment of the trace."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_patched = False


def enable_tracing() -> bool:
    """Patch botocore for X-Ray, once per process; True once patched.

    Called on the first request when the stage sets TRACING=on (the prod stage, whose function
    and API have X-Ray active tracing). The SDK is imported here, never at import time, so a
    stage without tracing never pays for it and a traced one pays once per cold start
    (`python -m bench.cold_start` measures it). On Lambda the SDK takes the trace id Lambda
    gives each invocation; elsewhere there is no segment, and a missing one is ignored, not an
    error, so `chalice local --stage prod` works with tracing on.
    """
    global _patched
    with _lock:
        if not _patched:
            from aws_xray_sdk.core import patch, xray_recorder

            xray_recorder.configure(context_missing="IGNORE_ERROR")
            patch(("botocore",))  # boto3 clients are botocore clients: DynamoDB, S3, SQS
            _patched = True
    return True
