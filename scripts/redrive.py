"""`python -m scripts.redrive`: move the ingest queue's dead letters back and put their items
back to `queued` in the receipts (use once the cause is fixed; `--list` only shows them).

Reads the same environment as the app (STORE, TABLE_NAME, QUEUE, QUEUE_URL,
DEAD_LETTER_QUEUE_URL, ...). On AWS it needs sqs:ReceiveMessage and sqs:DeleteMessage on the
dead-letter queue and sqs:SendMessage on the queue (infra/operator-policy.json)."""

from __future__ import annotations

import argparse

from chalicelib.bootstrap import Runtime, get_runtime
from chalicelib.domain import messages
from chalicelib.usecases import ingest_async, replay_jobs

BATCH = 10


def redrive(rt: Runtime, limit: int | None = None) -> int:
    """Redrive up to `limit` dead letters (all by default); how many moved. Receipts first, so
    no consumer settles a message whose items still read `failed`."""
    moved = 0
    while limit is None or moved < limit:
        batch = rt.queue.dead_letters(BATCH if limit is None else min(BATCH, limit - moved))
        if not batch:
            break
        for message in batch:
            try:
                if replay_jobs.is_job(message.body):
                    replay_jobs.requeue(rt, message)
                    continue
                ingest_async.requeue(rt.receipts, message)
            except messages.MessageError:
                pass  # not ours: moved back as it is, the consumer will dead-letter it again
        moved += rt.queue.redrive(batch)
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.redrive", description=__doc__)
    parser.add_argument("--list", action="store_true", help="show the counts, move nothing")
    parser.add_argument("--limit", type=int, help="redrive at most this many messages")
    args = parser.parse_args(argv)
    rt = get_runtime()
    queued, dead = rt.queue.depth()
    print(f"queue {rt.queue.name}: {queued} message(s) queued, {dead} dead letter(s)")
    if args.list:
        return 0
    moved = redrive(rt, args.limit)
    print(f"redrove {moved} message(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
