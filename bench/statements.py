"""Statement files in-process: parse + import throughput of a 50,000-entry camt.053 and MT940
against the JSON batch path carrying the same transactions, in the same run.

Each figure is entries per second (median and range of `--runs`, each import on a fresh SQLite
store), and the peak memory of one more pass under tracemalloc (timed runs go without it: it
slows Python down). The JSON baseline posts the very transactions the statement becomes, in
batches of 500 (the API's largest), through the synchronous JSON use case.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from bench.spread import ratios, spread
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import Settings
from chalicelib.domain.statements.mapping import prepare, read_statements
from chalicelib.usecases.ingest_sync import post_transactions
from chalicelib.usecases.statements import post_statement
from simulator import statements
from simulator.bank import build_cast

BANK = "bench"
DAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 3, tzinfo=UTC)
ACCOUNTS = 50  # statements in the file, one account each
JSON_BATCH = 500


def runtime(path: Path, max_body: int) -> Runtime:
    store = SqliteStore(str(path))
    return bootstrap(Settings(sqlite_path=store.path, max_body_bytes=max_body), store)


def peak_mib(fn: Callable[[], object]) -> float:
    """The peak traced allocation of one call, in MiB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def rate(entries: int, fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return entries / (time.perf_counter() - began)


def json_bodies(raw: bytes) -> list[bytes]:
    """The statement's transactions as JSON batch bodies (what a converter would send)."""
    txs = [b.transaction.content() for b in prepare(read_statements(raw), NOW)]
    return [json.dumps({"transactions": txs[i:i + JSON_BATCH]}).encode()
            for i in range(0, len(txs), JSON_BATCH)]


def post_json(rt: Runtime, bodies: list[bytes]) -> None:
    for body in bodies:
        status, answer = post_transactions(rt, BANK, "application/json", body, NOW, "bench")
        assert status == 200 and not answer["summary"]["rejected"], answer["summary"]


def import_file(rt: Runtime, raw: bytes, content_type: str, entries: int) -> None:
    answer = post_statement(rt, BANK, content_type, None, None, raw, NOW)
    assert answer.status == 200 and answer.body["summary"]["created"] == entries


def main(argv: list[str] | None = None) -> None:
    """Print the figures (the issue note and docs/statements.md quote them)."""
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--entries", type=int, default=50_000, help="entries per file")
    parser.add_argument("--runs", type=int, default=3, help="repeats (default 3)")
    args = parser.parse_args(argv)
    per = args.entries // ACCOUNTS
    specs = statements.make_specs(build_cast(7, ACCOUNTS, ("EUR", "USD", "GBP")), 7, ACCOUNTS,
                                  per, DAY)
    entries = per * ACCOUNTS
    files = {"camt.053": (statements.write("camt053", specs), "application/xml"),
             "mt940": (statements.write("mt940", specs), "text/plain")}
    bodies = json_bodies(files["mt940"][0])
    json_bytes = sum(len(b) for b in bodies)
    print(f"{entries:,} entries on {ACCOUNTS} accounts; camt.053 "
          f"{len(files['camt.053'][0]) / 2**20:.1f} MiB, MT940 "
          f"{len(files['mt940'][0]) / 2**20:.1f} MiB, the JSON batches {json_bytes / 2**20:.1f} "
          f"MiB; {args.runs} runs, each import on a fresh SQLite store")
    with tempfile.TemporaryDirectory() as tmp:
        big = 2 ** 30
        fresh = iter(range(10 ** 6))

        def store() -> Runtime:
            return runtime(Path(tmp) / f"{next(fresh)}.db", big)

        def send_json() -> None:
            post_json(store(), bodies)

        baseline = [rate(entries, send_json) for _ in range(args.runs)]
        print(f"  JSON batches of {JSON_BATCH} (parse + import): "
              f"{spread(baseline).show(unit=' entries/s')}, peak {peak_mib(send_json):.0f} MiB")
        for name, (raw, content_type) in files.items():
            def parse(raw: bytes = raw) -> None:
                prepare(read_statements(raw), NOW)

            def whole(raw: bytes = raw, content_type: str = content_type) -> None:
                import_file(store(), raw, content_type, entries)

            parsed = [rate(entries, parse) for _ in range(args.runs)]
            imported = [rate(entries, whole) for _ in range(args.runs)]
            print(f"  {name}: parse + map + balance check "
                  f"{spread(parsed).show(unit=' entries/s')}, peak {peak_mib(parse):.0f} MiB")
            print(f"  {name}: parse + import {spread(imported).show(unit=' entries/s')}, peak "
                  f"{peak_mib(whole):.0f} MiB; against JSON batches "
                  f"{ratios(imported, baseline).show('.2f', 'x')}")

if __name__ == "__main__":
    main()
