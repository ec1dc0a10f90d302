"""`python -m bench.bearer_cold_start`: what bearer auth costs a cold process, against an API key.

Each run is a fresh interpreter (a Lambda cold start): import the app, then the first and a
second `GET /analytics` through Chalice's test client, with the dev stage's demo key or with a
bearer token whose JWKS a local server on a free port serves. Medians of several runs; the
token's first request includes PyJWT's and cryptography's import and the JWKS fetch.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.idp import LocalIdp

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9
CLIENT = "bench-client"
PROBE = """
import json, sys, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from chalice.test import Client
headers = json.loads(sys.argv[1])
with Client(app.app) as client:
    t2 = time.perf_counter()
    first = client.http.get("/analytics", headers=headers)
    t3 = time.perf_counter()
    second = client.http.get("/analytics", headers=headers)
    t4 = time.perf_counter()
assert first.status_code == second.status_code == 200, first.body
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t3 - t2) * 1000,
                  "second_ms": (t4 - t3) * 1000,
                  "jwt_loaded": "jwt" in sys.modules}))
"""


def run(headers: dict[str, str], env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(headers)], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"import_ms"')]
    result: dict[str, float] = json.loads(lines[-1])
    return result


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(s[name] for s in samples)
            for name in ("import_ms", "first_ms", "second_ms")}


def main() -> int:
    with LocalIdp() as idp, tempfile.TemporaryDirectory() as tmp:
        env = {**idp.env(CLIENT), "SQLITE_PATH": str(Path(tmp) / "ledger.db"),
               "STORE": "sqlite"}
        key = {"x-api-key": "demo-key-change-me"}
        # a person's token: its bank comes from the token alone (a system's needs the store)
        person = {"authorization": "Bearer " + idp.person_token(CLIENT, ["bank-demo"])}
        run(key, env)  # create the SQLite file once, outside the measurement
        keyed: list[dict[str, float]] = []
        bearer: list[dict[str, float]] = []
        for _ in range(RUNS):  # interleaved, so a busy spell of the machine hits both alike
            keyed.append(run(key, env))
            bearer.append(run(person, env))
    k, b = medians(keyed), medians(bearer)
    print(f"cold start, median of {RUNS} fresh processes each (ms)")
    print(f"{'':34}{'x-api-key':>12}{'bearer':>12}{'bearer/key':>12}")
    for name, label in (("import_ms", "import app"), ("first_ms", "first GET /analytics"),
                        ("second_ms", "second GET /analytics")):
        print(f"{label:34}{k[name]:12.1f}{b[name]:12.1f}{b[name] / k[name]:11.2f}x")
    cold_key = k["import_ms"] + k["first_ms"]
    cold_bearer = b["import_ms"] + b["first_ms"]
    print(f"{'import + first request':34}{cold_key:12.1f}{cold_bearer:12.1f}"
          f"{cold_bearer / cold_key:11.2f}x")
    print(f"JWKS GETs by the local IdP: {idp.hits} for {RUNS} processes that saw a token")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
