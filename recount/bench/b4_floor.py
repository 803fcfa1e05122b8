"""B4's floor: what B4's events cost the mandated parts alone, beside what they cost recount, warm.

B4's own CPU per event is in CPU-ms, and so follows the machine's speed: a goal in ms is one only a floor measured
on the same machine can judge. This is that floor. One execution environment (a process of its own, moto's server
in another, as in B4) holds recount's inbox handler and B3's floor handler (`recount.bench.b3_floor_handler`: the
mandated parts, Powertools, DynamoDB idempotency, redis, pg8000 and pydantic, sending recount's own statements, no
recount code), both warm, each with workspaces of its own shaped as B4's (20 leads). Each round gives each handler
one batch of workspaces the app has just marked (full recomputes) and one of workspaces with nothing due (recount's
clean skip: no idempotency record), as many records a batch as B4's invocations had on average, the handlers'
order alternating. Per batch: the environment's CPU, its PostgreSQL backend's and the Redis server's (their
scheduler time, in ns, when they run on this machine); per event, medians per handler and kind. At B4's mix (its
recomputes and clean skips per event) the floor is what any handler on the mandated parts would spend per event
there, on this machine.

`python -m recount.bench.b4_floor` is the environment: it reads its plan on stdin and answers one JSON line.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from recount.bench.b2_io import FUNCTION_NAME
from recount.bench.b3_cold_start import floor_postgres
from recount.bench.b4_generator import MARK
from recount.bench.cpu_meter import LOOPBACK
from recount.local.aws_server import MotoServer
from recount.local.event_source import LocalContext, sqs_record
from recount.local.provision import LOCAL_REGION, ROOT, aws_client, create_idempotency_table
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.settings import EnvVar

ROUNDS = 60
WORKSPACES = 20  # per handler, taken in turn (a batch holds at most 10: no workspace twice in one)
LEADS = 20  # per workspace, B4's and the floor's
HANDLERS = {"recount": "functions.inbox_counts_recompute.handler", "floor": "recount.bench.b3_floor_handler"}
KINDS = ("marked", "clean")
PARTS = ("environment", "postgresql", "redis")
WORKSPACES_SQL = (  # B4's workspaces and the floor's, each id a prefix and a number
    'INSERT INTO "Client" (id, name, "userId", "updatedAt") '
    "SELECT :prefix || g, 'b4', 'u', now() FROM generate_series(1, CAST(:n AS integer)) g ON CONFLICT DO NOTHING"
)
LEADS_SQL = (
    'INSERT INTO "Lead" (id, "clientId", status, "lastInboundAt", "assignedToUserId", "updatedAt") '
    "SELECT gen_random_uuid()::text, :prefix || (1 + g % CAST(:n AS integer)), 'new', now() - random() * "
    "interval '3 days', 'setter-' || (g % 3), now() FROM generate_series(1, CAST(:n AS integer) * :leads) g"
)


@dataclass(frozen=True)
class B4Floor:
    rounds: int
    batch: int  # records per invocation
    jobs: dict[str, dict[str, list[dict[str, float]]]]  # handler -> kind -> each round's batch: part -> CPU-ms
    stores_read: bool  # PostgreSQL's and Redis's parts were read (they run on this machine)

    def median(self, handler: str, kind: str, part: str | None = None) -> float:
        """CPU-ms per event, the median over the rounds' batches: one part's, or the whole (the median of sums)."""
        jobs = self.jobs[handler][kind]
        return statistics.median(job[part] if part else sum(job.values()) for job in jobs) / self.batch

    def at_mix(
        self, handler: str, marked_per_event: float, clean_per_event: float, parts: tuple[str, ...] = ()
    ) -> float:
        """CPU-ms per event at a mix of recomputes and clean skips per event: the whole, or the sum of `parts`."""
        return sum(
            per_event
            * (sum(self.median(handler, kind, part) for part in parts) if parts else self.median(handler, kind))
            for kind, per_event in (("marked", marked_per_event), ("clean", clean_per_event))
        )


def measure(database_url: str, redis_url: str, rounds: int = ROUNDS, batch: int = 1) -> B4Floor:
    """The workspaces made, moto's server started, the environment run; its answer. `batch`: records per
    invocation, 1 to 10 (Lambda's SQS batch)."""
    batch = min(10, max(1, batch))
    db = PostgresDatabase(database_url, statement_timeout_ms=120_000)
    for handler in HANDLERS:
        db.run(WORKSPACES_SQL, prefix=f"b4f-{handler}-", n=WORKSPACES)
        db.run(LEADS_SQL, prefix=f"b4f-{handler}-", n=WORKSPACES, leads=LEADS)
    db.run('VACUUM (ANALYZE) "Client", "Lead"')  # at rest, as autovacuum leaves the steps' workspaces
    db.close()
    moto = MotoServer().start()
    try:
        endpoint = moto.endpoint_url
        # the credentials aws_client signs with: moto's server on loopback takes any
        aws = {"AWS_DEFAULT_REGION": LOCAL_REGION, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
        sqs = aws_client("sqs", endpoint)
        queues = {name: sqs.create_queue(QueueName=f"b4-floor-{name}")["QueueUrl"] for name in ("counts", "dlq")}
        create_idempotency_table(aws_client("dynamodb", endpoint), "b4-floor")
        environment = {
            **os.environ,
            **aws,
            "PYTHONPATH": str(ROOT),
            "POWERTOOLS_TRACE_DISABLED": "true",  # B4's environments are not in Lambda: nothing traces there
            "POWERTOOLS_METRICS_NAMESPACE": "recount",
            "POWERTOOLS_METRICS_DISABLED": "true",  # the floor's EMF would be printed; recount's is off, as in B4
            EnvVar.DATABASE_URL: database_url,
            EnvVar.REDIS_URL: redis_url,
            EnvVar.AWS_ENDPOINT_URL: endpoint,
            EnvVar.IDEMPOTENCY_TABLE_NAME: "b4-floor",
            EnvVar.COUNTS_QUEUE_URL: queues["counts"],
            EnvVar.COUNTS_DEAD_LETTER_QUEUE_URL: queues["dlq"],
            "B3_FLOOR_POSTGRES": floor_postgres(database_url),
        }
        plan = {"database_url": database_url, "redis_url": redis_url, "rounds": rounds, "batch": batch}
        child = subprocess.run(
            [sys.executable, "-m", "recount.bench.b4_floor"],
            cwd=ROOT,
            env={str(name): value for name, value in environment.items()},
            input=json.dumps(plan),
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        moto.stop()
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"B4's floor environment failed (status {child.returncode}): {last}")
    answer = json.loads(child.stdout.strip().splitlines()[-1])
    return B4Floor(rounds, batch, answer["jobs"], answer["stores_read"])


def _scheduled_ns(pid: int | None) -> int:
    """A process's (its main thread's) time on a CPU so far, in ns, as the scheduler counts it; 0 unread."""
    if pid is None:
        return 0
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


class _Environment:
    """The child: both handlers loaded and warmed, then the rounds."""

    def __init__(self, plan: dict[str, Any]) -> None:
        from shared.telemetry import set_emf

        set_emf(False)  # as B4's environments run recount's handler (recount.local.environment)
        self.app = PostgresDatabase(plan["database_url"])  # the app's marks: its backend is not a handler's
        self.modules = {name: importlib.import_module(module) for name, module in HANDLERS.items()}
        self.batch = int(plan["batch"])
        self.turn = dict.fromkeys(HANDLERS, 0)
        self.backends: dict[str, int] = {}  # read once warm: a backend's scheduler time is read beside each job
        self.redis_pid: int | None = None
        for name in HANDLERS:  # every workspace recomputed once: its counts rows exist, as in B4's steady state
            for _ in range(-(-WORKSPACES // self.batch)):
                self._job(name, "marked")
            self._job(name, "clean")  # and the clean skip's path taken once, so no kind's first batch is cold
        self.backends = self._backends()
        if urlsplit(plan["redis_url"]).hostname in LOOPBACK and urlsplit(plan["database_url"]).hostname in LOOPBACK:
            self.redis_pid = int(redis.Redis.from_url(plan["redis_url"]).info("server")["process_id"])

    def _backends(self) -> dict[str, int]:
        return {
            "recount": self.modules["recount"].consumer.clients.db.run("SELECT pg_backend_pid() AS pid")[0]["pid"],
            "floor": self.modules["floor"].database().run("SELECT pg_backend_pid()")[0][0],
        }

    def _job(self, handler: str, kind: str) -> dict[str, float]:
        """One batch of `self.batch` records, each for the handler's next workspace; its CPU-ms by part."""
        client_ids = []
        for _ in range(self.batch):
            self.turn[handler] += 1
            client_ids.append(f"b4f-{handler}-{1 + self.turn[handler] % WORKSPACES}")
        if kind == "marked":
            self.app.run(MARK, ids=client_ids)
        event = {"Records": [_record(client_id) for client_id in client_ids]}
        backend = self.backends.get(handler) if self.redis_pid is not None else None
        stores = (_scheduled_ns(backend), _scheduled_ns(self.redis_pid))  # read outside the environment's window
        started = time.process_time_ns()
        response = self.modules[handler].lambda_handler(event, LocalContext(FUNCTION_NAME, 60.0))
        spent = time.process_time_ns() - started
        stores_spent = [
            end - start
            for start, end in zip(stores, (_scheduled_ns(backend), _scheduled_ns(self.redis_pid)), strict=True)
        ]
        if response != {"batchItemFailures": []}:
            raise RuntimeError(f"{handler}'s {kind} job failed: {json.dumps(response)}")
        return {part: ns / 1e6 for part, ns in zip(PARTS, (spent, *stores_spent), strict=True)}

    def rounds(self, rounds: int) -> dict[str, dict[str, list[dict[str, float]]]]:
        jobs: dict[str, dict[str, list[dict[str, float]]]] = {name: {kind: [] for kind in KINDS} for name in HANDLERS}
        for turn in range(rounds):
            order = list(HANDLERS) if turn % 2 == 0 else list(reversed(HANDLERS))
            for kind in KINDS:
                for handler in order:
                    jobs[handler][kind].append(self._job(handler, kind))
        if self._backends() != self.backends:  # a handler reconnected: its backend's readings are another's
            raise RuntimeError("a handler's PostgreSQL session changed during B4's floor: its figures are not one's")
        return jobs


def _record(client_id: str) -> dict[str, Any]:
    body = to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id))
    now = str(int(time.time() * 1000))
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": now, "ApproximateFirstReceiveTimestamp": now}
    message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "b4-floor", "Body": body, "MD5OfBody": "-"}
    return sqs_record({**message, "Attributes": attributes}, "arn:aws:sqs:us-east-1:0:b4-floor")


def main() -> None:
    """The environment's side: the handlers' logs go where stderr goes; the answer is the last line on stdout."""
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the handlers' JSON log lines, as B4's go to a file
    plan = json.loads(sys.stdin.read())
    environment = _Environment(plan)
    jobs = environment.rounds(plan["rounds"])
    answer.write(json.dumps({"jobs": jobs, "stores_read": environment.redis_pid is not None}) + "\n")
    answer.flush()


if __name__ == "__main__":
    main()
