"""One pydantic model of the environment per concern, validated at start.

The variable names are defined once, in `EnvVar`; the stack, the local runtime, the CLI and the tests
import them from here.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.time_budget import (
    DEFAULT_AWS_CALL_LIMITS,
    DEFAULT_TIME_BUDGET_MARGIN_MS,
    SECRET_READ_LIMITS,
    AwsCallLimits,
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
    SWEEP_AUDIT_WORKSPACES = "SWEEP_AUDIT_WORKSPACES"
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
    AWS_CONNECT_TIMEOUT_SECONDS = "AWS_CONNECT_TIMEOUT_SECONDS"
    AWS_READ_TIMEOUT_SECONDS = "AWS_READ_TIMEOUT_SECONDS"
    AWS_MAX_ATTEMPTS = "AWS_MAX_ATTEMPTS"  # botocore's own variable, read here so that the bound knows it


SETTINGS_CONFIG = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class RecomputeSettings(BaseSettings):
    """How the recompute jobs behave."""

    model_config = SETTINGS_CONFIG

    analytics_window_days: int = Field(
        30,
        alias=EnvVar.ANALYTICS_WINDOW_DAYS,
        ge=1,
        le=400,
        description="days rewritten by an analytics recompute, today (UTC) included",
    )
    analytics_aggregates_enabled: bool = Field(
        False, alias=EnvVar.ANALYTICS_AGGREGATES_ENABLED, description="the analytics path is off unless enabled"
    )
    status_ttl_seconds: int = Field(
        86_400, alias=EnvVar.STATUS_TTL_SECONDS, ge=60, le=30 * 86_400, description="TTL of the job status blobs"
    )


class AwsCallSettings(BaseSettings):
    """How long one call to SQS or DynamoDB may take (`time_budget.AwsCallLimits`)."""

    model_config = SETTINGS_CONFIG

    connect_timeout_s: float = Field(
        DEFAULT_AWS_CALL_LIMITS.connect_s,
        alias=EnvVar.AWS_CONNECT_TIMEOUT_SECONDS,
        gt=0,
        le=60,
        description="one attempt's connect, the TLS handshake included",
    )
    read_timeout_s: float = Field(
        DEFAULT_AWS_CALL_LIMITS.read_s,
        alias=EnvVar.AWS_READ_TIMEOUT_SECONDS,
        gt=0,
        le=300,
        description="one attempt's read",
    )
    max_attempts: int = Field(
        DEFAULT_AWS_CALL_LIMITS.attempts,
        alias=EnvVar.AWS_MAX_ATTEMPTS,
        ge=1,
        le=10,
        description="botocore's own variable, read here so that the bound knows it. By default one attempt (a "
        "failure is the record's transient error, which the queue retries); each further attempt (botocore's "
        "standard mode) adds both timeouts, its backoff (under 2^(n-1) s) and up to 5 s of `x-amz-retry-after` to "
        "every AWS step of the [time budget](#time-budget)",
    )

    @property
    def limits(self) -> AwsCallLimits:
        return AwsCallLimits(self.connect_timeout_s, self.read_timeout_s, self.max_attempts)


_SENDS_TO = "where recount sends events of this queue"
_DEAD_LETTERS = (
    "the dead-letter queue of a queue the function consumes (the inbox function gets counts' and counts-high's); a "
    "message that can never succeed goes to the one of the queue it came from, known by its `eventSourceARN`"
)


class QueueSettings(BaseSettings):
    """The queues a function reads from and sends to, and how it retries."""

    model_config = SETTINGS_CONFIG

    counts_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_QUEUE_URL, description=_SENDS_TO)
    counts_high_queue_url: str | None = Field(None, alias=EnvVar.COUNTS_HIGH_QUEUE_URL, description=_SENDS_TO)
    analytics_queue_url: str | None = Field(None, alias=EnvVar.ANALYTICS_QUEUE_URL, description=_SENDS_TO)
    sweep_queue_url: str | None = Field(None, alias=EnvVar.SWEEP_QUEUE_URL, description=_SENDS_TO)
    counts_dead_letter_queue_url: str | None = Field(
        None, alias=EnvVar.COUNTS_DEAD_LETTER_QUEUE_URL, description=_DEAD_LETTERS
    )
    counts_high_dead_letter_queue_url: str | None = Field(
        None, alias=EnvVar.COUNTS_HIGH_DEAD_LETTER_QUEUE_URL, description=_DEAD_LETTERS
    )
    analytics_dead_letter_queue_url: str | None = Field(
        None, alias=EnvVar.ANALYTICS_DEAD_LETTER_QUEUE_URL, description=_DEAD_LETTERS
    )
    sweep_dead_letter_queue_url: str | None = Field(
        None, alias=EnvVar.SWEEP_DEAD_LETTER_QUEUE_URL, description=_DEAD_LETTERS
    )
    max_receive_count: int = Field(
        5,
        alias=EnvVar.MAX_RECEIVE_COUNT,
        ge=1,
        le=1000,
        description="the source queue's `maxReceiveCount`: the attempt that fails last",
    )
    backoff_base_s: float = Field(
        2.0, alias=EnvVar.BACKOFF_BASE_SECONDS, gt=0, le=300, description="a retry's first delay, doubled each time"
    )
    backoff_max_s: float = Field(
        300.0, alias=EnvVar.BACKOFF_MAX_SECONDS, gt=0, le=43_200, description="the longest delay of a retry"
    )
    busy_delay_s: float = Field(
        1.0, alias=EnvVar.BUSY_DELAY_SECONDS, ge=0, le=900, description="the delay of a busy workspace's copy"
    )
    time_budget_margin_ms: int = Field(
        DEFAULT_TIME_BUDGET_MARGIN_MS,
        alias=EnvVar.TIME_BUDGET_MARGIN_MS,
        ge=0,
        le=600_000,
        description="the time kept back at the end of an invocation: what may follow a record's work (the "
        "[time budget](#time-budget)'s second list). A record's work must end this long before the invocation "
        "does: each PostgreSQL statement gets what is left as its socket timeout (a connect's startup steps a "
        "share of it), and a Redis command or an AWS call whose worst case does not fit is not started; the "
        "record is then handed back. The store URLs (secrets) are read in Lambda's init phase, outside any "
        "record; after refused credentials the next connection reads its secret again inside a record, and is "
        f"not started unless {SECRET_READ_LIMITS.bound_s:g} s are left (that read's bound). "
        "The cancel of a statement the deadline cut goes through "
        "the pooler when pooled, so the workspace's lock is free at once. A function refuses to start in Lambda "
        "with less, and `cdk synth` refuses a stage with less, or whose `timeoutSeconds` leaves less than the "
        "longest work after it. Not covered: a record whose decision used up the margin leaves none for the next "
        "record's hand-back; that record then fails to the queue (one WARNING) and comes back after its "
        "visibility timeout, or, on its last receive, goes to the dead-letter queue by redrive with an ERROR line "
        "and `JobsDeadLettered`",
    )
    endpoint_url: str | None = Field(
        None, alias=EnvVar.AWS_ENDPOINT_URL, description="SQS and DynamoDB endpoint (moto's server locally)"
    )
    # The SQS and DynamoDB clients' limits, read with the queues (AWS_CONNECT_TIMEOUT_SECONDS and the others).
    _aws: AwsCallSettings = PrivateAttr(default_factory=AwsCallSettings)

    @property
    def aws_limits(self) -> AwsCallLimits:
        return self._aws.limits


class FunctionSettings(BaseSettings):
    """What every function needs besides its stores: the idempotency table."""

    model_config = SETTINGS_CONFIG

    idempotency_table_name: str = Field(
        alias=EnvVar.IDEMPOTENCY_TABLE_NAME, min_length=3, description="the Powertools idempotency table (DynamoDB)"
    )
    idempotency_ttl_seconds: int = Field(
        3_600, alias=EnvVar.IDEMPOTENCY_TTL_SECONDS, ge=60, le=7 * 86_400, description="how long a key is remembered"
    )


class SweepSettings(BaseSettings):
    """How much one sweep looks at."""

    model_config = SETTINGS_CONFIG

    page_size: int = Field(500, alias=EnvVar.SWEEP_PAGE_SIZE, ge=10, le=10_000, description="dirty marks read per page")
    max_workspaces: int = Field(
        10_000, alias=EnvVar.SWEEP_MAX_WORKSPACES, ge=10, le=1_000_000, description="workspaces one sweep looks at"
    )
    min_age_s: float = Field(
        5.0,
        alias=EnvVar.SWEEP_MIN_AGE_SECONDS,
        ge=0,
        le=3_600,
        description="marks younger than this are left to the app's own events",
    )
    snooze_lookback_hours: int = Field(
        24,
        alias=EnvVar.SWEEP_SNOOZE_LOOKBACK_HOURS,
        ge=1,
        le=24 * 30,
        description="how far back a sweep looks for workspaces whose snoozes expired",
    )
    reconcile_page_size: int = Field(
        1_000,
        alias=EnvVar.SWEEP_RECONCILE_PAGE_SIZE,
        ge=10,
        le=10_000,
        description="workspaces whose published versions each inbox sweep checks against their change stamps (one "
        "indexed page from PostgreSQL, one `MGET`), in turn: a version Redis lost is back within "
        "ceil(workspaces / this) sweeps of `inboxSweepMinutes`",
    )
    audit_workspaces: int = Field(
        2,
        alias=EnvVar.SWEEP_AUDIT_WORKSPACES,
        ge=0,
        le=1_000,
        description="workspaces whose lead state (kept while the capture is on, docs/design.md §10) each inbox "
        "sweep picks at random for a full recompute, which repairs a state that missed changes (writes with the "
        "triggers disabled, a restore) and reports them in `LeadStateDrift`; 0 turns the audit off",
    )

    @model_validator(mode="after")
    def _pages_fit(self) -> SweepSettings:
        if self.max_workspaces < self.page_size:
            raise ValueError("SWEEP_MAX_WORKSPACES must be at least SWEEP_PAGE_SIZE")
        return self
