"""The AWS calls the AWS-backed tests make, collected while the session runs them (for the policy
test, tests/e2e/test_policy_prod.py), instead of running them a second time in a child pytest.

tests/conftest.py sets AWS_CALLS_LOG (tests.support.aws_calls) around each selected test, to a
file per process in the session's base temporary directory (shared by the xdist workers), and
appends each selected test's outcome to another once the test is over. The policy test runs
last (conftest orders it so) and waits until every selected test of the session has reported
before it reads the calls. A session that does not run all of them (a subset of files, `-k`,
`-m`) leaves the policy test to its child pytest, as before.
"""

from __future__ import annotations

import json
import os
import time
from functools import cache
from pathlib import Path

import pytest
from _pytest.mark import KeywordMatcher  # pytest's own -k matcher: the child's -k, to the letter
from _pytest.mark.expression import Expression

from tests.support.aws_calls import LOG_ENV

# The tests whose clients record their calls (tests.support.aws_calls.record_aws_calls), and the
# -k expression that picks those that drive AWS through moto: the same calls on moto; DynamoDB
# Local's runs (the dynamodb-local store) add table setup. Not `-m "not emulator"`: moto is an
# emulator too (pyproject's markers).
AWS_TESTS = ["tests/contract/test_store_contract.py", "tests/contract/test_alerts_contract.py",
             "tests/integration/usecases/test_sequenced_exactly_once.py",
             "tests/integration/scripts/test_keys.py",
             "tests/integration/api/test_lambda_event.py",
             "tests/integration/adapters/test_s3_archive.py",
             "tests/contract/test_queue_contract.py",
             "tests/integration/usecases/test_consumer_sqs.py",
             "tests/contract/test_receipts_contract.py",
             "tests/contract/test_rule_sets_contract.py",
             "tests/integration/usecases/test_statement_uploads.py",
             "tests/contract/test_webhooks_contract.py",
             # (the webhooks' SQS and EventBridge calls)
             "tests/integration/usecases/test_webhooks_sqs.py"]
# The sequenced consumer's PartiQL INSERTs run on DynamoDB Local only (moto's PartiQL takes no
# parameter in an INSERT): its alert test makes every kind of its calls.
SELECT = ("((dynamodb or lambda_event or archive or sqs or statement_uploads) and not local)"
          " or a_flagged_transaction_opens_one_alert")
# The modules that read what the session collected: run after every other module.
CONSUMERS = ("tests/e2e/test_policy_prod.py",)
CALLS = "aws-calls-{}.jsonl"
DONE = "aws-done-{}.jsonl"
WAIT_S = 600.0  # the longest another worker's last modules could take on a loaded machine
SELECTED = pytest.StashKey[bool]()
INCOMPLETE = pytest.StashKey[bool]()  # some selected test was deselected or not collected


def module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


@cache
def _select() -> Expression:
    return Expression.compile(SELECT)


def selected(item: pytest.Item) -> bool:
    """Whether the policy's child pytest would run this test (its files, its -k)."""
    found = item.stash.get(SELECTED, None)
    if found is None:
        found = module(item) in AWS_TESTS and _select().evaluate(KeywordMatcher.from_item(item))
        item.stash[SELECTED] = found
    return found


def shared_dir(config: pytest.Config) -> Path:
    """The session's base temporary directory, the same for the controller and its workers
    (a worker's is `<the controller's>/popen-gwN`)."""
    base: Path = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


def worker(config: pytest.Config) -> str:
    found: str = getattr(config, "workerinput", {}).get("workerid", "main")
    return found


def note_collection(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Called on the collected items (before -k and -m deselect any): the session is
    incomplete unless it collected every AWS test file."""
    files = {module(item) for item in items}
    config.stash[INCOMPLETE] = not {f for f in AWS_TESTS if (config.rootpath / f).exists()} <= files


def note_deselected(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(selected(item) for item in items):
        config.stash[INCOMPLETE] = True


def collects(session: pytest.Session) -> bool:
    """Whether this session runs every test the policy's child pytest would."""
    return not session.config.stash.get(INCOMPLETE, True)


def expected(session: pytest.Session) -> set[str]:
    return {item.nodeid for item in session.items if selected(item)}


def log_path(config: pytest.Config) -> Path:
    return shared_dir(config) / CALLS.format(worker(config))


def record_done(config: pytest.Config, nodeid: str, passed: bool) -> None:
    with open(shared_dir(config) / DONE.format(worker(config)), "a", encoding="utf-8") as out:
        out.write(json.dumps({"nodeid": nodeid, "passed": passed}) + "\n")


def _done(folder: Path) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for path in folder.glob(DONE.format("*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            found[row["nodeid"]] = found.get(row["nodeid"], True) and row["passed"]
    return found


def wait_for_calls(session: pytest.Session) -> list[dict[str, str]]:
    """Every call the session's selected tests recorded, once they have all run (in any worker);
    fails at once if one of them failed."""
    folder, wanted = shared_dir(session.config), expected(session)
    deadline = time.monotonic() + WAIT_S
    while True:
        done = _done(folder)
        failed = sorted(n for n in wanted if done.get(n) is False)
        assert not failed, f"AWS-backed tests failed, their calls are incomplete: {failed}"
        missing = wanted - set(done)
        if not missing:
            break
        # a plain run (no xdist) ran them all before this module: nothing to wait for
        assert hasattr(session.config, "workerinput"), f"not run before the policy: {missing}"
        assert time.monotonic() < deadline, f"still not run after {WAIT_S} s: {sorted(missing)}"
        time.sleep(0.2)
    rows = []
    for path in sorted(folder.glob(CALLS.format("*"))):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def environ_for(item: pytest.Item) -> dict[str, str]:
    """What to add to os.environ while `item` runs (setup to teardown): the log, for a selected
    test, unless a parent process set one for the whole run (the policy's child pytest)."""
    if not selected(item) or LOG_ENV in os.environ:
        return {}
    return {LOG_ENV: str(log_path(item.config))}


def run_last(items: list[pytest.Item]) -> None:
    """The consumers after every other module (a stable sort: order kept otherwise)."""
    items.sort(key=lambda item: module(item) in CONSUMERS)

