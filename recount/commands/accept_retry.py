"""The acceptance run's forced transient failure: a workspace the run holds "busy" while its dirty event arrives.

The run takes the workspace's recompute lock (the advisory lock every recompute takes first, in a transaction of
its own), marks the workspace dirty and sends its dirty event, as the canary does. Each attempt meets the lock,
ends as busy (BusyError) and is resent with a delay: the public busy path. Safe in production: the app never
takes that lock, so it delays only this workspace's recompute, for at most the hold; the lock is a transaction's,
so it ends with the command's connection however the command ends; the event is an ordinary dirty event.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from recount.commands.canary import POLL_S, send_probe
from recount.commands.connections import clients_for, queue_client
from recount.commands.targets import Target
from shared.adapters.redis_store import RedisStore
from shared.adapters.sqs import QueueClient, classify_aws_error
from shared.contracts.keys import JobName
from shared.contracts.status import JobStatus, StatusBlob
from shared.domain.recompute import LOCK_CLASS
from shared.queries import query
from shared.topology import QueueKey

_QUERIES = Path(__file__).resolve().parents[1] / "queries"


@dataclass(frozen=True)
class RetryProbe:
    client_id: str
    held_s: float
    resend_seen: bool  # a delayed message was on the counts queue while the lock was held (any workspace's)
    pending_at_release: bool  # the mark was still unserved when the lock was let go
    served: bool  # then a later attempt served the mark and succeeded
    waited_s: float  # from the release to the serving job's end
    sent_message_id: str = ""  # the SQS id of the event this run sent for the held workspace
    served_by: str = "not served"  # what the serving status blob says about the message it came from

    @property
    def retried(self) -> bool:
        """The held workspace's own evidence: its serving blob names this run's event, from a copy the consumer
        re-sent (a new message id: the busy path) or from a later receive of the same message."""
        return self.served_by.startswith(("a re-sent copy", "receive "))


def force_busy_retry(target: Target, client_id: str, *, hold_s: float, wait_s: float) -> RetryProbe:
    holder, clients = clients_for(target), clients_for(target)
    sqs = queue_client(target)
    counts_url = target.queue_urls[QueueKey.COUNTS.value]
    try:
        holder.db.run("BEGIN")
        holder.db.run(
            "SELECT pg_advisory_xact_lock(:lock_class, hashtext(:client_id))",
            lock_class=LOCK_CLASS[JobName.INBOX_COUNTS],
            client_id=client_id,
        )
        probe = send_probe(clients, client_id, request_id=f"accept-retry-{uuid.uuid4()}")
        held_from = time.monotonic()
        resend_seen = False
        while time.monotonic() - held_from < hold_s:
            resend_seen = resend_seen or _delayed(sqs, counts_url) > 0
            time.sleep(POLL_S)
        pending = _pending_mark(clients.db.run(query("canary", "markers", _QUERIES), client_ids=[client_id]))
        holder.db.run("COMMIT")  # lets the lock go
        released = time.monotonic()
        held_s = released - held_from
        served, blob = False, None
        while not served and time.monotonic() - released < wait_s:
            versions = clients.versions
            assert isinstance(versions, RedisStore)  # built from the target's settings
            blob = versions.read_status(JobName.INBOX_COUNTS, client_id)
            served = (
                blob is not None
                and blob.status is JobStatus.SUCCEEDED
                and blob.dirtyAt is not None
                and blob.dirtyAt.replace(tzinfo=None) >= probe.marked_at
            )
            if not served:
                time.sleep(POLL_S)
        return RetryProbe(
            client_id,
            held_s,
            resend_seen,
            pending is not None and pending >= probe.marked_at,
            served,
            time.monotonic() - released,
            probe.message_id,
            served_by(blob, probe.request_id, probe.message_id) if served and blob is not None else "not served",
        )
    finally:
        holder.close()
        clients.close()


def served_by(blob: StatusBlob, request_id: str, message_id: str) -> str:
    """Which delivery of the run's event the serving job came from, as its status blob records it."""
    if blob.requestId != request_id:
        return f"another event (requestId {blob.requestId}, source {blob.source})"
    if blob.messageId != message_id:
        return f"a re-sent copy (message {blob.messageId}, not the sent {message_id})"
    if blob.attempt > 1:
        return f"receive {blob.attempt} of the sent message"
    return "the first delivery of the sent message: it never met the lock"


def _pending_mark(rows: list[dict[str, object]]) -> datetime | None:
    mark = rows[0]["dirty_at"] if rows else None
    return mark if isinstance(mark, datetime) else None


def _delayed(sqs: QueueClient, url: str) -> int:
    try:
        attributes = sqs.client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
    except (ClientError, BotoCoreError) as error:
        raise classify_aws_error(error, "sqs queue attributes") from error
    return int(attributes["ApproximateNumberOfMessagesDelayed"])
