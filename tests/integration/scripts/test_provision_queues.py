"""scripts.provision_queues on moto: both FIFO queues as the template describes them, the
redrive policy pointing at the dead letters (its 1000 receives a backstop; the consumer's own
limit is QUEUE_MAX_RECEIVES), idempotent, and a different shape refused."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.ports.queue import BACKSTOP_RECEIVES
from scripts.provision_queues import DEAD_LETTERS, QUEUE, provision_queues, queue_properties


def test_queues_are_created_as_the_template_says_and_again_without_change() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        first = provision_queues(sqs)
        assert provision_queues(sqs) == first  # idempotent
        main = queue_properties(QUEUE)
        attributes = sqs.get_queue_attributes(QueueUrl=first["QUEUE_URL"],
                                              AttributeNames=["All"])["Attributes"]
        assert attributes["FifoQueue"] == "true"
        assert attributes["VisibilityTimeout"] == str(main["VisibilityTimeout"])
        redrive = json.loads(attributes["RedrivePolicy"])
        dead_arn = sqs.get_queue_attributes(QueueUrl=first["DEAD_LETTER_QUEUE_URL"],
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert redrive["deadLetterTargetArn"] == dead_arn
        assert int(redrive["maxReceiveCount"]) == main["RedrivePolicy"]["maxReceiveCount"] == \
            BACKSTOP_RECEIVES
        # the consumer's own limit, far below the queue's backstop: the consumer decides
        assert first["QUEUE_MAX_RECEIVES"] == "5"
        assert first["QUEUE_URL"].endswith(main["QueueName"])
        assert first["DEAD_LETTER_QUEUE_URL"].endswith(queue_properties(DEAD_LETTERS)["QueueName"])


def test_a_queue_of_the_same_name_with_other_attributes_is_refused() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.create_queue(QueueName=queue_properties(DEAD_LETTERS)["QueueName"],
                         Attributes={"FifoQueue": "true", "VisibilityTimeout": "7"})
        with pytest.raises(ClientError):
            provision_queues(sqs)
