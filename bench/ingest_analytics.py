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

from bench.spread import RUNS, ratios, spread
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import Settings
from chalicelib.usecases.analytics import Window, bank_analytics
from chalicelib.usecases.ingest_sync import post_transactions
from chalicelib.usecases.reconcile import recompute

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
        status, _ = post_transactions(rt, BANK, "application/json", raw, NOW, "bench")
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


def durability_cost(tmp: str, total: int, runs: int) -> None:
    """SQLITE_SYNCHRONOUS=FULL (the default: fsync per commit) against NORMAL, same run, fresh
    stores, single and batched: what durability on power loss costs, and how batching shares
    one fsync among a batch's transactions."""
    print(f"\nsynchronous FULL (default) vs NORMAL, fresh stores, {runs} runs, each FULL against "
          "the NORMAL of its own run:")
    for batch, count in ((1, total // 10), (100, total)):
        rates: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
        for run in range(runs):
            for mode in ("NORMAL", "FULL"):
                store = SqliteStore(str(Path(tmp) / f"sync-{mode}-{batch}-{run}.db"), mode)
                rates[mode].append(ingest_rate(bootstrap(Settings(sqlite_path=store.path), store),
                                               0, count, batch))
        full, normal = rates["FULL"], rates["NORMAL"]
        print(f"  batches of {batch:>3}: FULL {spread(full).show(unit=' tx/s')}, "
              f"NORMAL {spread(normal).show(unit=' tx/s')}, "
              f"FULL/NORMAL {ratios(full, normal).show('.2f')}")


def main(argv: list[str] | None = None) -> None:
    """Print the figures, each as the median and range of repeated runs (the README quotes
    them); every ratio is taken against a baseline measured in the same run."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_analytics", description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="stored-transaction counts at which to time analytics")
    parser.add_argument("--ingest", type=int, default=20000, help="transactions per ingest run")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"repeats (default {RUNS})")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        singles, batches = [], []
        for run in range(args.runs):  # each run on a fresh store: no run inherits a bigger file
            store = SqliteStore(str(Path(tmp) / f"ingest{run}.db"))
            rt = bootstrap(Settings(sqlite_path=store.path), store)
            singles.append(ingest_rate(rt, 0, args.ingest // 10, 1))
            batches.append(ingest_rate(rt, args.ingest // 10, args.ingest, 100))
        print(f"ingest in-process, median and min-max of {args.runs} runs, each on a new store")
        print(f"  1 per request:    {spread(singles).show(unit=' tx/s')}")
        print(f"  batches of 100:   {spread(batches).show(unit=' tx/s')}")
        print(f"  batches / single: {ratios(batches, singles).show('.1f', 'x')}"
              " (each run's batches against its own single-request baseline)")
        durability_cost(tmp, args.ingest, args.runs)
        # analytics on a store of its own, grown from empty to each size in turn
        store = SqliteStore(str(Path(tmp) / "analytics.db"))
        rt = bootstrap(Settings(sqlite_path=store.path), store)
        stored = 0
        print(f"\nGET /analytics (service call; per run the median of 40 calls) beside the "
              "baseline a scanning\ndesign pays: recompute the same answer from every stored "
              f"transaction; {args.runs} runs of each, interleaved")
        first: list[float] = []
        for size in sizes:
            if stored < size:
                ingest_rate(rt, stored, size - stored, 500)
                stored = size
            latency, scan = [], []
            for _ in range(args.runs):  # interleaved: a slow spell hits both, not one
                latency.append(timed(lambda: bank_analytics(store, BANK, Window(), NOW), 40))
                scan.append(timed(lambda: recompute(store.iter_transactions(BANK)), 1))
            first = first or latency
            ms, scan_ms = spread([x * 1000 for x in latency]), spread([x * 1000 for x in scan])
            print(f"  {size:>9,} stored: analytics {ms.show('.3f', ' ms')}"
                  f"; scan {scan_ms.show(',.1f', ' ms')}"
                  f"; scan/analytics {ratios(scan, latency).show(',.0f', 'x')}")
            if size == sizes[-1]:
                print(f"\nanalytics at {sizes[-1]:,} vs at {sizes[0]:,} stored: "
                      f"{ratios(latency, first).show('.2f', 'x')}")


if __name__ == "__main__":
    main()
