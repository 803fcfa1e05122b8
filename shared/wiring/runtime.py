"""The clients of one execution environment: created once, lazily, from validated settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from shared.adapters.idempotency import IdempotencyGuard
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.adapters.secrets import database_url, redis_url
from shared.adapters.sqs import QueueClient
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, StoreSettings, SweepSettings


@dataclass
class Runtime:
    """Settings are read (and validated) when the runtime is made; connections on first use."""

    stores: StoreSettings = field(default_factory=StoreSettings)
    recompute: RecomputeSettings = field(default_factory=RecomputeSettings)
    queues: QueueSettings = field(default_factory=QueueSettings)
    function: FunctionSettings = field(default_factory=FunctionSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)

    @cached_property
    def db(self) -> PostgresDatabase:
        # The PostgresDatabase reconnects by itself after a failure; the URL (and secret) is read once.
        return PostgresDatabase(
            database_url(self.stores),
            statement_timeout_ms=self.stores.statement_timeout_ms,
            lock_timeout_ms=self.stores.lock_timeout_ms,
            connect_timeout_s=self.stores.connect_timeout_s,
            prepared_statements=self.stores.prepared_statements,
        )

    @cached_property
    def cache(self) -> RedisStore:
        return RedisStore(
            redis_url(self.stores),
            timeout_s=self.stores.connect_timeout_s,
            status_ttl_seconds=self.recompute.status_ttl_seconds,
        )

    @cached_property
    def sqs(self) -> QueueClient:
        return QueueClient(endpoint_url=self.queues.endpoint_url)

    @cached_property
    def idempotency(self) -> IdempotencyGuard:
        return IdempotencyGuard(
            self.function.idempotency_table_name,
            expires_after_seconds=self.function.idempotency_ttl_seconds,
            endpoint_url=self.queues.endpoint_url,
        )

    def close(self) -> None:
        for name in ("db", "cache"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()
