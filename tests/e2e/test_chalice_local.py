"""End to end: real `chalice local` on a temporary SQLite file, the simulator with --verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.demo import PROJECT_DIR, LocalServer

pytestmark = [pytest.mark.e2e]


def simulate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "--url", url, "--no-progress",
                           "--verify", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, check=False)


def test_simulator_against_chalice_local_verifies_and_exits_zero(tmp_path: Path) -> None:
    with LocalServer(str(tmp_path / "ledger.db"), kind="chalice") as server:
        first = simulate(server.url, "--count", "800", "--batch-size", "100", "--scenario",
                         "fraud", "--seed", "11", "--output", str(tmp_path / "r1.json"))
        assert first.returncode == 0, first.stdout + first.stderr
        assert "verify: OK" in first.stdout
        # the store now holds data: the second run checks its own change, one request each
        second = simulate(server.url, "--count", "60", "--concurrency", "8", "--seed", "12",
                          "--output", str(tmp_path / "r2.json"))
        assert second.returncode == 0, second.stdout + second.stderr
    report = json.loads((tmp_path / "r1.json").read_text())
    assert report["created"] > 700 and report["rejected"] > 0
    assert report["fraud_patterns"]["flagged"] == report["fraud_patterns"]["sent"] > 0
    assert server.proc is not None and server.proc.poll() is not None  # stopped
