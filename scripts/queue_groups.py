"""`python -m scripts.queue_groups N [--stage S]`: change QUEUE_GROUPS, only with the queue drained.

A bank's accounts are hashed into QUEUE_GROUPS message groups; on DynamoDB each group's
consumer is the one writer of that group's totals items (high-water marks of the group's
sequence). A message hashed under the old count must not meet a consumer with the new one: the
consumer refuses it (QueueGroupsChanged), and this script refuses to change the count while any
message is queued or in flight. With the queue empty it writes QUEUE_GROUPS for the stage in
.chalice/config.json; deploy afterwards. Reads the same environment as the app (QUEUE,
QUEUE_URL, ...) to look at the queue; on AWS it needs sqs:GetQueueAttributes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chalicelib.bootstrap import get_runtime
from chalicelib.ports.queue import Queue

CONFIG = Path(".chalice/config.json")


def change(queue: Queue, config: Path, stage: str, groups: int) -> str | None:
    """Set the stage's QUEUE_GROUPS; the reason it was refused, or None when done."""
    queued, _ = queue.depth()
    if queued:
        return (f"{queued} message(s) queued or in flight: drain the queue first (the"
                " consumers finish them), then change QUEUE_GROUPS")
    body = json.loads(config.read_text())
    env = body["stages"][stage].setdefault("environment_variables", {})
    env["QUEUE_GROUPS"] = str(groups)
    config.write_text(json.dumps(body, indent=2) + "\n")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.queue_groups", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", type=int, help="the new count (1 to 10000; 0: a group per"
                                                 " account, through the ledger's transactions)")
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    if not 0 <= args.groups <= 10_000:
        parser.error("QUEUE_GROUPS is 0 to 10000")
    refused = change(get_runtime().queue, args.config, args.stage, args.groups)
    if refused:
        print(f"refused: {refused}")
        return 2
    print(f"QUEUE_GROUPS={args.groups} for stage {args.stage} in {args.config}: deploy it now")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
