"""AWS X-Ray: with TRACING on, botocore is patched so each AWS call is a subsegment of the trace."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_patched = False


def on_lambda() -> bool:
    """True inside a Lambda container (the runtime sets LAMBDA_TASK_ROOT)."""
    return bool(os.environ.get("LAMBDA_TASK_ROOT"))


def enable_tracing() -> bool:
    """Patch botocore for X-Ray, once per process, on Lambda only; True once patched.

    Called on the first request when the stage sets TRACING=on (the prod stage, whose function
    and API have X-Ray active tracing). The SDK is imported here, never at import time, so a
    stage without tracing never pays for it and a traced one pays once per cold start
    (`python -m bench.cold_start` measures it). On Lambda the SDK takes the trace id Lambda
    gives each invocation. Elsewhere (`chalice local --stage prod`) there is neither a trace nor
    an X-Ray daemon to send to, so nothing is loaded or patched.
    """
    global _patched
    if not on_lambda():
        return False
    with _lock:
        if not _patched:
            from aws_xray_sdk.core import patch, xray_recorder

            # a call outside an invocation (none today) is not traced rather than an error
            xray_recorder.configure(context_missing="IGNORE_ERROR")
            patch(("botocore",))  # boto3 clients are botocore clients: DynamoDB, S3, SQS
            _patched = True
    return True
