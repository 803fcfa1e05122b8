"""One pydantic model of the environment, validated at start; the names here are the contract."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Where PostgreSQL and Redis are and how long recount waits for them."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    redis_url: SecretStr | None = Field(None, alias="REDIS_URL")
    statement_timeout_ms: int = Field(15_000, alias="STATEMENT_TIMEOUT_MS", ge=100, le=600_000)
    lock_timeout_ms: int = Field(2_000, alias="LOCK_TIMEOUT_MS", ge=10, le=60_000)
    connect_timeout_s: float = Field(5.0, alias="CONNECT_TIMEOUT_SECONDS", gt=0, le=60)


class RecomputeSettings(BaseSettings):
    """How the recompute jobs behave."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    analytics_window_days: int = Field(30, alias="ANALYTICS_WINDOW_DAYS", ge=1, le=400)
    analytics_aggregates_enabled: bool = Field(False, alias="ANALYTICS_AGGREGATES_ENABLED")
    status_ttl_seconds: int = Field(86_400, alias="STATUS_TTL_SECONDS", ge=60, le=30 * 86_400)


@lru_cache(maxsize=1)
def store_settings() -> StoreSettings:
    return StoreSettings()


@lru_cache(maxsize=1)
def recompute_settings() -> RecomputeSettings:
    return RecomputeSettings()
