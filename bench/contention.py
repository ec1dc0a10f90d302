"""Contention on DynamoDB Local: 8 senders over 6 busy accounts through the prod stage, each run
verified; prints the server's 503 answers, tx/s and latency quantiles with their spread.

Each mode sends the same simulator traffic with its own extra flags and server environment;
the synchronous path is the baseline. Every run gets a freshly provisioned table, a new key and
a new server (`scripts.serve_local --stage prod`), all in one DynamoDB Local started here.
`async` sends through the queue (`--async`: the server's embedded SQLite queue and its consumer
threads, receipts in the table; tx/s counts until every item is done), at the default
QUEUE_GROUPS (the sequenced consumer); `async-per-account` at QUEUE_GROUPS=0 (a group per
account through the ledger's transactions, the asynchronous path before it). `--store sqlite` runs
the same modes on the dev stage's SQLite store instead, no emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table

from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.usecases.api_keys import create_key
from scripts.demo import PROJECT_DIR, LocalServer
from scripts.dynamodb_local import DynamoDBLocal, install_dir
from scripts.provision import provision
from simulator.console import make_console
from simulator.options import DEV_KEY

PROD_TABLE = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())[
    "stages"]["prod"]["environment_variables"]["TABLE_NAME"]
# the contention load: many senders, few busy accounts (a settlement account, payroll)
TRAFFIC = ("--count", "3000", "--batch-size", "50", "--concurrency", "8", "--accounts", "6",
           "--scenario", "fraud")
ACCESS_LOG = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
SIMULATOR_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Mode:
    """One way to send the same traffic: extra simulator flags (e.g. the asynchronous path's
    `--async`) and extra environment for the server."""

    name: str
    simulator_flags: tuple[str, ...] = ()
    server_env: tuple[tuple[str, str], ...] = ()


MODES: dict[str, Mode] = {
    "sync": Mode("sync"),
    # today's asynchronous path before the sequenced consumer: a group per account, applied
    # through the ledger's transactions (the baseline the sequenced consumer must not fall under)
    "async-per-account": Mode("async-per-account", ("--async",), (("QUEUE_GROUPS", "0"),)),
    # the default: QUEUE_GROUPS=4, the sequenced consumer writing without transactions
    "async": Mode("async", ("--async",)),  # the server's default consumer threads
}


@dataclass
class RunFigures:
    """One verified run: what the simulator reported and what the server answered."""

    mode: str
    seed: int
    tx: int
    tx_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int  # answered requests as the simulator counts them (its retries not included)
    errors: int  # transactions never delivered after the simulator's retries
    unexpected: int
    verify_ok: bool
    exit_status: int
    statuses: dict[str, int] = field(default_factory=dict)  # the server's answers, retries too
    done_p50_ms: float | None = None  # --async: from a POST until every item of it was done
    done_p95_ms: float | None = None

    @property
    def unavailable(self) -> int:
        """POSTs the server answered 503 (too many concurrent writers), each retry counted."""
        return self.statuses.get("POST 503", 0)


class AccessLog:
    """Counts the server's answers by method and status from its access log lines."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        found = ACCESS_LOG.search(line)
        if found:
            with self.lock:
                self.counts[f"{found['method']} {found['status']}"] += 1


Stage = Callable[[Mode, Path], AbstractContextManager[tuple[str, str, "AccessLog"]]]


@contextmanager
def sqlite_stage(mode: Mode, workdir: Path) -> Iterator[tuple[str, str, AccessLog]]:
    """The dev stage on a fresh SQLite file (its embedded queue beside it): (url, key, log)."""
    log = AccessLog()
    with LocalServer(str(workdir / f"{mode.name}-{len(list(workdir.iterdir()))}.db"),
                     env=dict(mode.server_env), log=log) as server:
        yield server.url, DEV_KEY, log


@contextmanager
def prod_stage(emulator: DynamoDBLocal, mode: Mode, workdir: Path) -> Iterator[
        tuple[str, str, AccessLog]]:
    """A fresh prod table and key, and the prod stage served on it: (url, key, access log)."""
    os.environ.update(emulator.env)  # DynamoStore's client finds the emulator as the app does
    store = DynamoStore(PROD_TABLE)
    if PROD_TABLE in store.client.list_tables()["TableNames"]:
        store.client.delete_table(TableName=PROD_TABLE)  # immediate on DynamoDB Local
    provision(store.client, PROD_TABLE)
    key, _ = create_key(store, "bench-bank")
    log = AccessLog()
    env = {**emulator.env, "CURSOR_SECRET": "bench-cursor-secret-" + "x" * 32,  # off dev
           **dict(mode.server_env)}
    with LocalServer(str(workdir / "unused.db"), env=env, stage="prod", log=log) as server:
        yield server.url, key, log


def run_simulator(url: str, key: str, traffic: Sequence[str], flags: Sequence[str],
                  seed: int, report: Path) -> dict[str, Any]:
    """`python -m simulator` with --verify and --output; its JSON report."""
    command = [sys.executable, "-m", "simulator", "--url", url, "--api-key", key, "--seed",
               str(seed), "--verify", "--no-progress", "--output", str(report), *traffic,
               *flags]
    done = subprocess.run(command, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=SIMULATOR_TIMEOUT_S,
                          check=False)
    if not report.exists():
        raise RuntimeError(f"the simulator wrote no report:\n{done.stdout}\n{done.stderr}")
    figures: dict[str, Any] = json.loads(report.read_text())
    return figures


def run_once(stage: Stage, mode: Mode, traffic: Sequence[str], seed: int,
             workdir: Path) -> RunFigures:
    """One run of `mode` on a fresh table (or file) and server."""
    with stage(mode, workdir) as (url, key, log):
        r = run_simulator(url, key, traffic, mode.simulator_flags, seed,
                          workdir / f"{mode.name}-{seed}.json")
    latency = r["latency_ms"]
    return RunFigures(mode.name, seed, r["sent"], r["tx_per_s"], latency["p50"], latency["p95"],
                      latency["p99"], r["requests"], r["errors"], r["unexpected"],
                      bool(r["verify"] and r["verify"]["ok"]), r["exit_status"],
                      dict(sorted(log.counts.items())),
                      *((r["done_latency_ms"]["p50"], r["done_latency_ms"]["p95"])
                        if r.get("done_latency_ms") else (None, None)))


def spread(values: Sequence[float]) -> str:
    """median (min-max) of the runs."""
    return (f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"
            if values else "-")


def summary(runs: Mapping[str, list[RunFigures]], store: str = "DynamoDB Local") -> Table:
    """One column per mode, one row per figure: the median and its range over the runs."""
    table = Table(title=f"contention on {store}: median (min-max) over runs",
                  header_style="bold")
    table.add_column("figure")
    for name in runs:
        table.add_column(name, justify="right")
    rows: list[tuple[str, Callable[[RunFigures], float]]] = [
        ("503 answers (retries counted)", lambda f: f.unavailable),
        ("tx/s", lambda f: f.tx_per_s), ("p50 ms", lambda f: f.p50_ms),
        ("p95 ms", lambda f: f.p95_ms), ("p99 ms", lambda f: f.p99_ms),
        ("tx undelivered (or failed) after retries", lambda f: f.errors)]
    for label, pick in rows:
        table.add_row(label, *(spread([pick(f) for f in figures]) for figures in runs.values()))
    done: list[tuple[str, Callable[[RunFigures], float | None]]] = [
        ("done after, p50 ms", lambda f: f.done_p50_ms),
        ("done after, p95 ms", lambda f: f.done_p95_ms)]
    for label, pick_done in done:
        table.add_row(label, *(spread([v for f in figures if (v := pick_done(f)) is not None])
                               for figures in runs.values()))
    table.add_row("verify OK", *(f"{sum(f.verify_ok for f in figures)}/{len(figures)}"
                                 for figures in runs.values()))
    return table


def main(argv: list[str] | None = None) -> int:
    """Run each mode `--runs` times; exit 1 if any run failed to verify."""
    parser = argparse.ArgumentParser(prog="python -m bench.contention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", action="append", choices=sorted(MODES),
                        help="mode to run (repeatable; default: all)")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--count", type=int, default=3000, help="transactions per run")
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument("--store", choices=("dynamodb-local", "sqlite"),
                        default="dynamodb-local",
                        help="the prod stage on DynamoDB Local (default), or the dev stage on "
                             "SQLite")
    args = parser.parse_args(argv)
    traffic = list(TRAFFIC)
    traffic[traffic.index("--count") + 1] = str(args.count)
    console = make_console()
    runs: dict[str, list[RunFigures]] = {}
    with tempfile.TemporaryDirectory(prefix="txn-contention-") as tmp, ExitStack() as stack:
        stage: Stage = sqlite_stage
        if args.store == "sqlite":
            console.print(f"dev stage on SQLite; simulator {' '.join(traffic)} --verify",
                          highlight=False)
        else:
            emu = stack.enter_context(DynamoDBLocal())
            stage = partial(prod_stage, emu)
            console.print(f"DynamoDB Local {install_dir().name} on {emu.endpoint}, ready in "
                          f"{emu.startup_s:.1f} s; simulator {' '.join(traffic)} --verify",
                          highlight=False)
        # the modes take turns (run 1 of each, then run 2 ...): a machine whose load drifts
        # weighs on every mode alike
        for i in range(args.runs):
            for name in args.mode or list(MODES):
                figures = run_once(stage, MODES[name], traffic, 100 + i, Path(tmp))
                runs.setdefault(name, []).append(figures)
                console.print(f"{name} run {i + 1}: {figures.unavailable} x 503, "
                              f"{figures.tx_per_s:,.0f} tx/s, p95 {figures.p95_ms:,.0f} ms, "
                              f"verify {'OK' if figures.verify_ok else 'DRIFT'}, "
                              f"answers {figures.statuses}", highlight=False)
    console.print(summary(runs, "SQLite" if args.store == "sqlite" else "DynamoDB Local"))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {name: [asdict(f) for f in figures] for name, figures in runs.items()},
            indent=2) + "\n")
    return 0 if all(f.verify_ok for figures in runs.values() for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
