"""B3's floor: the least a handler on the mechanisms recount is built on loads, makes and does on its first batch.

Exactly the mandated parts and nothing of recount's: Powertools' Logger, Metrics and batch utility, idempotency
on DynamoDB with its boto3 client, redis, pg8000 and pydantic. Its first batch does the I/O the inbox handler's
does on a dirty workspace, in the same order: the record's body parsed by a pydantic model; a PostgreSQL
connection with recount's session settings, then the inbox job's own statements, read from
shared/queries/inbox_counts.sql as data and prepared with pg8000 as recount prepares them (its BEGIN, the lock
query, the full recompute the lock query's row calls for, COMMIT), with the same parameters; a Redis command
after the lock and one after the commit; the idempotency record written and closed (two DynamoDB requests) around
the recompute. A workspace with nothing due (no mark, no lead change) ends as recount's clean skip does: the
lock query, a Redis command, ROLLBACK and another, no idempotency record (B4's floor sends such events, B3 none).
What recount's handler costs beyond this is its own. A Tracer is made only when tracing is on, by
Powertools' rule, as recount's handlers do (shared.telemetry), so that both sides of B3 trace alike.

It reads the variables recount's functions read (DATABASE_URL, REDIS_URL, IDEMPOTENCY_TABLE_NAME; boto3 reads
AWS_ENDPOINT_URL itself) and, in B3_FLOOR_POSTGRES, what recount would send PostgreSQL that is not the record's
(`recount.bench.b3_cold_start.floor_postgres`: the session's settings, the BEGIN, the statements' file and names, the
lock query's constant parameters). B3 imports it in a fresh interpreter; the packages above it hold docstrings only.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pg8000.native
import redis
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.functions import strtobool
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

# After Powertools' batch module, as in recount's handlers: loaded before it, that module also loads its parser models.
from pydantic import BaseModel

# Powertools' own rule, as in shared.telemetry: traced in Lambda unless POWERTOOLS_TRACE_DISABLED is true.
TRACED = bool(os.environ.get("LAMBDA_TASK_ROOT")) and not strtobool(os.environ.get("POWERTOOLS_TRACE_DISABLED", "0"))
POSTGRES = json.loads(os.environ["B3_FLOOR_POSTGRES"])

logger = Logger()
metrics = Metrics(namespace="bench")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)  # failures are counted
config = IdempotencyConfig(event_key_jmespath="id")
persistence = DynamoDBPersistenceLayer(
    table_name=os.environ["IDEMPOTENCY_TABLE_NAME"], boto3_client=boto3.client("dynamodb")
)
store = redis.Redis.from_url(os.environ["REDIS_URL"])  # connects on its first command


class Workspace(BaseModel):
    clientId: str


class Event(BaseModel):
    id: str
    data: Workspace


@cache
def database() -> pg8000.native.Connection:
    """With Nagle's algorithm off, as libpq and recount set it: pg8000 writes a Parse longer than its 8 KiB buffer
    apart from the Sync after it, which would otherwise wait for the server's delayed ACK."""
    url = urlsplit(os.environ["DATABASE_URL"])
    sock = socket.create_connection((url.hostname or "localhost", url.port or 5432))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return pg8000.native.Connection(
        user=unquote(url.username or ""),
        password=unquote(url.password) if url.password else None,
        database=url.path.lstrip("/"),
        startup_params=POSTGRES["settings"],
        sock=sock,
    )


@cache
def statement(name: str) -> pg8000.native.PreparedStatement:
    """Each `-- name:` block of the file, prepared on first use (one round trip, then one per run)."""
    text = Path(POSTGRES["queries"]).read_text(encoding="utf-8")
    parts = re.split(r"^-- name: ([a-z_]+)\s*$", text, flags=re.MULTILINE)
    return database().prepare(dict(zip(parts[1::2], parts[2::2], strict=True))[name].strip())


def recompute(job: dict[str, Any]) -> dict[str, Any]:
    """The full pass the lock query's row calls for, bound with its paths, then COMMIT."""
    lock, names = job["lock"], POSTGRES["statements"]
    with_state = bool(lock["capture"])
    bound = {"client_id": job["client_id"], "now": None, "probe_review": lock["probe_review"]}
    bound |= {"probe_sent": lock["probe_sent"], **({"rules": POSTGRES["rules"]} if with_state else {})}
    statement(names["full_with_state" if with_state else "full"]).run(**bound)
    database().run("COMMIT")
    store.set(f"b3-floor:done:{job['client_id']}", 1, ex=600)
    return {"recomputed": job["client_id"]}


# Only "id" is hashed (event_key_jmespath): the event's id, under a prefix of the floor's own.
work: Callable[..., dict[str, Any]] = idempotent_function(
    data_keyword_argument="job", persistence_store=persistence, config=config, key_prefix="floor"
)(recompute)


def record_handler(record: SQSRecord) -> None:
    event = Event.model_validate_json(record.body)
    client_id = event.data.clientId
    database().run(POSTGRES["begin"])
    lock = statement(POSTGRES["statements"]["lock"])
    values = lock.run(client_id=client_id, **POSTGRES["lock"])[0]
    row = dict(zip([column["name"] for column in lock.columns], values, strict=True))
    store.set(f"b3-floor:status:{client_id}", "running", ex=600)
    if row["generation"] is None and not (row["changes"] or row["snoozes_ended"]):
        # recount's clean skip (B4's floor meets it): nothing due, so no idempotency record and no recompute
        database().run("ROLLBACK")
        store.set(f"b3-floor:done:{client_id}", 0, ex=600)
        return
    paths = {name: row[name] for name in ("capture", "probe_review", "probe_sent")}
    work(job={"id": event.id, "client_id": client_id, "lock": paths})
    metrics.add_metric(name="FloorRecords", unit=MetricUnit.Count, value=1)
    logger.info("floor batch done")  # what B3 looks for (b3_cold_start.WORK_DONE)


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config.register_lambda_context(context)
    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )


# Wrapped in the order of recount's handlers: the logger's context, the Tracer's segment, then the metrics' flush.
traced = metrics.log_metrics(handle)
if TRACED:
    from aws_lambda_powertools import Tracer

    traced = Tracer().capture_lambda_handler(traced)
lambda_handler = logger.inject_lambda_context(clear_state=True)(traced)
