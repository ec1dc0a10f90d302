"""Judge mutmut's mutants with the tests mutmut does not run: those needing DynamoDB Local (or
moto), e.g. the sequenced consumer's (`consume_run`), which only a SequencedLedger reaches.

    make mutate-emulated MUTANTS='chalicelib.usecases.ingest_async.x_consume_run*'
    nice -n 10 .venv/bin/python scripts/mutants_emulated.py \
        'chalicelib.usecases.ingest_async.x_consume_run*' ... [--tests PATH ...] [--out FILE]

It runs in mutmut's copy (`mutants/`, made by `mutmut run`: run that first, by name, so the
copy holds the current source), in one pytest session, so DynamoDB Local starts once:
1. every selected test once with no mutant, recording which mutated functions each reaches
   (mutmut's own trampolines, in their "stats" mode); a failure here stops everything;
2. for each mutant, a forked child (the emulator and the session's fixtures are the parent's)
   sets `MUTANT_UNDER_TEST` (the trampolines read it at each call) and runs the tests that reached
   the mutant's function, fastest first, stopping at the first failure: `killed` (with the
   test), `survived`, `no tests`, or `timeout` (the child killed after 3x the tests' clean time,
   at least 60 s).
The verdicts go to `--out` (default mutants/emulated-verdicts.txt, `name: verdict [test]`) and
stdout; mutmut's own verdicts (`mutmut results`) are left as they are.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
MUTANTS = PROJECT / "mutants"
# The DynamoDB Local modules that reach the sequenced consumer (docs/mutation/usecases.md).
DEFAULT_TESTS = [
    "tests/integration/usecases/test_consumer_receipts.py",
    "tests/integration/usecases/test_sequenced_exactly_once.py",
    "tests/integration/usecases/test_consumer_dead_letters.py",
    "tests/integration/usecases/test_alerts_ingest_paths.py",
    "tests/integration/usecases/test_ingest_async_probes.py",
]


def mutant_names(patterns: list[str]) -> list[str]:
    """The mutants in mutmut's copy whose names match one of the patterns (fnmatch)."""
    names: list[str] = []
    for meta in sorted((MUTANTS / "chalicelib").rglob("*.py.meta")):
        keys = json.loads(meta.read_text())["exit_code_by_key"]
        names += [k for k in keys if any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    return sorted(set(names), key=lambda n: (n.rsplit("__mutmut_", 1)[0],
                                             int(n.rsplit("__mutmut_", 1)[1])))


def function_of(mutant: str) -> str:
    """`pkg.mod.x_f__mutmut_3` -> `pkg.mod.x_f`: the key mutmut's stats record a hit under."""
    return mutant.rsplit("__mutmut_", 1)[0]


def spread(names: list[str], k: int) -> list[str]:
    """Every k-th name first, then the next k-th...: a run cut short has judged an even sample."""
    return [n for start in range(k) for n in names[start::k]]


class Judge:
    """A pytest plugin: runs the selected tests once clean (recording what they reach), then
    each mutant in a forked child."""

    def __init__(self, names: list[str], out: Path) -> None:
        self.names, self.out = names, out
        self.hits: dict[str, set[str]] = defaultdict(set)
        self.durations: dict[str, float] = {}
        self.current = ""

    def pytest_configure(self, config: Any) -> None:
        import scripts.dynamodb_local as ddb  # the copy has no tools/: use the project's
        ddb.PACKAGE_DIR = PROJECT / ddb.PACKAGE_DIR.relative_to(MUTANTS)

    def pytest_runtestloop(self, session: Any) -> bool:
        from _pytest.runner import runtestprotocol
        from mutmut.mutation import trampoline

        items = list(session.items)
        if not items:
            raise SystemExit("no test selected")

        def record(name: str, caller: Any = None) -> None:
            self.hits[self.current].add(name)

        vars(trampoline)["record_trampoline_hit"] = record  # what its stats mode calls
        os.environ["MUTANT_UNDER_TEST"] = "stats"
        for i, item in enumerate(items):
            self.current = item.nodeid
            started = time.monotonic()
            reports = runtestprotocol(item, nextitem=items[(i + 1) % len(items)], log=False)
            self.durations[item.nodeid] = time.monotonic() - started
            bad = [r for r in reports if r.failed or r.skipped]
            if bad:
                session._setupstate.teardown_exact(None)
                raise SystemExit(f"not clean without a mutant: {item.nodeid}: "
                                 f"{bad[0].outcome}\n{bad[0].longreprtext[-3000:]}")
            print(f"clean {self.durations[item.nodeid]:6.1f} s  {item.nodeid}", flush=True)

        verdicts: list[str] = []
        for name in self.names:
            function = function_of(name)
            mine = sorted((it for it in items if function in self.hits[it.nodeid]),
                          key=lambda it: self.durations[it.nodeid])
            if not mine:
                verdict = "no tests"
            else:
                budget = max(60.0, 3 * sum(self.durations[it.nodeid] for it in mine))
                verdict = self._judge(name, mine, items[0], budget, runtestprotocol)
            verdicts.append(f"{name}: {verdict}")
            print(verdicts[-1], flush=True)
            self.out.write_text("\n".join(verdicts) + "\n")
        session._setupstate.teardown_exact(None)
        return True

    def _judge(self, name: str, mine: list[Any], first: Any, budget: float,
               runtestprotocol: Any) -> str:
        ends = Path(f"/tmp/mutants-emulated-{os.getpid()}.verdict")
        ends.unlink(missing_ok=True)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: this mutant, the tests that reach it, the first failure ends
            code = 0
            try:
                os.environ["MUTANT_UNDER_TEST"] = name
                for i, item in enumerate(mine):
                    nextitem = mine[i + 1] if i + 1 < len(mine) else first
                    reports = runtestprotocol(item, nextitem=nextitem, log=False)
                    if any(r.failed for r in reports):
                        ends.write_text(f"killed by {item.nodeid}")
                        code = 1
                        break
                else:
                    ends.write_text("survived")
            finally:
                sys.stdout.flush()
                os._exit(code)
        while time.monotonic() - started < budget:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return f"timeout (killed after {budget:.0f} s)"
        verdict = ends.read_text() if ends.exists() else "child died without a verdict"
        ends.unlink(missing_ok=True)
        return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="+", help="mutant names or fnmatch patterns")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS,
                        help="test modules or node ids, relative to the project")
    parser.add_argument("--marker", default="emulator", help="pytest -m expression")
    parser.add_argument("--out", type=Path, default=MUTANTS / "emulated-verdicts.txt")
    parser.add_argument("--spread", type=int, default=1, metavar="K",
                        help="judge every K-th mutant first, then the next K-th...: a run cut"
                             " short is an even sample")
    args = parser.parse_args()
    if not (MUTANTS / "chalicelib").is_dir():
        raise SystemExit("no mutants/: run `mutmut run` (by name) first")
    names = mutant_names(args.patterns)
    names = spread(names, args.spread)
    if not names:
        raise SystemExit(f"no mutant matches {args.patterns}")
    print(f"{len(names)} mutants", flush=True)
    # mutmut copies tests/ on each run; copy them again so new tests judge too
    shutil.copytree(PROJECT / "tests", MUTANTS / "tests", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path[:] = [str(MUTANTS)] + [p for p in sys.path if Path(p or ".").resolve()
                                    != Path(__file__).resolve().parent]
    os.chdir(MUTANTS)
    import pytest

    return int(pytest.main([*args.tests, "-m", args.marker, "-p", "no:randomly", "-q",
                            "-o", "addopts=-p no:cacheprovider -p no:schemathesis -p no:faker"
                            " -p no:anyio --strict-markers"],
                           plugins=[Judge(names, args.out.resolve())]))


if __name__ == "__main__":
    sys.exit(main())
