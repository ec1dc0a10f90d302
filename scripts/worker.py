"""`make worker` (`python -m scripts.worker`): consume the embedded SQLite ingest queue in a
process of its own, with the webhooks' dispatcher and delivery threads. Not needed beside
`make serve`, `make demo` or `make dashboard`, whose server process starts them itself;
needed beside a bare `chalice local` (a request never starts a thread), to drain a queue left
by a stopped server (`--once`), or to add consumers. Reads the same environment as the app
(SQLITE_PATH, QUEUE_PATH, STORE, TABLE_NAME, QUEUE_LOCAL_WORKERS, WEBHOOK_* ...)."""

from __future__ import annotations

import argparse
import signal
import time
from types import FrameType

from chalicelib.bootstrap import get_runtime
from chalicelib.usecases import webhook_delivery
from chalicelib.usecases.consumer import drain, start_local_workers


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.worker", description=__doc__)
    parser.add_argument("--once", action="store_true",
                        help="consume until nothing is deliverable, then exit")
    args = parser.parse_args(argv)
    rt = get_runtime()
    if args.once:
        drain(rt)
        queued, dead = rt.queue.depth()
        print(f"drained: {queued} message(s) left in flight or delayed, {dead} dead letter(s)")
        webhook_delivery.drain(rt)  # the outbox's events, and deliveries due now
        return 0
    if rt.settings.queue.kind != "sqlite":
        print("QUEUE is not sqlite: on AWS the consumer is the Lambda on the SQS queue")
        return 2
    workers = start_local_workers(rt)  # QUEUE_LOCAL_WORKERS consumer threads
    workers += webhook_delivery.start_local_workers(rt)  # dispatcher and delivery threads
    signal.signal(signal.SIGTERM, _stop)
    path = rt.settings.queue.files_beside(rt.settings.sqlite_path).path
    print(f"consuming {path} with {len(workers)} thread(s); Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        rt.stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
