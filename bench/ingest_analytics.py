"""In-process benchmark: ingest throughput (single vs batches) and analytics latency vs a scan."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.analytics import Window, bank_analytics
from chalicelib.config import Settings
from chalicelib.reconcile import recompute
from chalicelib.runtime import Runtime
from chalicelib.service import post_transactions
from chalicelib.storage.sqlite.store import SqliteStore

BANK = "bench"
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def body(first: int, count: int) -> bytes:
    """A request body of `count` transactions numbered from `first` (one object when count=1)."""
    items = [{"id": f"b{i}", "account": f"ACC{i % 5000:05d}",
              "amount": f"{(i * 7919) % 50000 + 1}.{i % 100:02d}",
              "type": "credit" if i % 3 else "debit",
              "currency": "EUR" if i % 10 == 0 else "USD",
              "timestamp": (START + timedelta(seconds=i * 30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "merchant": "Bench Store"} for i in range(first, first + count)]
    return json.dumps(items[0] if count == 1 else {"transactions": items}).encode()


def ingest_rate(rt: Runtime, first: int, total: int, batch: int) -> float:
    """Transactions per second through the service (JSON parse, validate, flag, commit)."""
    bodies = [body(i, batch) for i in range(first, first + total, batch)]
    began = time.perf_counter()
    for raw in bodies:
        status, _ = post_transactions(rt, BANK, "application/json", raw, NOW)
        assert status in (200, 201), status
    return total / (time.perf_counter() - began)


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def durability_cost(tmp: str, total: int) -> None:
    """SQLITE_SYNCHRONOUS=FULL (the default: fsync per commit) against NORMAL, same run, fresh
    stores, single and batched: what durability on power loss costs, and how batching shares
    one fsync among a batch's transactions."""
    print("\nsynchronous FULL (default) vs NORMAL, fresh stores, same run:")
    for batch, count in ((1, total // 10), (100, total)):
        rates = {}
        for mode in ("NORMAL", "FULL"):
            store = SqliteStore(str(Path(tmp) / f"sync-{mode}-{batch}.db"), mode)
            rates[mode] = ingest_rate(Runtime(Settings(sqlite_path=store.path), store), 0, count,
                                      batch)
        full, normal = rates["FULL"], rates["NORMAL"]
        print(f"  batches of {batch:>3}: FULL {full:10,.0f} tx/s, NORMAL {normal:10,.0f} tx/s"
              f"   (FULL/NORMAL {full / normal:.2f})")


def main(argv: list[str] | None = None) -> None:
    """Print the figures; the README's Results section quotes them."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_analytics", description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="stored-transaction counts at which to time analytics")
    parser.add_argument("--ingest", type=int, default=20000, help="transactions per ingest run")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(str(Path(tmp) / "ingest.db"))
        rt = Runtime(Settings(sqlite_path=store.path), store)
        single = ingest_rate(rt, 0, args.ingest // 10, 1)
        batched = ingest_rate(rt, args.ingest // 10, args.ingest, 100)
        print(f"ingest in-process, 1 per request:    {single:10,.0f} tx/s")
        print(f"ingest in-process, batches of 100:   {batched:10,.0f} tx/s"
              f"   ({batched / single:.1f}x single)")
        durability_cost(tmp, args.ingest)
        # analytics on a store of its own, grown from empty to each size in turn
        store = SqliteStore(str(Path(tmp) / "analytics.db"))
        rt = Runtime(Settings(sqlite_path=store.path), store)
        stored = 0
        print("\nGET /analytics (service call, median of 200) beside the baseline a scanning design"
              "\npays: recompute the same answer from every stored transaction (median of 1-3)")
        print(f"{'stored':>10} {'analytics':>12} {'scan':>12} {'scan/analytics':>15}")
        latencies: list[float] = []
        for size in sizes:
            if stored < size:
                ingest_rate(rt, stored, size - stored, 500)
                stored = size
            latency = timed(lambda: bank_analytics(store, BANK, Window(), NOW), 200)
            scan = timed(lambda: recompute(store.iter_transactions(BANK)), 1 if size > 10**5 else 3)
            latencies.append(latency)
            print(f"{size:>10,} {latency * 1000:>10.3f}ms {scan * 1000:>10.1f}ms"
                  f" {scan / latency:>14,.0f}x")
        print(f"\nanalytics at {sizes[-1]:,} vs at {sizes[0]:,}: "
              f"{latencies[-1] / latencies[0]:.2f}x")


if __name__ == "__main__":
    main()
