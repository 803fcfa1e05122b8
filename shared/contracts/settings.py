"""One pydantic model of the environment per concern, validated at start.

The variable names are defined once, in `EnvVar`; the stack, the local runtime, the CLI and the tests
import them from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.time_budget import (
    DEFAULT_AWS_CALL_LIMITS,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_REDIS_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    DEFAULT_TIME_BUDGET_MARGIN_MS,
    AwsCallLimits,
    StoreTimeouts,
)


class EnvVar(StrEnum):
    DATABASE_URL = "DATABASE_URL"
    DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"
    REDIS_URL = "REDIS_URL"
    REDIS_SECRET_ARN = "REDIS_SECRET_ARN"
    REDIS_CLUSTER = "REDIS_CLUSTER"
    STATEMENT_TIMEOUT_MS = "STATEMENT_TIMEOUT_MS"
    LOCK_TIMEOUT_MS = "LOCK_TIMEOUT_MS"
    CONNECT_TIMEOUT_SECONDS = "CONNECT_TIMEOUT_SECONDS"
    REDIS_TIMEOUT_SECONDS = "REDIS_TIMEOUT_SECONDS"
    DATABASE_PREPARED_STATEMENTS = "DATABASE_PREPARED_STATEMENTS"
    DATABASE_POOLED = "DATABASE_POOLED"
    DATABASE_IAM_AUTH = "DATABASE_IAM_AUTH"
    ANALYTICS_WINDOW_DAYS = "ANALYTICS_WINDOW_DAYS"
    ANALYTICS_AGGREGATES_ENABLED = "ANALYTICS_AGGREGATES_ENABLED"
    STATUS_TTL_SECONDS = "STATUS_TTL_SECONDS"
    IDEMPOTENCY_TABLE_NAME = "IDEMPOTENCY_TABLE_NAME"
    IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
    COUNTS_QUEUE_URL = "COUNTS_QUEUE_URL"
    COUNTS_HIGH_QUEUE_URL = "COUNTS_HIGH_QUEUE_URL"
    ANALYTICS_QUEUE_URL = "ANALYTICS_QUEUE_URL"
    SWEEP_QUEUE_URL = "SWEEP_QUEUE_URL"
    COUNTS_DEAD_LETTER_QUEUE_URL = "COUNTS_DEAD_LETTER_QUEUE_URL"
    COUNTS_HIGH_DEAD_LETTER_QUEUE_URL = "COUNTS_HIGH_DEAD_LETTER_QUEUE_URL"
    ANALYTICS_DEAD_LETTER_QUEUE_URL = "ANALYTICS_DEAD_LETTER_QUEUE_URL"
    SWEEP_DEAD_LETTER_QUEUE_URL = "SWEEP_DEAD_LETTER_QUEUE_URL"
    MAX_RECEIVE_COUNT = "MAX_RECEIVE_COUNT"
    BACKOFF_BASE_SECONDS = "BACKOFF_BASE_SECONDS"
    BACKOFF_MAX_SECONDS = "BACKOFF_MAX_SECONDS"
    BUSY_DELAY_SECONDS = "BUSY_DELAY_SECONDS"
    TIME_BUDGET_MARGIN_MS = "TIME_BUDGET_MARGIN_MS"
    SWEEP_PAGE_SIZE = "SWEEP_PAGE_SIZE"
    SWEEP_MAX_WORKSPACES = "SWEEP_MAX_WORKSPACES"
    SWEEP_MIN_AGE_SECONDS = "SWEEP_MIN_AGE_SECONDS"
    SWEEP_SNOOZE_LOOKBACK_HOURS = "SWEEP_SNOOZE_LOOKBACK_HOURS"
    SWEEP_RECONCILE_PAGE_SIZE = "SWEEP_RECONCILE_PAGE_SIZE"
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
    AWS_CONNECT_TIMEOUT_SECONDS = "AWS_CONNECT_TIMEOUT_SECONDS"
    AWS_READ_TIMEOUT_SECONDS = "AWS_READ_TIMEOUT_SECONDS"
    AWS_MAX_ATTEMPTS = "AWS_MAX_ATTEMPTS"  # botocore's own variable, read here so that the bound knows it


_CONFIG = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)


# REDIS_CLUSTER: "auto" finds a cluster by its first redirection (MOVED, ASK, CROSSSLOT); the others say it.
ClusterMode = Literal["auto", "true", "false"]
CLUSTER_MODES: tuple[str, ...] = get_args(ClusterMode)
# DATABASE_POOLED: "auto" reads DATABASE_URL (an RDS Proxy endpoint, or ?pgbouncer=true); the others say it.
PooledMode = Literal["auto", "true", "false"]


def url_query(url: str) -> dict[str, str]:
    """A URL's query parameters as libpq reads them: percent-decoded only (a '+' stays a '+'); the last wins."""
    pairs = (pair.partition("=") for pair in urlsplit(url).query.split("&") if pair)
    return {unquote(key): unquote(value) for key, _, value in pairs}


def iam_auth_problem(database_url: str) -> str | None:
    """Why DATABASE_URL cannot carry an IAM authentication token, in one line; None when it can: the token goes
    only to a server that proved who it is (verify-ca or verify-full, or require with a CA file, as libpq)."""
    query = url_query(database_url)
    sslmode = query.get("sslmode")
    if sslmode in ("verify-ca", "verify-full") or (sslmode == "require" and query.get("sslrootcert")):
        return None
    return (
        "DATABASE_IAM_AUTH=true sends a token as the password, so DATABASE_URL must verify the server: add "
        "sslmode=verify-full (with sslrootcert=<CA file> when the system does not trust its CA), not "
        + (f"sslmode={sslmode}" if sslmode else "no sslmode")
    )


def redis_database(url: str) -> int:
    """The database a Redis URL selects: its path (redis://host/3) or its db query parameter; 0 when neither."""
    parsed = urlsplit(url)
    for value in (parsed.path.strip("/"), *parse_qs(parsed.query).get("db", [])):
        if value.isdigit():
            return int(value)
    return 0


class StoreSettings(BaseSettings):
    """Where PostgreSQL and Redis are and how long recount waits for them."""

    model_config = _CONFIG

    database_url: SecretStr | None = Field(None, alias=EnvVar.DATABASE_URL)
    database_secret_arn: str | None = Field(None, alias=EnvVar.DATABASE_SECRET_ARN)
    redis_url: SecretStr | None = Field(None, alias=EnvVar.REDIS_URL)
    redis_secret_arn: str | None = Field(None, alias=EnvVar.REDIS_SECRET_ARN)
    redis_cluster: ClusterMode = Field("auto", alias=EnvVar.REDIS_CLUSTER)
    statement_timeout_ms: int = Field(
        DEFAULT_STATEMENT_TIMEOUT_MS, alias=EnvVar.STATEMENT_TIMEOUT_MS, ge=100, le=600_000
    )
    lock_timeout_ms: int = Field(DEFAULT_LOCK_TIMEOUT_MS, alias=EnvVar.LOCK_TIMEOUT_MS, ge=10, le=60_000)
    connect_timeout_s: float = Field(DEFAULT_CONNECT_TIMEOUT_S, alias=EnvVar.CONNECT_TIMEOUT_SECONDS, gt=0, le=60)
    # Each step of a Redis command (the TCP connect, TLS, each reply): its bound is time_budget.REDIS_STEPS_PER_CALL.
    redis_timeout_s: float = Field(DEFAULT_REDIS_TIMEOUT_S, alias=EnvVar.REDIS_TIMEOUT_SECONDS, gt=0, le=60)
    # Off behind a transaction-mode pooler that does not keep a session's named prepared statements.
    prepared_statements: bool = Field(True, alias=EnvVar.DATABASE_PREPARED_STATEMENTS)
    # Through a transaction pooler (RDS Proxy, pgbouncer): no session state, so that no session is pinned.
    pooled: PooledMode = Field("auto", alias=EnvVar.DATABASE_POOLED)
    # The password is an IAM token from boto3 for each connection; DATABASE_URL must verify the server.
    iam_auth: bool = Field(False, alias=EnvVar.DATABASE_IAM_AUTH)

    @model_validator(mode="after")
    def _cluster_has_database_zero_only(self) -> StoreSettings:
        database = redis_database(self.redis_url.get_secret_value()) if self.redis_url is not None else 0
        if self.redis_cluster == "true" and database:
            raise ValueError(
                f"REDIS_URL selects database {database}, but a Redis Cluster (REDIS_CLUSTER=true) has only "
                f"database 0: drop the /{database}"
            )
        return self

    @model_validator(mode="after")
    def _iam_auth_over_tls(self) -> StoreSettings:
        url = self.database_url.get_secret_value() if self.database_url is not None else None
        if self.iam_auth and url is not None and (problem := iam_auth_problem(url)) is not None:
            raise ValueError(problem)
        return self

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

    @property
    def timeouts(self) -> StoreTimeouts:
        """What the time budget counts with (`shared.contracts.time_budget`)."""
        return StoreTimeouts(
            self.statement_timeout_ms, self.lock_timeout_ms, self.connect_timeout_s, self.redis_timeout_s
        )


class RecomputeSettings(BaseSettings):
    """How the recompute jobs behave."""

    model_config = _CONFIG

    analytics_window_days: int = Field(30, alias=EnvVar.ANALYTICS_WINDOW_DAYS, ge=1, le=400)
    analytics_aggregates_enabled: bool = Field(False, alias=EnvVar.ANALYTICS_AGGREGATES_ENABLED)
    status_ttl_seconds: int = Field(86_400, alias=EnvVar.STATUS_TTL_SECONDS, ge=60, le=30 * 86_400)


class AwsCallSettings(BaseSettings):
    """How long one call to SQS or DynamoDB may take (`time_budget.AwsCallLimits`)."""

    model_config = _CONFIG

    connect_timeout_s: float = Field(
        DEFAULT_AWS_CALL_LIMITS.connect_s, alias=EnvVar.AWS_CONNECT_TIMEOUT_SECONDS, gt=0, le=60
    )
    read_timeout_s: float = Field(DEFAULT_AWS_CALL_LIMITS.read_s, alias=EnvVar.AWS_READ_TIMEOUT_SECONDS, gt=0, le=300)
    max_attempts: int = Field(DEFAULT_AWS_CALL_LIMITS.attempts, alias=EnvVar.AWS_MAX_ATTEMPTS, ge=1, le=10)

    @property
    def limits(self) -> AwsCallLimits:
        return AwsCallLimits(self.connect_timeout_s, self.read_timeout_s, self.max_attempts)


class QueueSettings(BaseSettings):
    """The queues a function reads from and sends to, and how it retries."""

    model_config = _CONFIG

    counts_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_QUEUE_URL)
    counts_high_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_HIGH_QUEUE_URL)
    analytics_queue_url: str | None = Field(None, alias=EnvVar.ANALYTICS_QUEUE_URL)
    sweep_queue_url: str | None = Field(None, alias=EnvVar.SWEEP_QUEUE_URL)
    # Each consumed queue's own dead-letter queue: poison goes to the one of the queue it came from.
    counts_dead_letter_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_DEAD_LETTER_QUEUE_URL)
    counts_high_dead_letter_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_HIGH_DEAD_LETTER_QUEUE_URL)
    analytics_dead_letter_queue_url: str | None = Field(None, alias=EnvVar.ANALYTICS_DEAD_LETTER_QUEUE_URL)
    sweep_dead_letter_queue_url: str | None = Field(None, alias=EnvVar.SWEEP_DEAD_LETTER_QUEUE_URL)
    max_receive_count: int = Field(5, alias=EnvVar.MAX_RECEIVE_COUNT, ge=1, le=1000)
    backoff_base_s: float = Field(2.0, alias=EnvVar.BACKOFF_BASE_SECONDS, gt=0, le=300)
    backoff_max_s: float = Field(300.0, alias=EnvVar.BACKOFF_MAX_SECONDS, gt=0, le=43_200)
    busy_delay_s: float = Field(1.0, alias=EnvVar.BUSY_DELAY_SECONDS, ge=0, le=900)
    time_budget_margin_ms: int = Field(
        DEFAULT_TIME_BUDGET_MARGIN_MS, alias=EnvVar.TIME_BUDGET_MARGIN_MS, ge=0, le=600_000
    )
    endpoint_url: str | None = Field(None, alias=EnvVar.AWS_ENDPOINT_URL)
    # The SQS and DynamoDB clients' limits, read with the queues (AWS_CONNECT_TIMEOUT_SECONDS and the others).
    _aws: AwsCallSettings = PrivateAttr(default_factory=AwsCallSettings)

    @property
    def aws_limits(self) -> AwsCallLimits:
        return self._aws.limits


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
    # Workspaces whose published versions each inbox sweep checks against their change stamps, in turn: every
    # workspace is checked within ceil(workspaces / this) inbox sweeps.
    reconcile_page_size: int = Field(1_000, alias=EnvVar.SWEEP_RECONCILE_PAGE_SIZE, ge=10, le=10_000)

    @model_validator(mode="after")
    def _pages_fit(self) -> SweepSettings:
        if self.max_workspaces < self.page_size:
            raise ValueError("SWEEP_MAX_WORKSPACES must be at least SWEEP_PAGE_SIZE")
        return self
