"""B3's first batches each carry the message B3 just sent: a stale one on the queue (an earlier sweep's event for a
workspace already recomputed) would make that batch a clean skip, cheaper than the others."""

from __future__ import annotations

import boto3
from moto import mock_aws

from recount.bench.b3_events import received


def test_given_a_stale_message_on_the_queue_then_b3_receives_the_one_it_sent_and_deletes_the_stale_one() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="b3-counts")["QueueUrl"]
        for stale in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"an earlier sweep's event {stale}")
        sent = sqs.send_message(QueueUrl=url, MessageBody="this round's event")["MessageId"]

        message = received(sqs, url, sent)

        assert message["MessageId"] == sent and message["Body"] == "this round's event"
        assert (
            "ApproximateReceiveCount" in message["Attributes"]
        )  # received with its attributes, as Lambda's poller does
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"  # the stale ones are gone
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # only this round's, being handled
