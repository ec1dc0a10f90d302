"""`python -m scripts.provision_queues`: create the ingest queue and its dead-letter queue (SQS
FIFO) as infra/resources.json describes them, idempotently, for the `chalice deploy` path; print
the stage variables that point the app at them. (The CloudFormation path creates them itself.)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "resources.json"
QUEUE, DEAD_LETTERS = "IngestQueue", "IngestDeadLetterQueue"
ATTRIBUTES = ("FifoQueue", "VisibilityTimeout", "MessageRetentionPeriod", "DeduplicationScope",
              "FifoThroughputLimit", "SqsManagedSseEnabled")


def queue_properties(name: str, template: Path = TEMPLATE) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(template.read_text())
    properties: dict[str, Any] = body["Resources"][name]["Properties"]
    return properties


def _attributes(properties: dict[str, Any]) -> dict[Any, str]:  # SQS attribute names
    """CloudFormation's properties as SQS attributes (strings; booleans lower case)."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in properties.items() if k in ATTRIBUTES}


def consumer_max_receives(template: Path = TEMPLATE) -> str:
    """The consumer's own limit (QUEUE_MAX_RECEIVES of the template's consumer function): it
    dead-letters what failed before any write; the redrive policy's count is only a backstop."""
    body: dict[str, Any] = json.loads(template.read_text())
    variables = body["Resources"]["ConsumeIngest"]["Properties"]["Environment"]["Variables"]
    return str(variables["QUEUE_MAX_RECEIVES"])


def provision_queues(client: SQSClient, template: Path = TEMPLATE) -> dict[str, str]:
    """Create (or find, when they exist with the same attributes) both queues; their URLs and
    the consumer's settings, as the stage's environment variables."""
    dead = queue_properties(DEAD_LETTERS, template)
    dlq_url = client.create_queue(QueueName=dead["QueueName"],
                                  Attributes=_attributes(dead))["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    main = queue_properties(QUEUE, template)
    redrive = {"deadLetterTargetArn": dlq_arn,
               "maxReceiveCount": int(main["RedrivePolicy"]["maxReceiveCount"])}
    url = client.create_queue(QueueName=main["QueueName"], Attributes={
        **_attributes(main), "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    return {"QUEUE": "sqs", "QUEUE_URL": url, "DEAD_LETTER_QUEUE_URL": dlq_url,
            "QUEUE_MAX_RECEIVES": consumer_max_receives(template),
            "QUEUE_VISIBILITY_S": str(main["VisibilityTimeout"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--region", help="AWS region (default: from the environment)")
    args = parser.parse_args(argv)
    client = boto3.session.Session().client("sqs", region_name=args.region)
    variables = provision_queues(client)
    print(f"queues ready: {variables['QUEUE_URL']} (dead letters:"
          f" {variables['DEAD_LETTER_QUEUE_URL']})")
    print("add these to the prod stage's environment_variables in .chalice/config.json (leave"
          " QUEUE_PARTIAL_BATCH unset: chalice deploy's mapping does not report item failures):")
    print(json.dumps(variables, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
