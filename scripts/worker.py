"""`make worker` (`python -m scripts.worker`): consume the embedded SQLite ingest queue in a
process of its own. Not needed beside `make serve`, `chalice local` or `make demo`, whose server
process runs consumer threads itself; useful to drain a queue left by a stopped server
(`--once`), or to add consumers. Reads the same environment as the app (SQLITE_PATH, QUEUE_PATH,
STORE, TABLE_NAME, QUEUE_LOCAL_WORKERS ...)."""

from __future__ import annotations

import argparse
import signal
import time
from types import FrameType

from chalicelib.bootstrap import get_runtime
from chalicelib.usecases.async_runtime import drain, get_async


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.worker", description=__doc__)
    parser.add_argument("--once", action="store_true",
                        help="consume until nothing is deliverable, then exit")
    args = parser.parse_args(argv)
    rt = get_runtime()
    if args.once:
        parts = get_async(rt, start_workers=False)
        drain(rt, parts)
        queued, dead = parts.queue.depth()
        print(f"drained: {queued} message(s) left in flight or delayed, {dead} dead letter(s)")
        return 0
    parts = get_async(rt)  # starts QUEUE_LOCAL_WORKERS consumer threads
    if parts.settings.kind != "sqlite":
        print("QUEUE is not sqlite: on AWS the consumer is the Lambda on the SQS queue")
        return 2
    signal.signal(signal.SIGTERM, _stop)
    print(f"consuming {parts.settings.path} with {len(parts.workers)} thread(s); Ctrl-C stops",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        parts.stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
