"""Build the store adapters from settings (URLs given directly; secrets are resolved by the caller)."""

from __future__ import annotations

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import PermanentError
from shared.contracts.settings import RecomputeSettings, StoreSettings


def open_database(settings: StoreSettings, url: str | None = None) -> PostgresDatabase:
    resolved = url or (settings.database_url.get_secret_value() if settings.database_url else None)
    if not resolved:
        raise PermanentError("DATABASE_URL is not set")
    return PostgresDatabase(
        resolved,
        statement_timeout_ms=settings.statement_timeout_ms,
        lock_timeout_ms=settings.lock_timeout_ms,
        connect_timeout_s=settings.connect_timeout_s,
    )


def open_cache(settings: StoreSettings, recompute: RecomputeSettings, url: str | None = None) -> RedisStore:
    resolved = url or (settings.redis_url.get_secret_value() if settings.redis_url else None)
    if not resolved:
        raise PermanentError("REDIS_URL is not set")
    return RedisStore(resolved, timeout_s=settings.connect_timeout_s, status_ttl_seconds=recompute.status_ttl_seconds)
