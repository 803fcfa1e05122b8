"""B2: round trips per recompute job, counted on the wire.

The real inbox handler, loaded fresh, reaches PostgreSQL, Redis and moto's server through counting loopback
proxies (`recount.servers.toggle_proxy.ToggleProxy`): a round trip is the client speaking after the server has answered,
whatever the protocol. One-message batches run one after the other, each a new dirty event for a dirty workspace of
its own: the first pays for connections and prepared statements (a cold execution environment), the second is the
warm job whose trips are judged, and it and the ones after it are timed. Beside the trips, what the adapters sent
(statements, commands, AWS requests), so the two can be told apart. Then a cold and a warm job with
DATABASE_POOLED=true, as through an RDS Proxy: no session state and no named prepared statements.

Each job also records what B10 prices: the AWS requests by operation and their bodies' bytes, the handler's wall
time and its time in the calls B1's job also makes (`recount.bench.job_meters.recompute_calls`), and the bytes it
writes to its log at INFO (Powertools' default, which the stack keeps): its JSON lines and the EMF blob of its
metrics.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from recount.bench.job_meters import AwsRequests, emf_bytes, log_written, recompute_calls
from recount.local.event_source import sqs_record
from recount.local.provision import create_idempotency_table
from recount.migrations import migrate
from recount.servers.throwaway import free_port
from recount.servers.toggle_proxy import ToggleProxy, proxy_to, through
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.settings import EnvVar
from shared.topology import FUNCTIONS, FunctionKey

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOALS = {"PostgreSQL": 4, "Redis": 2, "DynamoDB": 2}
# The name a deployed inbox function has (its log lines and EMF blob carry it): B2's log bytes are a stage's.
FUNCTION_NAME = FUNCTIONS[FunctionKey.INBOX].physical_name("recount-dev")
# Warm jobs timed: one handler call on a busy machine can take twice another's, so B10 takes their medians.
WARM_JOBS = 7


@dataclass(frozen=True)
class JobIo:
    """One job's I/O: round trips on the wire and what the adapters sent, per store."""

    trips: dict[str, int]  # PostgreSQL, Redis, AWS (DynamoDB and SQS share moto's endpoint)
    sent: dict[str, int]  # PostgreSQL statements, Redis commands, DynamoDB and SQS requests
    operations: dict[str, dict[str, int]] = field(default_factory=dict)  # DynamoDB, SQS -> operation -> requests
    body_bytes: dict[str, int] = field(default_factory=dict)  # DynamoDB, SQS -> their requests' bodies, in bytes
    handler_ms: float = 0.0  # the handler's call, wall time
    recompute_calls_ms: float = 0.0  # of it, Recompute's begin and finish (BEGIN to the publish): what B1's job times
    log_bytes: int = 0  # its log lines at INFO and its EMF blob


@dataclass(frozen=True)
class B2Result:
    cold: JobIo  # the first job of an execution environment: connections and prepares included
    warm: JobIo  # the next: its trips are the ones judged
    pooled: B2Result | None = None  # a cold and a warm job with DATABASE_POOLED=true
    timed: tuple[JobIo, ...] = ()  # every warm job, `warm` first, each a new dirty event: B10 takes their medians

    @property
    def handler_ms(self) -> float:
        """The timed warm jobs' handler call, their median."""
        return statistics.median(job.handler_ms for job in self.timed)

    @property
    def recompute_calls_ms(self) -> float:
        """The timed warm jobs' time in the calls B1's job makes, their median."""
        return statistics.median(job.recompute_calls_ms for job in self.timed)

    def rows(self) -> list[tuple[str, int, int, int, int | None]]:
        """(store, warm trips, warm sent, cold trips, goal) per store, DynamoDB and SQS split by request."""
        aws_split = {"DynamoDB": self.warm.sent["DynamoDB"], "SQS": self.warm.sent["SQS"]}
        return [
            (
                "PostgreSQL",
                self.warm.trips["PostgreSQL"],
                self.warm.sent["PostgreSQL"],
                self.cold.trips["PostgreSQL"],
                GOALS["PostgreSQL"],
            ),
            ("Redis", self.warm.trips["Redis"], self.warm.sent["Redis"], self.cold.trips["Redis"], GOALS["Redis"]),
            *[
                (name, requests, requests, self.cold.sent[name], GOALS.get(name))
                for name, requests in aws_split.items()
            ],
        ]

    def met(self) -> bool:
        return all(goal is None or warm <= goal for _, warm, _, _, goal in self.rows())


def measure(database_url: str, redis_url: str) -> B2Result:
    """Dirty events for dirty workspaces, one each and one batch each, through the real inbox handler: a cold job
    and WARM_JOBS warm ones, then a cold and a warm one pooled."""
    db = PostgresDatabase(database_url)
    migrate(db)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its request lines would cross the bench's output
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    proxies = {
        "PostgreSQL": proxy_to(database_url),
        "Redis": proxy_to(redis_url),
        "AWS": ToggleProxy("127.0.0.1", port),
    }
    try:
        with _environment(
            {
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "recount",
            }
        ):
            sqs = boto3.client("sqs", endpoint_url=f"http://{host}:{port}")
            url = sqs.create_queue(QueueName="bench-io-counts")["QueueUrl"]
            dlq = sqs.create_queue(QueueName="bench-io-counts-dlq")["QueueUrl"]
            create_idempotency_table(
                boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}"), "bench-io-idempotency"
            )
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            with _environment(
                {
                    EnvVar.DATABASE_URL: through(database_url, proxies["PostgreSQL"]),
                    EnvVar.REDIS_URL: through(redis_url, proxies["Redis"]),
                    EnvVar.AWS_ENDPOINT_URL: f"http://127.0.0.1:{proxies['AWS'].port}",
                    EnvVar.IDEMPOTENCY_TABLE_NAME: "bench-io-idempotency",
                    EnvVar.COUNTS_QUEUE_URL: url,
                    EnvVar.COUNTS_DEAD_LETTER_QUEUE_URL: dlq,
                }
            ):
                direct = _jobs(db, sqs, url, arn, proxies, WARM_JOBS)
                with _environment({EnvVar.DATABASE_POOLED: "true"}):
                    pooled = _jobs(db, sqs, url, arn, proxies, 1)
                return replace(direct, pooled=pooled)
    finally:
        for proxy in proxies.values():
            proxy.close()
        moto.stop()
        db.close()


def _jobs(
    db: PostgresDatabase, sqs: Any, url: str, arn: str, proxies: dict[str, ToggleProxy], warm_jobs: int
) -> B2Result:
    """A fresh execution environment's first job, then `warm_jobs` warm ones."""
    handler = _fresh_handler()
    try:
        cold, *warm = (_one_job(db, sqs, url, arn, handler, proxies) for _ in range(1 + warm_jobs))
        return B2Result(cold, warm[0], timed=tuple(warm))
    finally:
        handler.consumer.clients.close()


def _one_job(
    db: PostgresDatabase, sqs: Any, url: str, arn: str, handler: Any, proxies: dict[str, ToggleProxy]
) -> JobIo:
    client_id = "bench-io-" + uuid.uuid4().hex[:8]
    db.run('INSERT INTO "Client" (id, name, "userId", "updatedAt") VALUES (:id, \'io\', \'u\', now())', id=client_id)
    db.run(
        'INSERT INTO "Lead" (id, "clientId", "updatedAt") VALUES (gen_random_uuid()::text, :id, now())', id=client_id
    )
    db.run('INSERT INTO "InboxCountsDirty" ("clientId") VALUES (:id)', id=client_id)
    sqs.send_message(QueueUrl=url, MessageBody=to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id)))
    message = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
    event = {"Records": [sqs_record(message, arn)]}
    clients = handler.consumer.clients
    hooks = [
        (clients.idempotency.persistence.client, AwsRequests("DynamoDB")),
        (clients.sqs.client, AwsRequests("SQS")),
    ]
    for client, counter in hooks:
        client.meta.events.register("before-send", counter)  # one per HTTP request, retries included
    trips_before = {name: proxy.round_trips.trips for name, proxy in proxies.items()}
    sent_before = (clients.db.statements, clients.versions.commands)
    with log_written() as (log, emitted), recompute_calls() as calls:
        started = time.perf_counter()
        response = handler.lambda_handler(event, _Context())
        handler_ms = (time.perf_counter() - started) * 1000
    for client, counter in hooks:
        client.meta.events.unregister("before-send", counter)
    if response != {"batchItemFailures": []}:
        raise RuntimeError(f"B2's job failed: {json.dumps(response)}")
    if db.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id', id=client_id):
        raise RuntimeError("B2's job left its dirty mark: it did not recompute")
    trips = {name: proxy.round_trips.trips - trips_before[name] for name, proxy in proxies.items()}
    return JobIo(
        trips=trips,
        sent={
            "PostgreSQL": clients.db.statements - sent_before[0],
            "Redis": clients.versions.commands - sent_before[1],
            **{counter.service: counter.total for _, counter in hooks},
        },
        operations={counter.service: dict(counter.operations) for _, counter in hooks},
        body_bytes={counter.service: counter.body_bytes for _, counter in hooks},
        handler_ms=handler_ms,
        recompute_calls_ms=sum(calls),
        log_bytes=len(log.getvalue().encode()) + emf_bytes(emitted, FUNCTION_NAME),
    )


def _fresh_handler() -> Any:
    """The handler module loaded anew, so its clients are made from this environment (not a cached import)."""
    path = os.path.join(ROOT, "functions", "inbox_counts_recompute", "handler.py")
    spec = importlib.util.spec_from_file_location(f"bench_b2_handler_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({str(name): value for name, value in values.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Context:
    function_name = FUNCTION_NAME
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
    aws_request_id = "00000000-0000-4000-8000-000000000000"  # as long as Lambda's, for the log lines' bytes

    def get_remaining_time_in_millis(self) -> int:
        return 60_000  # the inbox function's timeout
