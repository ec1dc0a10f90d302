"""`make demo`: a fresh local API on a temporary SQLite file, a simulated bank's traffic
(fraud scenario, batched, verified, spread over the last three days so the dashboard's charts
have a history), the resulting analytics as tables and the dashboard's address; then everything
stops. `make dashboard` (`--serve`) keeps the server up, with a slow simulator still sending
live traffic, until Ctrl-C."""

from __future__ import annotations

import argparse
import atexit
import json
import os
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

from simulator.console import analytics_tables, make_console
from simulator.options import DEV_KEY

PROJECT_DIR = Path(__file__).resolve().parent.parent
COUNT = 20000  # backdated over HISTORY_H hours: ~280 an hour, fewer at night
# Ending now (nothing is stamped in the future). One sender, so each account's transactions
# arrive in time order: the rules remember an account's past relative to the newest
# transaction seen, and a request hours ahead of another would age the other's out.
HISTORY_H = 72
ASYNC_COUNT = 1000  # then live, through the queue: 8 senders over 6 busy accounts
# `--serve`'s live traffic, in transactions a second: about the history's own daytime rate, so
# the current hour's bar stands among the others instead of dwarfing them.
LIVE_RATE = 0.1
START_TIMEOUT_S = 120.0  # chalice local imports slowly on a busy machine
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
                if line.startswith("Serving on ") and not found.is_set():
                    self.url = line.split()[-1].rstrip("/")
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
    """The newest flagged transactions."""
    table = Table(title="newest flagged transactions", header_style="bold")
    for name in ("id", "account", "amount", "type", "flags"):
        table.add_column(name, justify="right" if name == "amount" else "left")
    for tx in body.get("flags", {}).get("recent", [])[:8]:
        table.add_row(tx["id"], tx["account"], f"{tx['amount']} {tx['currency']}", tx["type"],
                      ", ".join(tx["flags"]))
    return table


def dashboard_line(url: str) -> str:
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


def send_demo_traffic(url: str, console: Any) -> int:
    """The demo's data: three days of a bank's history, then a live burst through the queue.
    Returns the simulator's exit status (0: everything as expected)."""
    command = [sys.executable, "-m", "simulator", "--url", url, "--api-key", DEV_KEY,
               "--count", str(COUNT), "--batch-size", "100", "--concurrency", "1",
               "--scenario", "fraud", "--seed", "2026", "--history", str(HISTORY_H),
               "--verify"]
    console.print("[bold]simulator[/] python -m simulator " + " ".join(command[3:]),
                  highlight=False)
    status = subprocess.run(command, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL,
                            timeout=SIMULATOR_TIMEOUT_S, check=False).returncode
    # the asynchronous path on the same server: its embedded queue, its consumer threads
    queued = [sys.executable, "-m", "simulator", "--url", url, "--api-key", DEV_KEY,
              "--count", str(ASYNC_COUNT), "--batch-size", "50", "--concurrency", "8",
              "--accounts", "6", "--scenario", "fraud", "--seed", "2027", "--verify",
              "--async"]
    console.print("[bold]simulator, asynchronous[/] python -m simulator "
                  + " ".join(queued[3:]), highlight=False)
    return status or subprocess.run(queued, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL,
                                    timeout=SIMULATOR_TIMEOUT_S, check=False).returncode


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
        status = send_demo_traffic(url, console)
        body = get_json(url, "/analytics")
        for table in analytics_tables(body):
            console.print(table)
        console.print(flagged_table(body))
        console.print(f"demo finished in {time.monotonic() - began:.1f} s, simulator exit "
                      f"status {status}")
        if args.serve:
            serve_until_interrupted(url, console)
        else:
            console.print(dashboard_line(url))
            console.print("(this server stops now; `make dashboard` keeps one up)")
        return status
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
