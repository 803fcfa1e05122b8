"""The composition root: the clients of one execution environment, built once, lazily, from validated settings.

The one place that turns settings into adapters. Tests and the operator CLI pass the adapters they supply in
`Given` (a recording sender, a client on another region); everything else is built here on first use. Each
adapter's module (and its driver) is imported there too: a function that never uses a store never loads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, SweepSettings
from shared.contracts.store_settings import StoreSettings
from shared.contracts.time_budget import check_time_budget
from shared.ports import Database, Idempotency, QueueSender, VersionStore


@dataclass(frozen=True)
class Given:
    """Adapters the caller supplies instead of the ones built from settings."""

    db: Database | None = None
    versions: VersionStore | None = None
    sqs: QueueSender | None = None
    idempotency: Idempotency | None = None


@dataclass
class EnvironmentClients:
    """Settings are read (and validated) when the clients are made; connections on first use."""

    stores: StoreSettings = field(default_factory=StoreSettings)
    recompute: RecomputeSettings = field(default_factory=RecomputeSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    function: FunctionSettings = field(default_factory=FunctionSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)
    given: Given = field(default_factory=Given)

    def __post_init__(self) -> None:
        # In Lambda, a margin that cannot cover one record is refused at start (an init error, in one line).
        # Elsewhere the stage's settings are checked by infra.config, and tests shorten deadlines on purpose.
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            check_time_budget(self.stores, self.queues)
            # The store URLs (Secrets Manager, when secrets are used) are read now, in Lambda's init phase, each over
            # a client bounded by time_budget.SECRET_READ_LIMITS; read again in a record only after refused credentials.
            _ = self.db, self.versions

    @cached_property
    def db(self) -> Database:
        if self.given.db is not None:
            return self.given.db
        from shared.adapters.postgres import PostgresDatabase
        from shared.adapters.secrets import database_url

        # The PostgresDatabase reconnects by itself after a failure; the secret is read again after refused credentials.
        return PostgresDatabase(
            database_url(self.stores),
            statement_timeout_ms=self.stores.statement_timeout_ms,
            lock_timeout_ms=self.stores.lock_timeout_ms,
            connect_timeout_s=self.stores.connect_timeout_s,
            prepared_statements=self.stores.prepared_statements,
            pooled=self.stores.pooled,
            iam_auth=self.stores.iam_auth,
        )

    @cached_property
    def versions(self) -> VersionStore:
        if self.given.versions is not None:
            return self.given.versions
        from shared.adapters.redis_store import RedisStore
        from shared.adapters.secrets import redis_url

        return RedisStore(
            redis_url(self.stores),
            timeout_s=self.stores.redis_timeout_s,
            status_ttl_seconds=self.recompute.status_ttl_seconds,
            cluster=self.stores.redis_cluster,
        )

    @cached_property
    def sqs(self) -> QueueSender:
        if self.given.sqs is not None:
            return self.given.sqs
        from shared.adapters.sqs import QueueClient

        return QueueClient(endpoint_url=self.queues.endpoint_url, limits=self.queues.aws_limits)

    @cached_property
    def idempotency(self) -> Idempotency:
        if self.given.idempotency is not None:
            return self.given.idempotency
        from shared.adapters.idempotency import IdempotencyGuard

        return IdempotencyGuard(
            self.function.idempotency_table_name,
            expires_after_seconds=self.function.idempotency_ttl_seconds,
            endpoint_url=self.queues.endpoint_url,
            limits=self.queues.aws_limits,
        )

    def close(self) -> None:
        for name in ("db", "versions"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()
