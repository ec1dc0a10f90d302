"""Cold-start cost of tracing: `python -m bench.cold_start [--runs N]`.

Each run is a fresh interpreter (as a cold Lambda container is) that times, with perf_counter:
importing the app, then building the prod stage's runtime and its DynamoDB client (what the
first request does), with TRACING off and on. With it on, the first request also imports the
X-Ray SDK and patches botocore. Prints the median of each and the ratio on / off, in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, os, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from chalicelib.config import load_settings
from chalicelib.adapters.xray import enable_tracing
if load_settings().tracing:
    enable_tracing()  # what get_runtime() does first when TRACING=on
t2 = time.perf_counter()
from chalicelib.bootstrap import get_runtime
get_runtime().store.client
t3 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "tracing_ms": (t2 - t1) * 1000,
                  "store_ms": (t3 - t2) * 1000, "total_ms": (t3 - t0) * 1000}))
"""


def one_run(tracing: str) -> dict[str, float]:
    env = {**os.environ, "STORE": "dynamodb", "TABLE_NAME": "txn-stream-prod", "STAGE": "prod",
           "TRACING": tracing, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           # as on Lambda: the SDK's recorder then samples locally from the trace header and
           # builds no X-Ray client of its own (outside Lambda it builds two: +~0.5 s here)
           "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "txn-stream-prod"}
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per setting")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for _ in range(args.runs):  # interleaved, so a busy spell of the machine hits both alike
        for tracing in ("off", "on"):
            runs[tracing].append(one_run(tracing))
    med = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in runs.items()}
    off, on = med["off"], med["on"]
    print(f"cold start, median of {args.runs} fresh interpreters each (Lambda's environment)")
    print(f"{'':34} {'TRACING=off':>12} {'TRACING=on':>12}")
    for key, label in (("import_ms", "import app (ms)"),
                       ("tracing_ms", "import X-Ray SDK + patch (ms)"),
                       ("store_ms", "boto3 + DynamoDB client (ms)"),
                       ("total_ms", "total to the first AWS call (ms)")):
        print(f"{label:34} {off[key]:12.1f} {on[key]:12.1f}")
    print(f"tracing on / off, total: {on['total_ms'] / off['total_ms']:.2f}x; "
          f"the SDK step alone is {on['tracing_ms'] / off['total_ms']:.0%} of the untraced total")


if __name__ == "__main__":
    main()
