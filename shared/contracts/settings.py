"""One pydantic model of the environment per concern, validated at start.

The variable names are defined once, in `EnvVar`; the stack, the local runtime, the CLI and the tests
import them from here.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.errors import PermanentError


class EnvVar(StrEnum):
    DATABASE_URL = "DATABASE_URL"
    DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"
    REDIS_URL = "REDIS_URL"
    REDIS_SECRET_ARN = "REDIS_SECRET_ARN"
    STATEMENT_TIMEOUT_MS = "STATEMENT_TIMEOUT_MS"
    LOCK_TIMEOUT_MS = "LOCK_TIMEOUT_MS"
    CONNECT_TIMEOUT_SECONDS = "CONNECT_TIMEOUT_SECONDS"
    DATABASE_PREPARED_STATEMENTS = "DATABASE_PREPARED_STATEMENTS"
    ANALYTICS_WINDOW_DAYS = "ANALYTICS_WINDOW_DAYS"
    ANALYTICS_AGGREGATES_ENABLED = "ANALYTICS_AGGREGATES_ENABLED"
    STATUS_TTL_SECONDS = "STATUS_TTL_SECONDS"
    IDEMPOTENCY_TABLE_NAME = "IDEMPOTENCY_TABLE_NAME"
    IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
    COUNTS_QUEUE_URL = "COUNTS_QUEUE_URL"
    COUNTS_HIGH_QUEUE_URL = "COUNTS_HIGH_QUEUE_URL"
    ANALYTICS_QUEUE_URL = "ANALYTICS_QUEUE_URL"
    SWEEP_QUEUE_URL = "SWEEP_QUEUE_URL"
    DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
    MAX_RECEIVE_COUNT = "MAX_RECEIVE_COUNT"
    BACKOFF_BASE_SECONDS = "BACKOFF_BASE_SECONDS"
    BACKOFF_MAX_SECONDS = "BACKOFF_MAX_SECONDS"
    BUSY_DELAY_SECONDS = "BUSY_DELAY_SECONDS"
    TIME_BUDGET_MARGIN_MS = "TIME_BUDGET_MARGIN_MS"
    SWEEP_PAGE_SIZE = "SWEEP_PAGE_SIZE"
    SWEEP_MAX_WORKSPACES = "SWEEP_MAX_WORKSPACES"
    SWEEP_MIN_AGE_SECONDS = "SWEEP_MIN_AGE_SECONDS"
    SWEEP_SNOOZE_LOOKBACK_HOURS = "SWEEP_SNOOZE_LOOKBACK_HOURS"
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"


_CONFIG = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

# One call to SQS or DynamoDB, one attempt: the adapters' clients use these timeouts.
AWS_CONNECT_TIMEOUT_S = 2
AWS_READ_TIMEOUT_S = 5
DEFAULT_STATEMENT_TIMEOUT_MS = 10_000
DEFAULT_LOCK_TIMEOUT_MS = 2_000
DEFAULT_CONNECT_TIMEOUT_S = 2.0


def longest_record_ms(statement_timeout_ms: int, lock_timeout_ms: int, connect_timeout_s: float) -> int:
    """The longest one record can take before its job gives up: the recompute statement, the lock query, a
    reconnect to PostgreSQL and the two Redis commands (each bounded by the connect timeout), and one AWS call
    (the idempotency record or a send). TIME_BUDGET_MARGIN_MS must cover it, or a record started near the
    end runs the invocation out of time and the whole batch comes back with its receive counts spent."""
    aws_ms = (AWS_CONNECT_TIMEOUT_S + AWS_READ_TIMEOUT_S) * 1000
    return statement_timeout_ms + lock_timeout_ms + round(3 * connect_timeout_s * 1000) + aws_ms


DEFAULT_TIME_BUDGET_MARGIN_MS = longest_record_ms(
    DEFAULT_STATEMENT_TIMEOUT_MS, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_S
)


class StoreSettings(BaseSettings):
    """Where PostgreSQL and Redis are and how long recount waits for them."""

    model_config = _CONFIG

    database_url: SecretStr | None = Field(None, alias=EnvVar.DATABASE_URL)
    database_secret_arn: str | None = Field(None, alias=EnvVar.DATABASE_SECRET_ARN)
    redis_url: SecretStr | None = Field(None, alias=EnvVar.REDIS_URL)
    redis_secret_arn: str | None = Field(None, alias=EnvVar.REDIS_SECRET_ARN)
    statement_timeout_ms: int = Field(
        DEFAULT_STATEMENT_TIMEOUT_MS, alias=EnvVar.STATEMENT_TIMEOUT_MS, ge=100, le=600_000
    )
    lock_timeout_ms: int = Field(DEFAULT_LOCK_TIMEOUT_MS, alias=EnvVar.LOCK_TIMEOUT_MS, ge=10, le=60_000)
    connect_timeout_s: float = Field(DEFAULT_CONNECT_TIMEOUT_S, alias=EnvVar.CONNECT_TIMEOUT_SECONDS, gt=0, le=60)
    # Off behind a transaction-mode pooler that does not keep a session's named prepared statements.
    prepared_statements: bool = Field(True, alias=EnvVar.DATABASE_PREPARED_STATEMENTS)

    @model_validator(mode="after")
    def _lock_wait_ends_first(self) -> StoreSettings:
        # A lock wait must end as "busy" (55P03, a delayed copy), not as a statement timeout (57014, a retry
        # that spends a receive).
        if self.lock_timeout_ms >= self.statement_timeout_ms:
            raise ValueError(
                f"LOCK_TIMEOUT_MS ({self.lock_timeout_ms}) must be less than STATEMENT_TIMEOUT_MS "
                f"({self.statement_timeout_ms}): a lock wait must end as busy, not as a statement timeout"
            )
        return self


class RecomputeSettings(BaseSettings):
    """How the recompute jobs behave."""

    model_config = _CONFIG

    analytics_window_days: int = Field(30, alias=EnvVar.ANALYTICS_WINDOW_DAYS, ge=1, le=400)
    analytics_aggregates_enabled: bool = Field(False, alias=EnvVar.ANALYTICS_AGGREGATES_ENABLED)
    status_ttl_seconds: int = Field(86_400, alias=EnvVar.STATUS_TTL_SECONDS, ge=60, le=30 * 86_400)


class QueueSettings(BaseSettings):
    """The queues a function reads from and sends to, and how it retries."""

    model_config = _CONFIG

    counts_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_QUEUE_URL)
    counts_high_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_HIGH_QUEUE_URL)
    analytics_queue_url: str | None = Field(None, alias=EnvVar.ANALYTICS_QUEUE_URL)
    sweep_queue_url: str | None = Field(None, alias=EnvVar.SWEEP_QUEUE_URL)
    dead_letter_queue_url: str | None = Field(None, alias=EnvVar.DEAD_LETTER_QUEUE_URL)
    max_receive_count: int = Field(5, alias=EnvVar.MAX_RECEIVE_COUNT, ge=1, le=1000)
    backoff_base_s: float = Field(2.0, alias=EnvVar.BACKOFF_BASE_SECONDS, gt=0, le=300)
    backoff_max_s: float = Field(300.0, alias=EnvVar.BACKOFF_MAX_SECONDS, gt=0, le=43_200)
    busy_delay_s: float = Field(1.0, alias=EnvVar.BUSY_DELAY_SECONDS, ge=0, le=900)
    time_budget_margin_ms: int = Field(
        DEFAULT_TIME_BUDGET_MARGIN_MS, alias=EnvVar.TIME_BUDGET_MARGIN_MS, ge=0, le=600_000
    )
    endpoint_url: str | None = Field(None, alias=EnvVar.AWS_ENDPOINT_URL)


class FunctionSettings(BaseSettings):
    """What every function needs besides its stores: the idempotency table."""

    model_config = _CONFIG

    idempotency_table_name: str = Field(alias=EnvVar.IDEMPOTENCY_TABLE_NAME, min_length=3)
    idempotency_ttl_seconds: int = Field(3_600, alias=EnvVar.IDEMPOTENCY_TTL_SECONDS, ge=60, le=7 * 86_400)


class SweepSettings(BaseSettings):
    """How much one sweep looks at."""

    model_config = _CONFIG

    page_size: int = Field(500, alias=EnvVar.SWEEP_PAGE_SIZE, ge=10, le=10_000)
    max_workspaces: int = Field(10_000, alias=EnvVar.SWEEP_MAX_WORKSPACES, ge=10, le=1_000_000)
    min_age_s: float = Field(5.0, alias=EnvVar.SWEEP_MIN_AGE_SECONDS, ge=0, le=3_600)
    snooze_lookback_hours: int = Field(24, alias=EnvVar.SWEEP_SNOOZE_LOOKBACK_HOURS, ge=1, le=24 * 30)

    @model_validator(mode="after")
    def _pages_fit(self) -> SweepSettings:
        if self.max_workspaces < self.page_size:
            raise ValueError("SWEEP_MAX_WORKSPACES must be at least SWEEP_PAGE_SIZE")
        return self


def check_time_budget(stores: StoreSettings, queues: QueueSettings) -> None:
    """Refuse a margin shorter than the longest a record can take, in one line."""
    needed = longest_record_ms(stores.statement_timeout_ms, stores.lock_timeout_ms, stores.connect_timeout_s)
    if queues.time_budget_margin_ms < needed:
        raise PermanentError(
            f"TIME_BUDGET_MARGIN_MS ({queues.time_budget_margin_ms}) is less than the longest a record can take "
            f"({needed} ms: STATEMENT_TIMEOUT_MS {stores.statement_timeout_ms} + LOCK_TIMEOUT_MS "
            f"{stores.lock_timeout_ms} + 3 x CONNECT_TIMEOUT_SECONDS {stores.connect_timeout_s:g} s + one AWS call "
            f"{AWS_CONNECT_TIMEOUT_S + AWS_READ_TIMEOUT_S} s)"
        )
