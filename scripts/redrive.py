"""`python -m scripts.redrive`: move the ingest queue's dead letters back and put their items
back to `queued` in the receipts (use once the cause is fixed; `--list` only shows them).

The consumer dead-letters only messages that wrote nothing, and a redrive applies them exactly
once. A message the queue's own backstop moved (BACKSTOP_RECEIVES receives) may have written
part of itself: sent again it would get a new sequence number and count twice, so it is left in
the dead letters and named, unless `--written-too` (then `scripts.reconcile --repair` its bank:
docs/operations.md).

Reads the same environment as the app (STORE, TABLE_NAME, QUEUE, QUEUE_URL,
DEAD_LETTER_QUEUE_URL, ...). On AWS it needs sqs:ReceiveMessage and sqs:DeleteMessage on the
dead-letter queue and sqs:SendMessage on the queue (infra/operator-policy.json)."""

from __future__ import annotations

import argparse

from chalicelib.bootstrap import Runtime, get_runtime
from chalicelib.domain import messages
from chalicelib.observability import log
from chalicelib.usecases import ingest_async, replay_jobs

BATCH = 10


def redrive(rt: Runtime, limit: int | None = None, written_too: bool = False) -> int:
    """Redrive up to `limit` dead letters (all by default); how many moved. Receipts first, so
    no consumer settles a message whose items still read `failed`. One that has written is
    left (logged `redrive_kept_written`) unless `written_too`."""
    moved = 0
    while limit is None or moved < limit:
        batch = rt.queue.dead_letters(BATCH if limit is None else min(BATCH, limit - moved))
        if not batch:
            break  # what was left stays hidden a minute: each dead letter is looked at once
        going = []
        for message in batch:
            try:
                if replay_jobs.is_job(message.body):
                    replay_jobs.requeue(rt, message)
                else:
                    if not written_too:
                        ingest_async.check_unwritten(rt, message)
                    ingest_async.requeue(rt.receipts, message)
            except ingest_async.HalfApplied:
                part = messages.parse(message.body)
                log("WARNING", "redrive_kept_written", message_id=message.message_id,
                    bank=part.bank, request_id=part.request_id, part=part.number)
                continue
            except messages.MessageError:
                pass  # not ours: moved back as it is, the consumer will dead-letter it again
            going.append(message)
        moved += rt.queue.redrive(going)
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.redrive", description=__doc__)
    parser.add_argument("--list", action="store_true", help="show the counts, move nothing")
    parser.add_argument("--limit", type=int, help="redrive at most this many messages")
    parser.add_argument("--written-too", action="store_true",
                        help="also redrive messages that wrote before the queue moved them (they"
                             " count twice: run scripts.reconcile --repair on their banks after)")
    args = parser.parse_args(argv)
    rt = get_runtime()
    queued, dead = rt.queue.depth()
    print(f"queue {rt.queue.name}: {queued} message(s) queued, {dead} dead letter(s)")
    if args.list:
        return 0
    moved = redrive(rt, args.limit, args.written_too)
    print(f"redrove {moved} message(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
