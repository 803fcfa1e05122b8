"""`python -m recount local`: the pipeline on one machine with the semantics of AWS.

PostgreSQL and Redis from DATABASE_URL and REDIS_URL, or throwaway real servers; SQS and DynamoDB from
moto's server, in a process of its own; the queues, dead-letter queues and table from cdk.json's stage
settings; every function fed by the event-source emulation with its stage's batch size, window, timeout and
concurrency, each of its execution environments a process of its own; the schedules fired at their rates.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from infra.config import StageConfig
from recount.commands.targets import LOCAL_STATE_FILE, Target
from recount.local.aws_server import MotoServer
from recount.local.environment import ProcessEnvironment
from recount.local.event_source import EventSource, ExecutionEnvironments
from recount.local.provision import Provisioned, aws_client, provision
from recount.migrations import migrate
from recount.servers.throwaway import ThrowawayServers, free_port
from recount.servers.toggle_proxy import ToggleProxy, proxy_to, through
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.metrics import Metric
from shared.contracts.settings import EnvVar
from shared.telemetry import logger
from shared.topology import FUNCTIONS, QueueKey, function_environment


@dataclass
class Stats:
    """What the live view and the summary show, fed by the functions' own metrics (each environment process
    hands back what its invocation recorded)."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    freshness_ms: list[float] = field(default_factory=list)
    freshness_at: list[float] = field(default_factory=list)  # when each freshness sample came (monotonic)
    cold_starts: list[tuple[str, float]] = field(default_factory=list)  # (function, import ms)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, function: str, metric: str, value: float) -> None:
        with self.lock:
            if metric == Metric.FRESHNESS_LAG.value:
                self.freshness_ms.append(value)
                self.freshness_at.append(time.monotonic())
            elif metric.startswith(("Jobs", "Records", "Sweep")):  # counts, not durations or gauges
                self.counts[function][metric] += int(value)

    def cold_start(self, function: str, init_ms: float) -> None:
        with self.lock:
            self.cold_starts.append((function, init_ms))

    def total(self, metric: Metric) -> int:
        with self.lock:
            return sum(counter[metric.value] for counter in self.counts.values())

    def freshness(self) -> dict[str, float]:
        with self.lock:
            values = sorted(self.freshness_ms)
        if not values:
            return {"count": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        return {"count": len(values), "p50": statistics.median(values), "p95": p95, "max": values[-1]}


@dataclass
class LocalPipeline:
    """Start with `start()`, stop with `stop()` (drains what is in flight and stops all it started)."""

    stage: str
    config: StageConfig
    database_url: str | None = None
    redis_url: str | None = None
    chaos: bool = False
    schedules: bool = True
    stats: Stats = field(default_factory=Stats)
    log_path: Path = Path(".recount/local.log")
    _servers: ThrowawayServers | None = None
    _moto: MotoServer | None = None
    _sources: list[EventSource] = field(default_factory=list)
    environments: dict[str, ExecutionEnvironments] = field(default_factory=dict)
    proxies: dict[str, ToggleProxy] = field(default_factory=dict)
    provisioned: Provisioned | None = None
    _stop_schedules: threading.Event = field(default_factory=threading.Event)
    _saved_environ: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> Target:
        assert self.provisioned is not None, "start() first"
        return self.provisioned.target

    def start(self) -> LocalPipeline:
        self._saved_environ = dict(os.environ)
        self._route_logs()
        self._start_stores()
        self._start_aws()
        self._start_functions()
        if self.schedules:
            threading.Thread(target=self._fire_schedules, name="schedules", daemon=True).start()
        self.target.save(LOCAL_STATE_FILE)
        return self

    def stop(self, drain: bool = True) -> None:
        self._stop_schedules.set()
        for source in self._sources:
            source.stop(drain=drain)
        for environments in self.environments.values():
            environments.close()
        for proxy in self.proxies.values():
            proxy.close()
        if self._moto is not None:
            self._moto.stop()
        if self._servers is not None:
            self._servers.stop()
        LOCAL_STATE_FILE.unlink(missing_ok=True)
        os.environ.clear()
        os.environ.update(self._saved_environ)

    # -- stores ---------------------------------------------------------------------------------------
    def _start_stores(self) -> None:
        if not self.database_url or not self.redis_url:
            self._servers = ThrowawayServers(Path(tempfile.mkdtemp(prefix="recount-local-")))
        if not self.database_url:
            assert self._servers is not None
            self.database_url = self._servers.start_postgres(free_port())
        if not self.redis_url:
            assert self._servers is not None
            self.redis_url = self._servers.start_redis(free_port())
        db = PostgresDatabase(self.database_url)
        migrate(db)
        db.close()

    def function_store_urls(self) -> tuple[str, str]:
        """The URLs the functions use: through a cuttable proxy when --chaos is on."""
        assert self.database_url and self.redis_url
        if not self.chaos:
            return self.database_url, self.redis_url
        urls = []
        for name, url in (("postgres", self.database_url), ("redis", self.redis_url)):
            proxy = self.proxies[name] = proxy_to(url)
            urls.append(through(url, proxy))
        return urls[0], urls[1]

    # -- AWS ------------------------------------------------------------------------------------------
    def _start_aws(self) -> None:
        self._moto = MotoServer().start()
        endpoint = self._moto.endpoint_url
        for name, value in {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            EnvVar.AWS_ENDPOINT_URL: endpoint,
        }.items():
            os.environ[str(name)] = value
        self.provisioned = provision(endpoint, self.config, database_url=self.database_url, redis_url=self.redis_url)

    # -- functions ------------------------------------------------------------------------------------
    def _start_functions(self) -> None:
        database_url, redis_url = self.function_store_urls()
        target = self.target
        sqs = aws_client("sqs", target.endpoint_url or "")
        for key, function in FUNCTIONS.items():
            settings = self.config.function(key)
            environment = {
                **os.environ,
                **function_environment(
                    key,
                    queue_urls={QueueKey(k): url for k, url in target.queue_urls.items()},
                    dead_letter_urls={QueueKey(k): url for k, url in target.dead_letter_urls.items()},
                    table_name=target.idempotency_table or "",
                    settings={
                        EnvVar.DATABASE_URL: database_url,
                        EnvVar.REDIS_URL: redis_url,
                        EnvVar.AWS_ENDPOINT_URL: target.endpoint_url or "",
                        EnvVar.CONNECT_TIMEOUT_SECONDS: 2,
                        "POWERTOOLS_TRACE_DISABLED": "true",
                        **self.config.function_settings(),
                    },
                ),
            }
            environments = ExecutionEnvironments(
                key.value,
                partial(self._environment, key.value, function.directory, environment),
                settings.reserved_concurrency,
            )
            self.environments[key.value] = environments
            for queue in function.queues:
                url = target.queue_urls[queue.key]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                source = EventSource(
                    url,
                    arn,
                    environments,
                    sqs,
                    settings.batch_size,
                    settings.batching_window_seconds,
                    settings.timeout_seconds,
                    self.config.max_concurrency(queue),
                )
                self._sources.append(source)
        for source in self._sources:
            source.start()

    def _environment(self, function: str, directory: str, environment: dict[str, str]) -> ProcessEnvironment:
        """A new execution environment: a process of its own (own clients, own connections, own cold start)."""
        made = ProcessEnvironment(function, f"functions.{directory}.handler", environment, self.log_path)
        made.on_metric = partial(self.stats.record, function)
        made.on_cold_start = partial(self.stats.cold_start, function)
        return made

    # -- schedules ------------------------------------------------------------------------------------
    def _fire_schedules(self) -> None:
        sqs = aws_client("sqs", self.target.endpoint_url or "")
        rates = {
            EventName.INBOX_COUNTS_SWEEP: self.config.inbox_sweep_minutes * 60,
            EventName.ANALYTICS_AGGREGATES_SWEEP: self.config.analytics_sweep_minutes * 60,
        }
        due = {name: time.monotonic() + seconds for name, seconds in rates.items()}
        while not self._stop_schedules.wait(0.5):
            for name, at in due.items():
                if time.monotonic() >= at:
                    self.send_sweep(name, sqs)
                    due[name] = at + rates[name]

    def send_sweep(self, name: EventName, sqs: Any = None) -> None:
        sqs = sqs or aws_client("sqs", self.target.endpoint_url or "")
        sqs.send_message(
            QueueUrl=self.target.queue_urls["sweep"], MessageBody=to_body(new_event(name, source="schedule"))
        )

    # -- observation ----------------------------------------------------------------------------------
    def queue_depths(self) -> dict[str, tuple[int, int, int]]:
        """queue -> (visible, in flight, dead-lettered)."""
        sqs = aws_client("sqs", self.target.endpoint_url or "")
        depths = {}
        for queue, url in self.target.queue_urls.items():
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            dead = sqs.get_queue_attributes(
                QueueUrl=self.target.dead_letter_urls[queue], AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths[queue] = (
                int(attributes["ApproximateNumberOfMessages"])
                + int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                int(dead["ApproximateNumberOfMessages"]),
            )
        return depths

    def process_ids(self) -> dict[str, list[int]]:
        """The runtime's own processes by group (moto's server, the live environments), for CPU figures."""
        environments = [
            handler.pid
            for pool in self.environments.values()
            for handler in pool.handlers
            if isinstance(handler, ProcessEnvironment) and handler.pid is not None
        ]
        moto = [self._moto.process.pid] if self._moto is not None and self._moto.process is not None else []
        return {"moto": moto, "environments": environments}

    def idle(self) -> bool:
        depths = self.queue_depths()
        return all(visible == 0 and in_flight == 0 for visible, in_flight, _ in depths.values()) and all(
            e.running == 0 for e in self.environments.values()
        )

    def _route_logs(self) -> None:
        """The functions' JSON logs go to a file; the terminal is the live view's."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(self.log_path.open("a", encoding="utf-8"))
