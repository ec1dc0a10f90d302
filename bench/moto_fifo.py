"""SQS FIFO's sequence numbers on moto: they increase, as SQS's do (moto draws random digits).

The sequenced consumer keeps a message's sequence number as its high-water mark, so a queue
stand-in must number a group's messages in increasing order. `increasing_sequences()` patches
moto's backend for as long as it is open (benches and tests that put SQS on moto).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def increasing_sequences() -> Iterator[None]:
    """moto's FIFO messages numbered 1, 2, 3 ... (20 digits) while this is open."""
    from moto.sqs.models import SQSBackend

    real = SQSBackend.send_message
    counter = itertools.count(1)
    lock = threading.Lock()

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = real(self, *args, **kwargs)
        if getattr(message, "sequence_number", None) is not None:
            with lock:
                message.sequence_number = f"{next(counter):020d}"
        return message

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQSBackend.send_message = real  # type: ignore[method-assign]
