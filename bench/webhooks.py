"""`python -m bench.webhooks [--count 1000] [--no-crash]`: flagged transactions to a webhook.

Two `serve_local` servers on fresh SQLite files, in the same run: one with no webhook (the
baseline), one with a webhook to a local receiver that verifies every signature and answers
500 to one delivery in twenty (each retried). Both ingest the same COUNT flagged transactions
in batches of 100; the second then delivers them, and (unless --no-crash) is killed with
SIGKILL once about half are in, and restarted on the same files. Reported: ingest time with a
webhook against the baseline (delivery runs off the request path: the ratio should be near 1),
the time until every event was accepted, events lost (must be 0), and duplicates: events the
receiver accepted (2xx) more than once, which at-least-once delivery allows after a crash.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from chalicelib.domain.alerts import event_id
from scripts.demo import LocalServer
from simulator.options import DEV_KEY
from tests.support.factories import raw_tx
from tests.support.receiver import Receiver, receiver

BATCH = 100
# fast retries; a crash leaves the messages in flight invisible for the visibility timeout
# (60 s by default), so the bench shortens it to 10 s (above a batch's 5 s answer timeout)
ENV = {"WEBHOOK_RETRY_BASE_S": "1", "WEBHOOK_RETRY_CAP_S": "2", "WEBHOOK_LOCAL_WORKERS": "2",
       "WEBHOOK_QUEUE_VISIBILITY_S": "10", "SQLITE_SYNCHRONOUS": "NORMAL"}


def call(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "x-api-key": DEV_KEY, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None


def ingest(url: str, count: int) -> float:
    """Seconds to POST `count` flagged transactions (large amounts), BATCH a request."""
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        items = [raw_tx(f"f{i}", account=f"A{i % 50}", amount="25000.00")
                 for i in range(start, min(count, start + BATCH))]
        status, body = call(url, "POST", "/transactions", {"transactions": items})
        flagged = sum(1 for r in body["results"] if r["flags"])
        assert status == 200 and body["summary"]["created"] == flagged == len(items), body[
            "summary"]
    return time.perf_counter() - started


def wait_accepted(got: Receiver, count: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(got.accepted()) >= count:
            return True
        time.sleep(0.05)
    return False


def run(count: int, crash: bool, workdir: Path) -> dict[str, Any]:
    with LocalServer(str(workdir / "baseline.db"), env=ENV) as base:
        baseline_s = ingest(base.url, count)
    ledger = str(workdir / "ledger.db")
    answers: list[int | str] = [500 if i % 20 == 7 else 200 for i in range(count * 2)]
    with receiver(answers=answers) as got:
        server = LocalServer(ledger, env=ENV)
        server.start()
        try:
            _, made = call(server.url, "POST", "/webhooks", {"url": got.url})
            got.secret = made["secret"]
            started = time.perf_counter()
            with_hook_s = ingest(server.url, count)
            crashed, half_s = False, 0.0
            if crash:
                wait_accepted(got, count // 2, 120)
                half_s = time.perf_counter() - started
                assert server.proc is not None
                server.proc.kill()
                server.proc.wait(timeout=30)
                server.stop()
                crashed = True
                server = LocalServer(ledger, env=ENV)
                server.start()
            complete = wait_accepted(got, count, 300)
            delivered_s = time.perf_counter() - started
        finally:
            server.stop()
        accepted = got.accepted()
        expected = {event_id("demo", f"f{i}") for i in range(count)}
        unverified = sum(1 for r in got.seen if not r.verified)
        retried = sum(1 for r in got.seen if r.answer == 500)
    return {"count": count, "crashed": crashed, "complete": complete,
            "baseline_ingest_s": round(baseline_s, 2),
            "ingest_with_webhook_s": round(with_hook_s, 2),
            "ingest_ratio": round(with_hook_s / baseline_s, 2),
            "half_accepted_after_s": round(half_s, 2),
            "all_accepted_after_s": round(delivered_s, 2),
            "lost": len(expected - set(accepted)), "unexpected": len(set(accepted) - expected),
            "duplicates": sum(n - 1 for n in accepted.values() if n > 1),
            "answered_500_then_retried": retried, "requests": len(got.seen),
            "unverified": unverified}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--no-crash", action="store_true", help="no kill -9 midway")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        result = run(args.count, not args.no_crash, Path(workdir))
    print(json.dumps(result, indent=2))
    return 0 if result["complete"] and result["lost"] == 0 and not result["unverified"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
