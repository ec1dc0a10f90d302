"""`make demo`: a fresh local API on a temporary SQLite file, a simulated bank's traffic
(fraud scenario, batched, verified), the resulting analytics as tables; then everything stops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.table import Table

from simulator.console import analytics_tables, make_console
from simulator.options import DEV_KEY

PROJECT_DIR = Path(__file__).resolve().parent.parent
COUNT = 5000
START_TIMEOUT_S = 30.0
SIMULATOR_TIMEOUT_S = 90.0


def start_server(sqlite_path: str) -> tuple[subprocess.Popen[str], str]:
    """scripts.serve_local on a free port (it prints the port it got); returns it and its URL."""
    env = {**os.environ, "SQLITE_PATH": sqlite_path, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "scripts.serve_local", "--port", "0",
                             "--quiet"], cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found: list[str] = []

    def read() -> None:  # a thread, so a silent server cannot block us past the deadline
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Serving on ") and not found:
                found.append(line.split()[-1])
            elif not found:
                sys.stderr.write(line)
        # keep draining so the server never blocks on a full pipe

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        stop_server(proc)
        raise RuntimeError("the local server did not start")
    return proc, found[0]


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


def stop_server(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


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


def main() -> int:
    """Run the demo; the exit status is the simulator's (0: everything as expected)."""
    began = time.monotonic()
    console = make_console()
    workdir = tempfile.mkdtemp(prefix="txn-demo-")
    proc: subprocess.Popen[str] | None = None
    try:
        proc, url = start_server(str(Path(workdir) / "ledger.db"))
        wait_for_health(url)
        console.print(f"[bold]local API[/] {url} (SQLite in {workdir}); demo key {DEV_KEY}")
        command = [sys.executable, "-m", "simulator", "--url", url, "--api-key", DEV_KEY,
                   "--count", str(COUNT), "--batch-size", "100", "--concurrency", "4",
                   "--scenario", "fraud", "--seed", "2026", "--verify"]
        console.print("[bold]simulator[/] python -m simulator " + " ".join(command[3:]),
                      highlight=False)
        status = subprocess.run(command, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL,
                                timeout=SIMULATOR_TIMEOUT_S, check=False).returncode
        body = get_json(url, "/analytics")
        for table in analytics_tables(body):
            console.print(table)
        console.print(flagged_table(body))
        console.print(f"demo finished in {time.monotonic() - began:.1f} s, simulator exit "
                      f"status {status}")
        return status
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
