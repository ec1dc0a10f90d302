"""`python -m scripts.peek`: look inside the local stand-ins of the AWS services, as the tour
(docs/tour.md) does: rows of a SQLite file, items of a DynamoDB table (DynamoDB Local, or any
endpoint boto3 is pointed at), messages of an SQS queue and objects of an S3 bucket (moto's in
the tour). It changes nothing (but an SQS message's receive count).

Each row, item or object's metadata is printed as a JSON object with one field per line, so
that a long row stays readable; DynamoDB items keep DynamoDB's own typed form
(`{"S": "..."}`, `{"N": "11.69"}`), keys first, as the AWS console's JSON view shows them.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

SQS_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber",
                  "ApproximateReceiveCount")
EPILOG = """\
examples:
  python -m scripts.peek sql "$TOUR/ledger.db" "SELECT id, amount, flags FROM transactions"
  python -m scripts.peek dynamodb txn-stream-prod 'TX#acme#' 'AC#acme#'
  python -m scripts.peek s3 txn-stream-prod-archive raw/bank=acme/
  python -m scripts.peek sqs "$QUEUE_URL"

`dynamodb` scans for the items whose partition key starts with one of the prefixes (a Scan:
fine for a laptop's table of a few items, and never done by the app on a request path).
`sqs` receives what is there and makes it visible again at once: SQS has no other way to look,
so each message's receive count goes up by one. boto3 finds the endpoints in the environment
(AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS).
"""


def one_field_a_line(fields: Mapping[str, Any]) -> str:
    """A JSON object with each field on its own line (values compact)."""
    if not fields:
        return "{}"
    lines = [f"  {json.dumps(name)}: {json.dumps(value, ensure_ascii=False, default=str)}"
             for name, value in fields.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def sql_rows(path: str, query: str, params: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """The query's rows as column -> value, from the file opened read only."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        cursor = conn.execute(query, tuple(params))
        names = [column[0] for column in cursor.description or ()]
        for row in cursor:
            yield dict(zip(names, row, strict=True))
    finally:
        conn.close()


def dynamodb_items(table: str, prefixes: list[str]) -> list[dict[str, Any]]:
    """The table's items whose `pk` starts with one of `prefixes`, in key order, typed."""
    import boto3  # only this command needs it

    client: Any = boto3.client("dynamodb")
    condition = " OR ".join(f"begins_with(pk, :p{i})" for i in range(len(prefixes)))
    values = {f":p{i}": {"S": prefix} for i, prefix in enumerate(prefixes)}
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(
            TableName=table, FilterExpression=condition, ExpressionAttributeValues=values):
        items += page["Items"]
    items.sort(key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
    return [{"pk": item["pk"], "sk": item["sk"],
             **{name: item[name] for name in sorted(item) if name not in ("pk", "sk")}}
            for item in items]


def sqs_messages(queue_url: str) -> list[dict[str, Any]]:
    """The messages a receive returns now, made visible again at once (SQS has no look without
    receiving: this counts as a receive of each, and blocks nothing after it)."""
    import boto3

    client: Any = boto3.client("sqs")
    got = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                 WaitTimeSeconds=1, MessageSystemAttributeNames=["All"])
    shown = []
    for message in got.get("Messages", []):
        attributes = message.get("Attributes", {})
        shown.append({"MessageId": message["MessageId"],
                      **{name: attributes[name] for name in SQS_ATTRIBUTES if name in attributes},
                      "Body": message["Body"]})
    return shown


def s3_objects(bucket: str, prefix: str) -> Iterator[tuple[str, dict[str, Any], bytes]]:
    """Each object under `prefix`, oldest first: its key, what S3 keeps about it, its bytes."""
    import boto3

    client: Any = boto3.client("s3")  # typed loosely: the stubs' TypedDicts add nothing here
    listed: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        listed += page.get("Contents", [])
    for entry in sorted(listed, key=lambda o: (o["LastModified"], o["Key"])):
        got = client.get_object(Bucket=bucket, Key=entry["Key"])
        about = {name: got[name] for name in ("ContentType", "ContentLength",
                                              "ServerSideEncryption", "Metadata") if name in got}
        yield entry["Key"], about, got["Body"].read()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.peek",
                                     description=(__doc__ or "").splitlines()[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sql = commands.add_parser("sql", help="rows of a query on a SQLite file")
    sql.add_argument("file")
    sql.add_argument("query")
    sql.add_argument("params", nargs="*", help="values for the query's ? placeholders")
    dynamo = commands.add_parser("dynamodb", help="items of a DynamoDB table, by key prefix")
    dynamo.add_argument("table")
    dynamo.add_argument("prefixes", nargs="+", metavar="PK_PREFIX")
    sqs = commands.add_parser("sqs", help="messages waiting in an SQS queue, left there")
    sqs.add_argument("queue_url")
    s3 = commands.add_parser("s3", help="objects of an S3 bucket under a prefix, with bodies")
    s3.add_argument("bucket")
    s3.add_argument("prefix", nargs="?", default="")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Print what was asked; 0, or 1 when there is nothing to show."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    shown = 0
    if args.command == "sql":
        for row in sql_rows(args.file, args.query, args.params):
            out.write(one_field_a_line(row) + "\n")
            shown += 1
    elif args.command == "dynamodb":
        for item in dynamodb_items(args.table, args.prefixes):
            out.write(one_field_a_line(item) + "\n")
            shown += 1
    elif args.command == "sqs":
        for message in sqs_messages(args.queue_url):
            out.write(one_field_a_line(message) + "\n")
            shown += 1
    else:
        for key, about, body in s3_objects(args.bucket, args.prefix):
            text = body.decode("utf-8", errors="replace")
            out.write(f"s3://{args.bucket}/{key}\n{one_field_a_line(about)}\n{text}"
                      + ("" if text.endswith("\n") else "\n"))
            shown += 1
    if not shown:
        print("nothing found", file=sys.stderr)
    return 0 if shown else 1


if __name__ == "__main__":
    raise SystemExit(main())
