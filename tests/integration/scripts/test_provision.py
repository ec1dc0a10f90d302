"""scripts/provision.py creates the table of infra/resources.json, idempotently, on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.ports.store import ApiKeyRecord
from scripts.dynamodb_local import DynamoDBLocal
from scripts.provision import main, provision, table_properties
from tests.support import dynamodb_local as ddb_local

pytestmark = [pytest.mark.emulator]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_provision_creates_the_templates_table_and_prints_the_stage_config(
        aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--table", "ledger-x", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and "arn:aws:dynamodb:eu-west-1:" in out
    config = json.loads(out[out.index("{"):])
    assert config["environment_variables"]["TABLE_NAME"] == "ledger-x"
    assert config["environment_variables"]["STORE"] == "dynamodb"
    client = boto3.client("dynamodb", region_name="eu-west-1")
    table = client.describe_table(TableName="ledger-x")["Table"]
    props = table_properties()
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == props["KeySchema"]
    assert sorted(map(str, table["AttributeDefinitions"])) == sorted(
        map(str, props["AttributeDefinitions"]))
    assert {i["IndexName"]: i["KeySchema"] for i in table["GlobalSecondaryIndexes"]} == {
        i["IndexName"]: i["KeySchema"] for i in props["GlobalSecondaryIndexes"]}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] in ("ENABLED", "ENABLING")
    backups = client.describe_continuous_backups(TableName="ledger-x")
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_running_it_twice_is_safe_and_keeps_the_data(
        aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--table", "ledger-y"])
    store = DynamoStore("ledger-y", shards=2)
    store.put_api_key(ApiKeyRecord("h1", "b1", "k1", "2026-01-01T00:00:00Z"))
    assert main(["--table", "ledger-y"]) == 0
    assert "already there" in capsys.readouterr().out
    assert store.find_api_key("h1") is not None


def test_a_table_of_another_shape_is_refused(aws: None) -> None:
    client = boto3.client("dynamodb")
    client.create_table(TableName="other", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    with pytest.raises(SystemExit, match="another shape"):
        provision(client, "other")


@pytest.mark.emulator
def test_provision_on_dynamodb_local_warns_that_pitr_is_unsupported_and_goes_on(
        dynamodb_local: DynamoDBLocal, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in dynamodb_local.env.items():
        monkeypatch.setenv(name, value)
    table = ddb_local.table_name("ledger")
    try:
        assert main(["--table", table]) == 0
        first = capsys.readouterr()
        assert f"table {table}: created, ACTIVE" in first.out
        assert "point-in-time recovery not enabled" in first.err
        assert "UnknownOperationException" in first.err
        store = DynamoStore(table, shards=2)  # through AWS_ENDPOINT_URL_DYNAMODB, as served
        store.put_api_key(ApiKeyRecord("h1", "b1", "k1", "2026-01-01T00:00:00Z"))
        assert main(["--table", table]) == 0
        assert "already there" in capsys.readouterr().out
        assert store.find_api_key("h1") is not None
        described = ddb_local.client(dynamodb_local).describe_table(TableName=table)["Table"]
        assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == {
            i["IndexName"] for i in table_properties()["GlobalSecondaryIndexes"]}
    finally:
        ddb_local.client(dynamodb_local).delete_table(TableName=table)


def test_another_refusal_of_pitr_is_not_swallowed(aws: None) -> None:
    client = boto3.client("dynamodb")

    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                          "UpdateContinuousBackups")

    client.meta.events.register("before-call.dynamodb.UpdateContinuousBackups", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        provision(client, "ledger-z")
