"""The prod stage's IAM policy allows every AWS call the code makes, and nothing on "*".

The calls are those the storage contract suite (and the other tests that drive AWS through
moto: keys, the Lambda event, the S3 archive, the queues) made with AWS_CALLS_LOG set, so every
client hooked by tests.support.aws_calls.record_aws_calls reports the IAM permissions it used:
collected from this session when it runs them all (`make test`: this module runs last and waits
for them, tests.support.session_calls), else by running them in a child pytest. Test resources
are renamed to the prod stage's before matching: the test table becomes TABLE_NAME of the prod
stage, any test bucket the archive bucket the policy names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from tests.support import session_calls
from tests.support.aws_calls import LOG_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / ".chalice" / "policy-prod.json"  # the API function's role
CONSUMER_POLICY = ROOT / ".chalice" / "policy-prod-consumer.json"  # the queue consumer's role
DISPATCHER_POLICY = ROOT / ".chalice" / "policy-prod-dispatcher.json"  # the outbox's dispatcher
WEBHOOKS_POLICY = ROOT / ".chalice" / "policy-prod-webhooks.json"  # the webhook delivery Lambda
UPLOADS_POLICY = ROOT / ".chalice" / "policy-prod-uploads.json"  # the statement upload import's
UPLOAD_BUCKET = "txn-stream-prod-uploads-123456789012"  # the template's name, in moto's account
LAMBDA = None  # every function's role together: what the code's calls are checked against
# What only the operator's commands do (reconcile scans and repairs; the Lambda never does:
# tests/integration/adapters/dynamo/test_dynamo_store.py drives every route and checks).
# They are granted to the operator by infra/operator-policy.json, not to the Lambda.
OPERATOR_POLICY = ROOT / "infra" / "operator-policy.json"
OPERATOR_ONLY = {"dynamodb:BatchWriteItem", "dynamodb:DeleteItem"}  # unmap-client (scripts.keys)
# A rules replay reads its window by a parallel Scan (no index serves it: one would cost a write
# per transaction), on the request path and in its job on the consumer: the Lambda's one Scan,
# granted on the table alone (statement RulesReplayScan), never on an index.
REPLAY_SCAN = "dynamodb:Scan"
# The one bulk write a Lambda makes: the outbox's dispatcher marks the events it handed over,
# 25 a BatchWriteItem call (dynamo_alert_store.mark_dispatched); no other role may.
DISPATCHER_ONLY = {"dynamodb:BatchWriteItem"}
# The DynamoDB Local fixture deletes its table with the recorded client (tests/support).
TEARDOWN_ONLY = {"dynamodb:DeleteTable"}
# The dead-letter queue is the operator's (scripts.redrive receives, deletes, sends back), but
# for the consumer's one call there: SendMessage, when it gives a message up (its own move).
OPERATOR_RESOURCES = ("-dlq.fifo",)
CONSUMER_ON_DEAD_LETTERS = {"sqs:SendMessage"}
# Used by the Lambda runtime with the role, not by our boto3 calls: writing the function's log
# stream, and the X-Ray daemon sending the segments the SDK hands it over UDP
# (tests/integration/adapters/test_xray.py).
RUNTIME_ONLY = {"logs:CreateLogStream", "logs:PutLogEvents",
                "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# X-Ray's two write actions have no resource type (Service Authorization Reference): "*" is the
# only resource they can be granted on. Nothing else may be granted on "*".
STAR_ONLY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
OPTIONAL = {"s3:PutObject"}  # the archive is off unless ARCHIVE_BUCKET is set


def statements(policy: Path | None = LAMBDA) -> list[dict[str, Any]]:
    if policy is None:
        return [s for p in (POLICY, CONSUMER_POLICY, UPLOADS_POLICY, DISPATCHER_POLICY,
                            WEBHOOKS_POLICY) for s in statements(p)]
    body: dict[str, Any] = json.loads(policy.read_text())
    return list(body["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def prod_table() -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return str(config["stages"]["prod"]["environment_variables"]["TABLE_NAME"])


def archive_bucket() -> str:
    for statement in statements():
        for resource in as_list(statement["Resource"]):
            found = re.fullmatch(r"arn:aws:s3:::([^/*]+)/\*", resource)
            if found:
                return found.group(1)
    raise AssertionError("the policy names no archive bucket")


def allowed(action: str, resource: str, policy: Path | None = LAMBDA) -> bool:
    return any(s["Effect"] == "Allow" and action in as_list(s["Action"])
               and any(fnmatchcase(resource, r) for r in as_list(s["Resource"]))
               for s in statements(policy))


def to_prod(resource: str) -> str:
    resource = re.sub(r"(:table/)[^/]+", rf"\g<1>{prod_table()}", resource)
    if re.match(r"^arn:aws:s3:::[^/]*uploads", resource):  # a test's upload bucket
        return re.sub(r"^arn:aws:s3:::[^/]+", f"arn:aws:s3:::{UPLOAD_BUCKET}", resource)
    return re.sub(r"^arn:aws:s3:::[^/]+", f"arn:aws:s3:::{archive_bucket()}", resource)


def operator_only(action: str, resource: str) -> bool:
    return action in OPERATOR_ONLY or (resource.endswith(OPERATOR_RESOURCES)
                                       and action not in CONSUMER_ON_DEAD_LETTERS)


def child_run_calls(log: Path) -> list[dict[str, str]]:
    """The calls of the AWS-backed tests, run in a child pytest (this session does not run
    them all: a subset of files, -k or -m)."""
    files = [f for f in session_calls.AWS_TESTS if (ROOT / f).exists()]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "-k", session_calls.SELECT, *files],
        cwd=ROOT, env={**os.environ, LOG_ENV: str(log)}, capture_output=True, text=True,
        timeout=900)
    assert run.returncode == 0, run.stdout[-3000:]
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def used(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> set[tuple[str, str]]:
    """(action, resource) pairs the code needed while the AWS-backed tests ran."""
    if session_calls.collects(request.session):
        rows = session_calls.wait_for_calls(request.session)
    else:
        rows = child_run_calls(tmp_path_factory.mktemp("calls") / "calls.jsonl")
    pairs = {(r["action"], to_prod(r["resource"])) for r in rows
             if r["action"] not in TEARDOWN_ONLY}
    assert any(a.startswith("dynamodb:") for a, _ in pairs)
    return pairs


def denied(used: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The calls no role allows (the operator's own calls checked against its policy)."""
    return sorted(pair for pair in used
                  if not allowed(*pair, OPERATOR_POLICY if operator_only(*pair) else LAMBDA))


@pytest.mark.parametrize("policy", [POLICY, CONSUMER_POLICY, UPLOADS_POLICY, DISPATCHER_POLICY,
                                    WEBHOOKS_POLICY, OPERATOR_POLICY],
                         ids=["api", "consumer", "uploads", "dispatcher", "webhooks", "operator"])
def test_policy_grants_nothing_on_star_and_no_wildcard_action(policy: Path) -> None:
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        if "*" in as_list(statement["Resource"]):
            assert as_list(statement["Resource"]) == ["*"], statement
            assert set(as_list(statement["Action"])) <= STAR_ONLY, statement
        assert all("*" not in action for action in as_list(statement["Action"])), statement
        assert "NotAction" not in statement and "NotResource" not in statement


def test_policy_names_the_table_and_its_indexes_and_the_archive_bucket() -> None:
    resources = {r for s in statements() for r in as_list(s["Resource"])}
    table = f"arn:aws:dynamodb:*:*:table/{prod_table()}"
    assert table in resources
    assert f"{table}/index/flagged" in resources  # by_account went: history is in items
    assert not any(r.endswith("/index/by_account") for r in resources)
    assert f"arn:aws:s3:::{archive_bucket()}/*" in resources


def test_queue_actions_are_on_the_ingest_queue_only_and_match_the_template() -> None:
    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    name = resources["IngestQueue"]["Properties"]["QueueName"]
    dead = resources["IngestDeadLetterQueue"]["Properties"]["QueueName"]
    from app import INGEST_QUEUE

    assert name == INGEST_QUEUE
    failures = resources["UploadFailureQueue"]["Properties"]["QueueName"]
    sqs = [s for s in statements() if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    # besides the ingest queue, only the upload import's own failed-event queue (its async
    # invocations' dead letters, sent by Lambda with that function's role) and the webhook
    # delivery queue (tested below)
    # delivery queue (tested below); and the ingest dead letters, where the consumer sends what
    # it gives up (and nothing else: tested below)
    webhooks = resources["WebhookQueue"]["Properties"]["QueueName"]
    assert {r for s in sqs for r in as_list(s["Resource"])} == {
        f"arn:aws:sqs:*:*:{name}", f"arn:aws:sqs:*:*:{failures}", f"arn:aws:sqs:*:*:{webhooks}",
        f"arn:aws:sqs:*:*:{dead}"}
    assert {r for s in statements(UPLOADS_POLICY) if s["Sid"] == "FailedEvents"
            for r in as_list(s["Resource"])} == {f"arn:aws:sqs:*:*:{failures}"}
    assert not allowed("sqs:SendMessage", f"arn:aws:sqs:us-east-1:1:{failures}", POLICY)
    send = {a for s in sqs if s["Sid"] == "IngestQueueSend" for a in as_list(s["Action"])}
    assert send == {"sqs:SendMessage"}
    assert not allowed("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:123456789012:{dead}")
    assert allowed("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:123456789012:{dead}",
                   OPERATOR_POLICY)
    on_dead = {a for s in sqs if f"arn:aws:sqs:*:*:{dead}" in as_list(s["Resource"])
               for a in as_list(s["Action"])}
    assert on_dead == CONSUMER_ON_DEAD_LETTERS
    assert allowed("sqs:SendMessage", f"arn:aws:sqs:us-east-1:123456789012:{dead}",
                   CONSUMER_POLICY)
    assert not allowed("sqs:SendMessage", f"arn:aws:sqs:us-east-1:123456789012:{dead}", POLICY)


def test_the_api_role_only_sends_and_the_consumer_role_receives_and_sends_only_dead_letters(
        ) -> None:
    api = {a for s in statements(POLICY) for a in as_list(s["Action"])}
    consumer = {a for s in statements(CONSUMER_POLICY) for a in as_list(s["Action"])}
    assert {a for a in api if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert {a for a in consumer if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes", "sqs:SendMessage"}
    # it sends only what it gives up, to the dead letters: never to the queue (a resend would
    # land behind later messages of its group)
    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    queue = resources["IngestQueue"]["Properties"]["QueueName"]
    assert not allowed("sqs:SendMessage", f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                       CONSUMER_POLICY)
    assert "s3:PutObject" not in consumer  # the archive is written by the API, after its 2xx
    uploads = {a for s in statements(UPLOADS_POLICY) for a in as_list(s["Action"])}
    assert {a for a in uploads if a.startswith(("s3:", "sqs:"))} == {"s3:GetObject",
                                                                     "sqs:SendMessage"}
    functions = prod_stage()["lambda_functions"]
    assert functions["consume_ingest"] == {"iam_policy_file": CONSUMER_POLICY.name}
    assert functions["import_statement_upload"]["iam_policy_file"] == UPLOADS_POLICY.name
    assert functions["dispatch_webhooks"]["iam_policy_file"] == DISPATCHER_POLICY.name
    assert functions["deliver_webhooks"]["iam_policy_file"] == WEBHOOKS_POLICY.name
    assert set(functions) == {"consume_ingest", "import_statement_upload", "dispatch_webhooks",
                              "deliver_webhooks"}
    from app import app

    assert "consume_ingest" in {h.name for h in app.event_sources}
    assert any(f.name == "import_statement_upload" for f in app.pure_lambda_functions)


def test_webhook_roles_send_receive_and_put_events_only_on_their_own_queue_and_bus() -> None:
    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    name = resources["WebhookQueue"]["Properties"]["QueueName"]
    queue = f"arn:aws:sqs:us-east-1:123456789012:{name}"
    bus = resources["EventBus"]["Properties"]["Name"]
    from app import WEBHOOK_QUEUE

    assert queue.endswith(WEBHOOK_QUEUE)
    roles = {p: {a for s in statements(p) for a in as_list(s["Action"])}
             for p in (POLICY, DISPATCHER_POLICY, WEBHOOKS_POLICY, CONSUMER_POLICY)}
    assert allowed("sqs:SendMessage", queue, POLICY)  # the ping
    assert allowed("sqs:SendMessage", queue, DISPATCHER_POLICY)
    assert not allowed("sqs:SendMessage", queue, WEBHOOKS_POLICY)
    assert {a for a in roles[WEBHOOKS_POLICY] if a.startswith("sqs:")} == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes"}
    assert allowed("sqs:ReceiveMessage", queue, WEBHOOKS_POLICY)
    assert not allowed("sqs:ReceiveMessage", queue, CONSUMER_POLICY)
    # events:PutEvents on the template's bus only, and by the dispatcher alone
    put = [s for s in statements() if "events:PutEvents" in as_list(s["Action"])]
    assert [as_list(s["Resource"]) for s in put] == [[f"arn:aws:events:*:*:event-bus/{bus}"]]
    assert allowed("events:PutEvents", f"arn:aws:events:us-east-1:123456789012:event-bus/{bus}",
                   DISPATCHER_POLICY)
    assert not allowed("events:PutEvents",
                       "arn:aws:events:us-east-1:123456789012:event-bus/default")
    assert all("events:PutEvents" not in roles[p] for p in (POLICY, WEBHOOKS_POLICY,
                                                            CONSUMER_POLICY))


def test_upload_role_reads_only_the_upload_prefix_and_the_api_only_signs_puts_there() -> None:
    assert allowed("s3:GetObject", f"arn:aws:s3:::{UPLOAD_BUCKET}/uploads/bank=a/x.stmt",
                   UPLOADS_POLICY)
    assert not allowed("s3:GetObject", f"arn:aws:s3:::{archive_bucket()}/raw/x.json",
                       UPLOADS_POLICY)
    assert allowed("s3:PutObject", f"arn:aws:s3:::{UPLOAD_BUCKET}/uploads/bank=a/x.stmt", POLICY)
    assert not allowed("s3:GetObject", f"arn:aws:s3:::{UPLOAD_BUCKET}/uploads/x", POLICY)


def test_policy_allows_every_call_the_code_made(used: set[tuple[str, str]]) -> None:
    assert denied(used) == []


def test_a_call_no_role_allows_would_be_reported(used: set[tuple[str, str]]) -> None:
    # the negative control: calls the code does not make, among those it does
    table = f"arn:aws:dynamodb:us-east-1:123456789012:table/{prod_table()}"
    forged = {("dynamodb:DeleteTable", table), ("dynamodb:Query", f"{table}/index/nope"),
              ("s3:DeleteObject", f"arn:aws:s3:::{archive_bucket()}/raw/x.json"),
              ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:elsewhere.fifo")}
    assert denied(used | forged) == sorted(forged)


def test_policy_allows_nothing_the_code_does_not_use(used: set[tuple[str, str]]) -> None:
    granted = {a for s in statements() for a in as_list(s["Action"])}
    lambda_used = {a for a, r in used if not operator_only(a, r)}
    dispatcher_used = {a for a, _ in used} & DISPATCHER_ONLY
    unused = granted - lambda_used - RUNTIME_ONLY - OPTIONAL - dispatcher_used
    assert unused == set()
    others = {a for p in (POLICY, CONSUMER_POLICY, UPLOADS_POLICY, WEBHOOKS_POLICY)
              for s in statements(p) for a in as_list(s["Action"])}
    assert not others & OPERATOR_ONLY  # no Lambda but the dispatcher bulk-writes or deletes
    dispatcher = {a for s in statements(DISPATCHER_POLICY) for a in as_list(s["Action"])}
    assert dispatcher & OPERATOR_ONLY == DISPATCHER_ONLY == dispatcher_used


def test_the_lambda_scans_the_table_for_a_replay_only(used: set[tuple[str, str]]) -> None:
    table = f"arn:aws:dynamodb:*:*:table/{prod_table()}"
    for policy in (POLICY, CONSUMER_POLICY):  # the replay's route, and its job
        scans = [s for s in statements(policy) if REPLAY_SCAN in as_list(s["Action"])]
        assert [(s["Sid"], as_list(s["Action"]), as_list(s["Resource"])) for s in scans] == [
            ("RulesReplayScan", [REPLAY_SCAN], [table])]
    assert REPLAY_SCAN not in {a for s in statements(UPLOADS_POLICY) for a in as_list(s["Action"])}
    assert any(a == REPLAY_SCAN and r.endswith(f":table/{prod_table()}") for a, r in used)


def test_operator_policy_covers_what_reconcile_and_keys_use(used: set[tuple[str, str]]) -> None:
    operator = {a for s in statements(OPERATOR_POLICY) for a in as_list(s["Action"])}
    # reading an uploaded statement file is the upload import's alone, never an operator's;
    # so is publishing on the event bus the dispatcher's
    uploads = f"arn:aws:s3:::{UPLOAD_BUCKET}/"
    assert OPERATOR_ONLY <= {a for a, r in used if not r.startswith(uploads)
                             and not a.startswith("events:")} <= (
        operator | RUNTIME_ONLY | OPTIONAL)


def prod_stage() -> dict[str, Any]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage: dict[str, Any] = config["stages"]["prod"]
    return stage


def test_xray_is_granted_exactly_when_the_prod_function_traces() -> None:
    granted = {a for s in statements() for a in as_list(s["Action"]) if a.startswith("xray:")}
    tracing = prod_stage().get("xray") is True
    assert tracing and prod_stage()["environment_variables"]["TRACING"] == "on"
    assert granted == (STAR_ONLY if tracing else set())


def test_role_cannot_create_log_groups_so_logs_land_only_in_the_stacks_group() -> None:
    # The stack creates /aws/lambda/<function> with a retention (chalice's log_retention_in_days);
    # a role allowed to create it would silently recreate a deleted group that keeps logs forever.
    granted = {a for s in statements() for a in as_list(s["Action"])}
    assert "logs:CreateLogGroup" not in granted
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= granted
    assert isinstance(prod_stage()["log_retention_in_days"], int)
