"""The packaged prod template operates the service: alarms on the metrics the app really emits,
a dashboard whose body is valid JSON, access logs, tracing, throttles, retention on every log
group, and a checkov scan that fails on any check neither fixed nor skipped with a reason."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.observability import (
    DIMENSIONS,
    NAMESPACE,
    RequestObserver,
    count_metric,
    record_outcomes,
)
from chalicelib.web.framing import STANDARD_HEADERS
from tests.e2e.test_package_prod import ROOT, packaged, template

# What the app sets on its own answers (chalicelib/web/framing.py), as gateway response headers
STANDARD_GATEWAY_HEADERS = {f"gatewayresponse.header.{name}": f"'{value}'"
                            for name, value in STANDARD_HEADERS.items()}

pytestmark = [pytest.mark.e2e]  # chalice package, checkov

__all__ = ["packaged"]  # the module fixture: `chalice package` once for this file
SCAN = ROOT / ".venv-scan" / "bin" / "checkov"


def resources(packaged: Path, kind: str | None = None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template(packaged)["Resources"]
    # a `Fn::ForEach::...` entry (AWS::LanguageExtensions: the Cognito bank groups) is a list,
    # not a resource: the resources it expands to are Cognito groups, none of them concern these
    return {k: v for k, v in found.items()
            if isinstance(v, dict) and (kind is None or v["Type"] == kind)}


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Namespace, dimension names and metric names of the EMF records the app prints for an
    accepted flagged ingest, an archive failure and a 5xx."""
    with RequestObserver("r1", "POST", "/transactions", "prod") as ingest:
        record_outcomes("prod", {"created": 1}, 1)  # as the ingest use case counts them
        count_metric("prod", "ArchiveFailures", 1)
        ingest.finish(200, {}, "acme")
    RequestObserver("r2", "GET", "/analytics", "prod").finish(503, {"Code": "X"}, "acme")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    directives = [d for r in lines if "_aws" in r for d in r["_aws"]["CloudWatchMetrics"]]
    return {"namespaces": {d["Namespace"] for d in directives},
            "dimensions": {tuple(map(tuple, d["Dimensions"])) for d in directives},
            "names": {m["Name"] for d in directives for m in d["Metrics"]},
            "stage": {r["stage"] for r in lines if "_aws" in r}}


def test_alarms_read_the_emf_metrics_exactly_as_the_app_emits_them(
        packaged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emitted = emitted_metrics(capsys)
    stage = resources(packaged)["APIHandler"]["Properties"]["Environment"]["Variables"]["STAGE"]
    assert emitted["namespaces"] == {NAMESPACE} and emitted["stage"] == {"prod"} == {stage}
    assert emitted["dimensions"] == {tuple(map(tuple, DIMENSIONS))}
    app_alarms = {k: v["Properties"] for k, v in resources(packaged, "AWS::CloudWatch::Alarm")
                  .items() if v["Properties"].get("Namespace") == NAMESPACE}
    assert {p["MetricName"] for p in app_alarms.values()} == {
        "ServerErrors", "IngestLatency", "ArchiveFailures"}
    for props in app_alarms.values():
        assert props["MetricName"] in emitted["names"]
        assert props["Dimensions"] == [{"Name": "stage", "Value": stage}]
    assert app_alarms["IngestLatencyAlarm"]["ExtendedStatistic"] == "p99"


def test_every_alarm_notifies_the_optional_topic_and_has_a_period(packaged: Path) -> None:
    alarms = resources(packaged, "AWS::CloudWatch::Alarm")
    assert {"ServerErrorsAlarm", "Api5xxAlarm", "IngestLatencyAlarm", "ArchiveFailuresAlarm",
            "FunctionErrorsAlarm", "FunctionThrottlesAlarm", "DynamoThrottlesAlarm",
            "DynamoSystemErrorsAlarm", "QueueAgeAlarm", "DeadLetterAlarm"} == set(alarms)
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == topic == props["OKActions"], name
        assert props["TreatMissingData"] == "notBreaching", name
        periods = [props.get("Period")] + [m["MetricStat"]["Period"]
                                           for m in props.get("Metrics", []) if "MetricStat" in m]
        assert all(p in (60, 300) for p in periods if p is not None), name
        assert props["AlarmDescription"], name
    assert alarms["ArchiveFailuresAlarm"]["Condition"] == "HasArchive"
    assert alarms["QueueAgeAlarm"]["Condition"] == "HasQueue"
    assert alarms["DeadLetterAlarm"]["Condition"] == "HasDeadLetterQueue"


OPERATION_OF = {"PartiQLInsert": "BatchExecuteStatement"}  # IAM action -> its metrics' call


def test_dynamodb_alarms_sum_every_operation_the_function_may_call(packaged: Path) -> None:
    actions = {a.split(":")[1] for name in ("policy-prod.json", "policy-prod-consumer.json",
                                            "policy-prod-dispatcher.json",
                                            "policy-prod-webhooks.json")
               for s in json.loads((ROOT / ".chalice" / name).read_text())["Statement"]
               for a in s["Action"] if a.startswith("dynamodb:")}
    for name in ("DynamoThrottlesAlarm", "DynamoSystemErrorsAlarm"):
        metrics = resources(packaged)[name]["Properties"]["Metrics"]
        ops = {d["Value"] for m in metrics if "MetricStat" in m
               for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "Operation"}
        # TransactWriteItems' items need Put/UpdateItem; CloudWatch counts PartiQL INSERTs
        # under the call that carries them, BatchExecuteStatement
        assert ops == {OPERATION_OF.get(a, a) for a in actions} | {"TransactWriteItems"}, name
        (total,) = [m for m in metrics if m.get("ReturnData")]
        assert total["Expression"].count("FILL(") == len(ops)


def resolve(node: Any, values: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """Fn::Sub / Fn::Join / Fn::If / Ref as CloudFormation would, with made-up values."""
    if isinstance(node, list):
        return [resolve(n, values, conditions) for n in node]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values[m.group(1)]), node["Fn::Sub"])
    if "Fn::Join" in node:
        sep, parts = node["Fn::Join"]
        return sep.join(resolve(p, values, conditions) for p in parts)
    if "Fn::If" in node:
        name, yes, no = node["Fn::If"]
        return resolve(yes if conditions[name] else no, values, conditions)
    if "Ref" in node:
        return values[node["Ref"]]
    return {k: resolve(v, values, conditions) for k, v in node.items()}


@pytest.mark.parametrize("with_queue", [False, True], ids=["no-queue", "queue"])
def test_dashboard_body_is_json_with_every_panel_the_issue_asks_for(
        packaged: Path, with_queue: bool) -> None:
    values = {"AWS::Region": "eu-west-1", "AWS::StackName": "txn-stream-prod",
              "APIHandler": "txn-stream-prod-APIHandler-AbC", "LedgerTable": "txn-stream-prod",
              "IngestLatencyP99Ms": 5000, "IngestQueueName": "ingest.fifo",
              "IngestDeadLetterQueueName": "ingest-dlq.fifo"}
    conditions = {"HasQueue": with_queue, "HasDeadLetterQueue": with_queue}
    props = resources(packaged)["Dashboard"]["Properties"]
    body = json.loads(resolve(props["DashboardBody"], values, conditions))
    text = json.dumps(body)
    for metric in ("TransactionsCreated", "Duplicates", "Conflicts", "Rejected", "Flagged",
                   "IngestLatency", "ServerErrors", "ArchiveFailures", "5XXError",
                   "ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits",
                   "ThrottledRequests", "SystemErrors"):
        assert f'"{metric}"' in text or f'\\"{metric}\\"' in text, metric
    stats = {m[-1].get("stat") for w in body["widgets"] if w["type"] == "metric"
             for m in w["properties"]["metrics"] if isinstance(m[-1], dict)}
    assert {"p50", "p90", "p99"} <= stats
    assert ("ApproximateAgeOfOldestMessage" in text) is with_queue
    assert ("ingest-dlq.fifo" in text) is with_queue
    app_metrics = [m for w in body["widgets"] if w["type"] == "metric"
                   for m in w["properties"]["metrics"] if m[0] == NAMESPACE]
    assert app_metrics and all(m[2:4] == ["stage", "prod"] for m in app_metrics)


def test_api_stage_logs_access_as_json_traces_and_throttles(packaged: Path) -> None:
    api = resources(packaged)["RestAPI"]["Properties"]
    assert api["TracingEnabled"] is True
    assert api["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    sample = re.sub(r"\$context\.[A-Za-z.]+", "1", api["AccessLogSetting"]["Format"])
    line = json.loads(sample)  # valid JSON once API Gateway fills the variables in
    assert {"requestId", "status", "resourcePath", "xrayTraceId"} <= set(line)
    assert "$context.path" not in api["AccessLogSetting"]["Format"]  # paths carry accounts
    (method,) = api["MethodSettings"]
    assert method["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert method["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}
    assert method["DataTraceEnabled"] is False  # never log bodies: money and accounts
    function = resources(packaged)["APIHandler"]["Properties"]
    assert function["Tracing"] == "Active"
    assert function["Environment"]["Variables"]["TRACING"] == "on"
    assert function["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    params = template(packaged)["Parameters"]
    assert 0 < params["ApiThrottleRate"]["Default"] <= params["ApiThrottleBurst"]["Default"]
    # a burst the function cannot serve would reach clients as Lambda throttles (API Gateway
    # turns those into 500s); within the reserved concurrency they are API Gateway's 429s
    assert params["ApiThrottleBurst"]["Default"] <= params["ReservedConcurrency"]["Default"]


def test_every_log_group_the_stack_creates_has_a_retention(packaged: Path) -> None:
    groups = resources(packaged, "AWS::Logs::LogGroup")
    assert {"ApiHandlerLogGroup", "ApiAccessLogGroup"} <= set(groups)
    for name, group in groups.items():
        retention = group["Properties"]["RetentionInDays"]
        assert retention == {"Ref": "LogRetentionDays"} or isinstance(retention, int), name
    # chalice 1.34 writes ${ApiHandler}; the function's logical id is APIHandler
    assert groups["ApiHandlerLogGroup"]["Properties"]["LogGroupName"] == {
        "Fn::Sub": "/aws/lambda/${APIHandler}"}
    names = [g["Properties"]["LogGroupName"] for g in groups.values()]
    for function in resources(packaged, "AWS::Serverless::Function"):
        # each function's own group exists before Lambda would create one without retention
        assert {"Fn::Sub": f"/aws/lambda/${{{function}}}"} in names, function


def skips(packaged: Path) -> list[tuple[str, str, str]]:
    return [(name, s["id"], s["comment"]) for name, r in resources(packaged).items()
            for s in r.get("Metadata", {}).get("checkov", {}).get("skip", [])]


def test_every_checkov_skip_names_a_check_and_gives_one_line_reason(packaged: Path) -> None:
    found = skips(packaged)
    assert found
    for name, check, comment in found:
        assert re.fullmatch(r"CKV_AWS_\d+", check), (name, check)
        assert len(comment) > 40 and "\n" not in comment, (name, check)
    # a missing access log or tracing is never skipped: they are fixed
    assert not {c for _, c, _ in found} & {"CKV_AWS_76", "CKV_AWS_73", "CKV_AWS_115",
                                            "CKV_AWS_66"}


def checkov(*paths: Path) -> dict[str, Any]:
    files = [arg for path in paths for arg in ("--file", str(path))]
    run = subprocess.run([str(SCAN), *files, "--framework", "cloudformation",
                          "--skip-download", "--output", "json", "--quiet"],
                         env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=300)
    report: dict[str, Any] = json.loads(run.stdout)
    report["returncode"] = run.returncode
    return report


@pytest.mark.skipif(not SCAN.exists(), reason="checkov's venv is made by `make scan`")
def test_scan_passes_and_fails_again_when_the_access_log_goes(
        packaged: Path, tmp_path: Path) -> None:
    # one checkov run over both templates: its start-up, not the checks, is most of its time
    shutil.copy(packaged / "sam.json", tmp_path / "clean.json")
    broken = template(packaged)
    del broken["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]
    shutil.copy(packaged / "deployment.zip", tmp_path / "deployment.zip")
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    report = checkov(tmp_path / "clean.json", tmp_path / "broken.json")
    assert report["returncode"] != 0
    failed = [(Path(c["file_path"]).name, c["check_id"])
              for c in report["results"]["failed_checks"]]
    assert failed == [("broken.json", "CKV_AWS_76")]  # the clean one fails nothing
    assert report["summary"]["skipped"] == 2 * len(skips(packaged))


def test_api_gateways_own_5xx_answers_keep_their_status_in_the_one_error_shape(
        packaged: Path) -> None:
    """A Lambda throttle, the 29 s timeout or a failed invoke is answered by API Gateway, not
    the app: the status stays its own (500, 504), the body is the error shape, and the type
    and message it renders say which (rendered here as API Gateway would)."""
    swagger = resources(packaged)["RestAPI"]["Properties"]["DefinitionBody"]
    default_5xx = swagger["x-amazon-apigateway-gateway-responses"]["DEFAULT_5XX"]
    assert "statusCode" not in default_5xx  # a status here would replace every 5xx's
    assert default_5xx["responseParameters"] == {"gatewayresponse.header.Retry-After": "'1'",
                                                 **STANDARD_GATEWAY_HEADERS}
    template = default_5xx["responseTemplates"]["application/json"]
    for kind, message in [("INTEGRATION_FAILURE", "Internal server error"),
                          ("INTEGRATION_TIMEOUT", 'Endpoint "request" timed out')]:
        rendered = template.replace("$context.error.responseType", kind).replace(
            "$context.error.messageString", json.dumps(message))  # the quoted message
        assert json.loads(rendered) == {"Code": kind, "Message": message, "Details": []}


def test_the_stage_throttles_429_in_the_one_error_shape_with_retry_after(packaged: Path) -> None:
    swagger = resources(packaged)["RestAPI"]["Properties"]["DefinitionBody"]
    assert "/transactions" in swagger["paths"]  # merged into chalice's body, not replacing it
    throttled = swagger["x-amazon-apigateway-gateway-responses"]["THROTTLED"]
    assert throttled["statusCode"] == 429
    assert throttled["responseParameters"] == {"gatewayresponse.header.Retry-After": "'1'",
                                               **STANDARD_GATEWAY_HEADERS}
    body = json.loads(throttled["responseTemplates"]["application/json"])
    assert set(body) == {"Code", "Message", "Details"} and body["Code"] == "TooManyRequestsError"


def test_api_gateways_own_4xx_answers_are_in_the_error_shape_unsniffed_and_unstored(
        packaged: Path) -> None:
    """An unknown route's 403, a body API Gateway refuses: the error shape, with the headers
    every answer of the app carries."""
    swagger = resources(packaged)["RestAPI"]["Properties"]["DefinitionBody"]
    default_4xx = swagger["x-amazon-apigateway-gateway-responses"]["DEFAULT_4XX"]
    assert "statusCode" not in default_4xx
    assert default_4xx["responseParameters"] == STANDARD_GATEWAY_HEADERS
    rendered = default_4xx["responseTemplates"]["application/json"].replace(
        "$context.error.responseType", "MISSING_AUTHENTICATION_TOKEN").replace(
        "$context.error.messageString", json.dumps("Missing Authentication Token"))
    assert json.loads(rendered) == {"Code": "MISSING_AUTHENTICATION_TOKEN",
                                    "Message": "Missing Authentication Token", "Details": []}
