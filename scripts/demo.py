"""`make demo`: a fresh local API on a temporary SQLite file, a simulated bank's traffic
(fraud scenario, batched, verified, spread over the last three days so the dashboard's charts
have a history), the resulting analytics as tables and what they mean; then everything stops.
`make dashboard` (`--serve`) keeps the server up, with a slow simulator still sending live
traffic, and prints the dashboard's address, until Ctrl-C."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from rich.table import Table

from chalicelib.domain.rules import RuleConfig
from simulator.console import analytics_tables, make_console, titled_table
from simulator.faults import FAULTS
from simulator.options import DEV_KEY, Options

PROJECT_DIR = Path(__file__).resolve().parent.parent
COUNT = 20000  # backdated over HISTORY_H hours: ~280 an hour, fewer at night
# Ending now (nothing is stamped in the future). One sender, so each account's transactions
# arrive in time order: the rules remember an account's past relative to the newest
# transaction seen, and a request hours ahead of another would age the other's out.
HISTORY_H = 72
ASYNC_COUNT = 1000  # then live, through the queue: 8 senders over a few busy accounts
ASYNC_ACCOUNTS = 6
# `--serve`'s live traffic, in transactions a second: about the history's own daytime rate, so
# the current hour's bar stands among the others instead of dwarfing them.
LIVE_RATE = 0.1
START_TIMEOUT_S = 120.0  # chalice local imports slowly on a busy machine
# the server's "Serving on http://host:port" line: searched, not split, because a warning on the
# merged stderr may land in the middle of it (seen in CI: the URL read as "variables.")
SERVING = re.compile(r"Serving on (http://[\w.\-]+:\d+)")
SIMULATOR_TIMEOUT_S = 90.0


def free_port() -> int:
    """A port nothing listens on right now (for chalice local, which cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """The local API in a child process on a fresh SQLite file: `serve_local` (Nagle off, any
    free port) or real `chalice local`. A context manager: it is always stopped. With `log`,
    serve_local keeps its access log and every line of output is passed to `log`."""

    def __init__(self, sqlite_path: str, kind: str = "serve_local",
                 env: dict[str, str] | None = None, stage: str = "dev",
                 log: Callable[[str], None] | None = None) -> None:
        self.env = {**os.environ, **(env or {}), "SQLITE_PATH": sqlite_path,
                    "PYTHONUNBUFFERED": "1"}  # so the "Serving on" line arrives at once
        self.log = log
        if kind == "serve_local":
            self.command = [sys.executable, "-m", "scripts.serve_local", "--port", "0",
                            *([] if log else ["--quiet"]), "--stage", stage]
        else:
            chalice = str(Path(sys.executable).parent / "chalice")
            self.command = [chalice, "local", "--port", str(free_port()), "--no-autoreload",
                            "--stage", stage]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start it, learn its URL from its "Serving on" line, wait for GET /health."""
        proc = subprocess.Popen(self.command, cwd=PROJECT_DIR, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.proc = proc
        atexit.register(self.stop)  # even if the caller forgets, or dies of an exception
        found = threading.Event()

        def read() -> None:  # drains the pipe for the server's whole life: it never blocks
            assert proc.stdout is not None
            for line in proc.stdout:
                if self.log is not None:
                    self.log(line)
                served = SERVING.search(line)
                if served and not found.is_set():
                    self.url = served.group(1)
                    found.set()
                elif len(self.output) < 200:
                    self.output.append(line)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local server did not start:\n" + "".join(self.output))
        wait_for_health(self.url, max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[str] | None, grace: float = 5.0) -> None:
    """SIGTERM a child still running, then SIGKILL if it lingers past `grace` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


def wait_for_health(url: str, timeout: float = START_TIMEOUT_S) -> None:
    """Poll GET /health until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def get_json(url: str, path: str) -> Any:
    request = urllib.request.Request(f"{url}{path}", headers={"x-api-key": DEV_KEY})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def flagged_table(body: dict[str, Any]) -> Table:
    """The newest flagged transactions, as the dashboard lists them (no type: the account's
    history has it); one flag a line, and a long account number folds rather than being cut
    short, so that 80 columns show every character."""
    table = titled_table("newest flagged transactions")
    table.add_column("id", no_wrap=True)
    table.add_column("account", overflow="fold")
    table.add_column("amount", justify="right", no_wrap=True)
    table.add_column("flags", no_wrap=True)
    for tx in body.get("flags", {}).get("recent", [])[:8]:
        table.add_row(tx["id"], tx["account"], f"{tx['amount']} {tx['currency']}",
                      "\n".join(tx["flags"]))
    return table


def post_json(url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"x-api-key": DEV_KEY,
                                                             "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def alerts_table(url: str) -> Table:
    """The alert queue after the traffic: the newest alert confirmed by the demo's analyst (its
    history says who and why), the others open as a bank's analyst would find them."""
    newest = get_json(url, "/alerts?limit=5")["alerts"]
    if newest:
        post_json(url, f"/alerts/{newest[0]['transaction_id']}",
                  {"status": "confirmed", "note": "demo: the customer confirmed the fraud"})
    counts = get_json(url, "/analytics")["alerts"]
    table = titled_table(f"alert queue (GET /alerts): {counts['open']} open, one confirmed")
    for name in ("transaction", "account", "amount", "rules", "status"):
        table.add_column(name, overflow="fold")
    for alert in get_json(url, "/alerts?limit=5&status=confirmed")["alerts"][:1] + \
            get_json(url, "/alerts?limit=4&status=open")["alerts"]:
        tx = alert["transaction"]
        table.add_row(alert["transaction_id"], alert["account"],
                      f"{tx['amount']} {tx['currency']}", "\n".join(alert["rules"]),
                      alert["status"])
    return table


def python_command() -> str:
    """How a person runs this project's Python: `.venv/bin/python` from the project folder."""
    try:
        return str(Path(sys.executable).relative_to(PROJECT_DIR))
    except ValueError:
        return sys.executable


def read_report(path: Path) -> dict[str, Any]:
    """A simulator run's `--output` report, or {} if it wrote none (it failed early)."""
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ... 11th, 12th, 13th, ... 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def within(seconds: int) -> str:
    """3600 -> "an hour", 600 -> "10 minutes", 90 -> "90 seconds"."""
    if seconds == 3600:
        return "an hour"
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


def velocity(body: dict[str, Any]) -> int:
    """Transactions flagged `velocity` so far."""
    return int(body.get("flags", {}).get("by_rule", {}).get("velocity", 0))


def explanation(reports: list[dict[str, Any]], before_async: dict[str, Any],
                after: dict[str, Any]) -> Table:
    """What the figures above mean: which are injected on purpose, and why velocity leads (a
    list whose items wrap under their own first word, not under the dash)."""
    def total(key: str) -> int:
        return sum(int(r.get(key, 0)) for r in reports)

    sent = sum(int(r.get("fraud_patterns", {}).get("sent", 0)) for r in reports)
    caught = sum(int(r.get("fraud_patterns", {}).get("flagged", 0)) for r in reports)
    flagged = int(after.get("flags", {}).get("count", 0))
    by_queue = velocity(after) - velocity(before_async)
    rules = RuleConfig()  # the dev stage's thresholds, unless FLAG_* variables say otherwise
    notes = [
        f"duplicates ({total('duplicates'):,}) and rejected ({total('rejected'):,}) are "
        f"injected on purpose: the simulator resends about {Options.duplicate_rate:.0%} of "
        "transactions unchanged (the API answers `duplicate` and stores each once) and breaks "
        f"about {Options.invalid_rate:.0%} in one of {len(FAULTS)} ways (no amount, a decimal "
        "too many, a timestamp two hours ahead, ...), which the API must reject. "
        f"`unexpected {total('unexpected'):,}` counts answers other than the one each item "
        "deserved.",
        f"velocity is on {velocity(after):,} of the {flagged:,} flagged transactions: it "
        f"trips from an account's {ordinal(rules.velocity_count + 1)} transaction within "
        f"{within(rules.velocity_window_s)}. The history spreads its transactions over "
        f"{HISTORY_H} hours, but the asynchronous run sends {ASYNC_COUNT:,} transactions to "
        f"just {ASYNC_ACCOUNTS} accounts within a minute, so nearly every one of them trips "
        f"it: {by_queue:,} of the velocity flags come from that run.",
        f"the other rules fire on the fraud patterns the simulator injects, each built to "
        f"trip one rule ({caught:,} of {sent:,} patterns flagged as intended).",
    ]
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for note in notes:
        grid.add_row("-", note)
    return grid


def dashboard_line(url: str | None) -> str:
    """The dashboard's address while its server is up (`url`); once it has stopped, how to
    get one that stays up."""
    if url is None:
        return ("The demo's server has stopped. To see the dashboard, run `make dashboard`: "
                "the same demo, then the server stays up with live traffic and prints the "
                "address to open.")
    return f"[bold]dashboard[/] {url}/dashboard  (API key: {DEV_KEY})"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops `make dashboard` as Ctrl-C does


def serve_until_interrupted(url: str, console: Any) -> None:
    """Keep the server up with a trickle of live traffic until Ctrl-C (or SIGTERM)."""
    trickle = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--url", url, "--api-key", DEV_KEY, "--rate",
         str(LIVE_RATE), "--duration", "86400", "--scenario", "fraud", "--no-progress"],
        cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, _interrupt)
    console.print(dashboard_line(url))
    console.print(f"serving, with the simulator sending a transaction every {1 / LIVE_RATE:g} s;"
                  " Ctrl-C stops both")
    try:
        while trickle.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        trickle.terminate()
        try:
            trickle.wait(timeout=5)
        except subprocess.TimeoutExpired:
            trickle.kill()


def simulate(url: str, workdir: str, name: str, console: Any, options: list[str]) -> int:
    """One simulator run against `url`, its report kept in `workdir`; its exit status."""
    command = [sys.executable, "-m", "simulator", "--url", url, "--api-key", DEV_KEY, *options,
               "--output", str(Path(workdir) / f"{name}.json")]
    console.print(f"[bold]{name}[/] {python_command()} " + " ".join(command[1:]),
                  highlight=False)
    return subprocess.run(command, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL,
                          timeout=SIMULATOR_TIMEOUT_S, check=False).returncode


# The demo's traffic: three days of a bank's history, then a live burst through the queue.
HISTORY_RUN = ["--count", str(COUNT), "--batch-size", "100", "--concurrency", "1",
               "--scenario", "fraud", "--seed", "2026", "--history", str(HISTORY_H), "--verify"]
ASYNC_RUN = ["--count", str(ASYNC_COUNT), "--batch-size", "50", "--concurrency", "8",
             "--accounts", str(ASYNC_ACCOUNTS), "--scenario", "fraud", "--seed", "2027",
             "--verify", "--async"]


def send_demo_traffic(url: str, console: Any, workdir: str) -> int:
    """The demo's data (the history, then the burst through the queue); 0 when as expected."""
    status = simulate(url, workdir, "simulator", console, HISTORY_RUN)
    return simulate(url, workdir, "simulator-async", console, ASYNC_RUN) or status


# (simulator --format, seed, extra options): the camt.053 repeats the camt.052's entries (same
# seed), so its import answers them `duplicate`; the last file does not balance: a 422.
STATEMENT_RUNS = (("mt940", 3001, ()), ("camt052", 3002, ()), ("camt053", 3002, ()),
                  ("camt054", 3003, ()), ("camt053", 3004, ("--unbalanced",)))


def import_statements(url: str, console: Any) -> int:
    """One statement file of each kind through POST /statements, and its account's analytics;
    0 when every answer was the expected one."""
    table = Table(title="statement files: POST /statements (the simulator's Faker bank)")
    for name in ("file", "answer", "created", "duplicate", "first account", "its count",
                 "its net"):
        table.add_column(name)
    worst = 0
    for fmt, seed, extra in STATEMENT_RUNS:
        command = [sys.executable, "-m", "simulator", "--url", url, "--api-key", DEV_KEY,
                   "--format", fmt, "--count", "40", "--statements", "2", "--seed", str(seed),
                   *extra]
        run = subprocess.run(command, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, text=True,
                             capture_output=True, timeout=SIMULATOR_TIMEOUT_S, check=False)
        worst = worst or run.returncode
        answer = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
        summary = answer.get("summary") or {}
        accounts = answer.get("accounts") or []
        count, net = "-", "-"
        if accounts:
            acct = get_json(url, f"/accounts/{accounts[0]}")
            count = str(acct["count"])
            net = ", ".join(f"{t['net']} {c}" for c, t in acct["totals"].items())
        table.add_row(" ".join([fmt, *extra]), str(answer.get("status", run.returncode)),
                      str(summary.get("created", "-")), str(summary.get("duplicate", "-")),
                      accounts[0] if accounts else "-", count, net)
    console.print(table)
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run the demo; the exit status is the simulator's (0: everything as expected)."""
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__)
    parser.add_argument("--serve", action="store_true",
                        help="keep the server up (with live traffic) until Ctrl-C")
    args = parser.parse_args(argv)
    began = time.monotonic()
    console = make_console()
    workdir = tempfile.mkdtemp(prefix="txn-demo-")
    server = LocalServer(str(Path(workdir) / "ledger.db"))
    try:
        server.start()
        url = server.url
        console.print(f"[bold]local API[/] {url} (SQLite in {workdir}); demo key {DEV_KEY}")
        status = simulate(url, workdir, "simulator", console, HISTORY_RUN)
        before_async = get_json(url, "/analytics")
        # the asynchronous path on the same server: its embedded queue, its consumer threads
        status = simulate(url, workdir, "simulator-async", console, ASYNC_RUN) or status
        status = import_statements(url, console) or status
        body = get_json(url, "/analytics")
        for table in analytics_tables(body):
            console.print(table)
        console.print(flagged_table(body))
        console.print(alerts_table(url))
        reports = [read_report(Path(workdir) / f"{name}.json")
                   for name in ("simulator", "simulator-async")]
        console.print("[bold]What the figures mean[/]")
        console.print(explanation(reports, before_async, body), highlight=False)
        console.print(f"demo finished in {time.monotonic() - began:.1f} s, simulator exit "
                      f"status {status}")
        if args.serve:
            serve_until_interrupted(url, console)
        else:
            server.stop()
            console.print(dashboard_line(None), highlight=False)
        return status
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
