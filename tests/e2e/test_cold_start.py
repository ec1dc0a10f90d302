"""Nothing at import time: importing the app touches neither disk nor network nor boto3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_app_creates_no_file_and_loads_no_boto3(tmp_path: Path) -> None:
    db = tmp_path / "never" / "ledger.db"
    probe = ("import sys, app\n"
             "assert 'boto3' not in sys.modules, 'boto3 imported at import time'\n"
             "assert 'jwt' not in sys.modules, 'PyJWT imported at import time'\n"
             "assert 'cryptography' not in sys.modules, 'cryptography imported at import'\n")
    env = {**os.environ, "SQLITE_PATH": str(db), "STORE": "sqlite"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not db.parent.exists()


def test_config_errors_surface_on_first_use_not_at_import(tmp_path: Path) -> None:
    probe = "import app\nprint('imported')\n"
    env = {**os.environ, "STORE": "cassandra"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "imported" in done.stdout


def test_tracing_on_loads_the_xray_sdk_on_first_use_not_at_import(tmp_path: Path) -> None:
    probe = ("import sys, app\n"
             "assert 'aws_xray_sdk' not in sys.modules and 'boto3' not in sys.modules\n")
    env = {**os.environ, "TRACING": "on", "STORE": "sqlite",
           "SQLITE_PATH": str(tmp_path / "ledger.db")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
