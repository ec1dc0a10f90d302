"""Create the ledger table for `chalice deploy`, idempotently.

Usage: `python -m scripts.provision --table NAME [--region REGION]`.

The table is read from infra/resources.json, the same CloudFormation fragment that
`chalice package --merge-template` deploys, so both paths build one table: keys, indexes,
on-demand billing, encryption at rest and point-in-time recovery. Running it twice is safe: an
existing table is checked against the definition and left as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "resources.json"
TABLE_RESOURCE = "LedgerTable"
UNKNOWN_OPERATION = "UnknownOperationException"  # DynamoDB Local's answer to PITR


def table_properties(template: Path = TEMPLATE) -> dict[str, Any]:
    """The table's CloudFormation properties."""
    resources = json.loads(template.read_text())["Resources"]
    properties: dict[str, Any] = resources[TABLE_RESOURCE]["Properties"]
    return properties


def create_table_request(table: str, template: Path = TEMPLATE) -> dict[str, Any]:
    """The CreateTable request equivalent to the template's table (PITR is a second call)."""
    props = table_properties(template)
    request: dict[str, Any] = {
        "TableName": table,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
        "SSESpecification": {"Enabled": props["SSESpecification"]["SSEEnabled"]},
    }
    if props.get("Tags"):
        request["Tags"] = props["Tags"]
    return request


def _same_shape(described: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """Differences between an existing table and the definition (keys and indexes)."""
    problems = []
    if described["KeySchema"] != request["KeySchema"]:
        problems.append(f"key schema {described['KeySchema']} != {request['KeySchema']}")
    have = {i["IndexName"]: i["KeySchema"] for i in described.get("GlobalSecondaryIndexes", [])}
    want = {i["IndexName"]: i["KeySchema"] for i in request["GlobalSecondaryIndexes"]}
    if have != want:
        problems.append(f"indexes {sorted(have)} != {sorted(want)}")
    return problems


def provision(client: DynamoDBClient, table: str, template: Path = TEMPLATE) -> dict[str, Any]:
    """Create the table unless it exists, wait until it is active, enable PITR; describe it."""
    request = create_table_request(table, template)
    try:
        client.create_table(**request)
        created = True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        created = False
    client.get_waiter("table_exists").wait(TableName=table,
                                           WaiterConfig={"Delay": 5, "MaxAttempts": 60})
    described = client.describe_table(TableName=table)["Table"]
    problems = _same_shape(dict(described), request)
    if problems:
        raise SystemExit(f"table {table} exists with another shape: {'; '.join(problems)}")
    pitr = table_properties(template)["PointInTimeRecoverySpecification"]
    try:
        client.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": pitr["PointInTimeRecoveryEnabled"]})
    except ClientError as exc:
        # DynamoDB Local has no backups and answers UnknownOperationException: the table is
        # usable, so say so and go on. Any other refusal (e.g. AccessDenied on AWS) is fatal.
        if exc.response.get("Error", {}).get("Code") != UNKNOWN_OPERATION:
            raise
        print(f"warning: table {table}: point-in-time recovery not enabled, the endpoint does"
              f" not support UpdateContinuousBackups ({UNKNOWN_OPERATION})", file=sys.stderr)
    return {"created": created, "table": described}


def stage_config(table: str, shards: int) -> dict[str, Any]:
    """What the stage in .chalice/config.json needs to use this table."""
    return {"environment_variables": {"STORE": "dynamodb", "TABLE_NAME": table,
                                      "AGGREGATE_SHARDS": str(shards)},
            "autogen_policy": False, "iam_policy_file": "policy-prod.json",
            "lambda_functions": {"consume_ingest": {
                "iam_policy_file": "policy-prod-consumer.json"}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--table", required=True, help="the DynamoDB table to create")
    parser.add_argument("--region", help="AWS region (default: from the environment)")
    parser.add_argument("--shards", type=int, default=8, help="AGGREGATE_SHARDS to print")
    args = parser.parse_args(argv)
    client = boto3.session.Session().client("dynamodb", region_name=args.region)
    result = provision(client, args.table)
    table = result["table"]
    print(f"table {args.table}: {'created' if result['created'] else 'already there'},"
          f" {table['TableStatus']}, {table['TableArn']}")
    print("put this in the stage of .chalice/config.json (and name the table's ARN in its"
          " policy file):")
    print(json.dumps(stage_config(args.table, args.shards), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
