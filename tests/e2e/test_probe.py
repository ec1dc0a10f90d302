"""`make probe` against `make serve`: every class of the second probing round's findings,
replayed over HTTP, passes; and --help explains."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from scripts.demo import PROJECT_DIR, LocalServer
from simulator.options import DEV_KEY

pytestmark = [pytest.mark.e2e]
CLASSES = ["money", "odd-accounts", "prefer", "control-characters", "server-answers", "windows",
           "credentials"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    running = LocalServer(str(tmp_path_factory.mktemp("probe") / "ledger.db"))
    running.command += ["--request-deadline", "2"]
    with running:
        yield running


def test_the_probe_passes_every_class_against_the_local_server(server: LocalServer) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "scripts.probe", server.url, DEV_KEY, "--slow-seconds", "60",
         *[arg for name in CLASSES for arg in ("--only", name)]],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " 0 failed" in run.stdout
    for finding in ("1 money", "5 odd account", "5 dashboard slash", "6 prefer",
                    "7 control characters", "8 server's own answer", "8 headers",
                    "8 request deadline", "11 window", "4 two credentials", "no 5xx"):
        assert f"PASS {finding}" in run.stdout, finding


def test_the_probe_explains_itself_and_refuses_a_wrong_key(server: LocalServer) -> None:
    helped = subprocess.run([sys.executable, "-m", "scripts.probe", "--help"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=120, check=False)
    assert helped.returncode == 0 and "make probe URL=" in helped.stdout
    assert "--money-past-64-bits" in helped.stdout and "--only" in helped.stdout
    refused = subprocess.run([sys.executable, "-m", "scripts.probe", server.url, "wrong"],
                             cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
                             check=False)
    assert refused.returncode == 2 and "answered 403" in refused.stderr
