"""Stage settings from cdk.json context, validated before anything is built: bad settings stop the synth."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from infra.config_access import STRICT, DatabaseIamAuthConfig, VpcConfig
from infra.config_functions import (
    MIN_EVENT_SOURCE_CONCURRENCY,
    POWERTOOLS_VERSION,
    VALID_LOG_RETENTION_DAYS,
    AlarmConfig,
    FunctionConfig,
)
from shared.contracts.settings import EnvVar
from shared.contracts.time_budget import (
    DEFAULT_AWS_CALL_LIMITS,
    DEFAULT_STORE_TIMEOUTS,
    DEFAULT_TIME_BUDGET_MARGIN_MS,
    after_work_steps,
    total_ms,
    work_steps,
)
from shared.topology import FunctionKey, Queue, QueueKey

STAGES_CONTEXT_KEY = "recount:stages"
STAGE_CONTEXT_KEY = "stage"
SECRET_ARN_RE = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"


class StageConfig(BaseModel):
    """Everything that differs between stages. Names are cdk.json's (camelCase)."""

    model_config = STRICT

    account: Annotated[str, Field(pattern=r"^\d{12}$")] | None = Field(None, description="where the stage deploys")
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="where the stage deploys")
    inbox_sweep_minutes: int = Field(1, alias="inboxSweepMinutes", ge=1, le=60, description="the inbox sweep's rate")
    analytics_sweep_minutes: int = Field(
        15, alias="analyticsSweepMinutes", ge=1, le=1440, description="the analytics sweep's rate"
    )
    max_receive_count: int = Field(
        5, alias="maxReceiveCount", ge=5, le=100, description="receives before a message is dead-lettered"
    )
    inbox: FunctionConfig = Field(description="the inbox function ([function settings](#function-settings))")
    analytics: FunctionConfig = Field(description="the analytics function ([function settings](#function-settings))")
    sweeper: FunctionConfig = Field(description="the sweeper function ([function settings](#function-settings))")
    counts_high_max_concurrency: int = Field(
        alias="countsHighMaxConcurrency",
        ge=MIN_EVENT_SOURCE_CONCURRENCY,
        description="the counts-high source's maximum concurrency; with the counts source's it must fit the inbox "
        "function's reservation",
    )
    visibility_timeout_factor: int = Field(
        6,
        alias="visibilityTimeoutFactor",
        ge=6,
        le=12,
        description="each queue's visibility timeout is this times its function's timeout: a crashed invocation's "
        "records come back after it",
    )
    alarms: AlarmConfig = Field(description="[alarm settings](#alarm-settings)")
    database_secret_arn: str = Field(
        alias="databaseSecretArn",
        pattern=SECRET_ARN_RE,
        description="the database secret (`DATABASE_SECRET_ARN`; a read-only grant to the functions alone)",
    )
    redis_secret_arn: str = Field(
        alias="redisSecretArn",
        pattern=SECRET_ARN_RE,
        description="the Redis secret (`REDIS_SECRET_ARN`; a read-only grant to the functions alone)",
    )
    secrets_kms_key_arn: str | None = Field(
        None, alias="secretsKmsKeyArn", pattern=r"^arn:aws[a-z-]*:kms:", description="the secrets' KMS key"
    )
    log_retention_days: int = Field(
        30, alias="logRetentionDays", description="one of CloudWatch Logs' retentions (1, 3, 5, 7, 14, 30, …)"
    )
    analytics_enabled: bool = Field(
        False, alias="analyticsEnabled", description="`ANALYTICS_AGGREGATES_ENABLED` of the functions"
    )
    tracing: bool = Field(
        True,
        description="X-Ray tracing of the functions; `false` turns it off, and a cold start then skips importing "
        "the X-Ray SDK and applying its patches (what that saves: B3 in docs/benchmarks.md)",
    )
    analytics_window_days: int = Field(
        30, alias="analyticsWindowDays", ge=1, le=400, description="`ANALYTICS_WINDOW_DAYS` of the functions"
    )
    database_connection_budget: int = Field(
        alias="databaseConnectionBudget",
        ge=3,
        description="the sum of the functions' `reservedConcurrency` must fit it",
    )
    idempotency_ttl_seconds: int = Field(
        3600, alias="idempotencyTtlSeconds", ge=60, description="`IDEMPOTENCY_TTL_SECONDS` of the functions"
    )
    time_budget_margin_ms: int = Field(
        DEFAULT_TIME_BUDGET_MARGIN_MS,
        alias="timeBudgetMarginMs",
        ge=1_000,
        description="`TIME_BUDGET_MARGIN_MS` of the functions: at least what may follow a record's work "
        "([time budget](#time-budget))",
    )
    name_suffix: str | None = Field(
        None,
        alias="nameSuffix",
        pattern=r"^[a-z0-9]{1,12}$",
        description="appended to every physical name (`recount-<stage>-<suffix>-…`): the stage deploys again "
        "beside what a destroyed stack retained (the idempotency table, the dead-letter queues and the log groups)",
    )
    vpc: VpcConfig | None = Field(
        None,
        description="the functions in an existing VPC, with endpoints instead of a NAT: `vpcId`, `subnetIds` "
        "(private), `availabilityZones` and `routeTableIds` (each subnet's, in order), and either "
        "`securityGroupIds` (groups of your own) or `ports` (the PostgreSQL and Redis ports the group recount "
        "makes may reach, besides HTTPS); `endpoints` turns on any of `dynamodb`, `sqs`, `secretsManager`, `xray` "
        "(each off unless set; at most one subnet per zone while any interface endpoint is on). See "
        "[On RDS and ElastiCache](deploying.md#on-rds-and-elasticache)",
    )
    redis_cluster: bool = Field(
        False,
        alias="redisCluster",
        description="Redis is a cluster (ElastiCache Serverless, sharded ElastiCache): the functions get "
        "`REDIS_CLUSTER=true` and the synth checks the [time budget](#time-budget) against a cluster's worst case",
    )
    database_iam_auth: DatabaseIamAuthConfig | None = Field(
        None,
        alias="databaseIamAuth",
        description='`{"resourceId": "prx-…", "user": "recount"}`: the functions sign IAM tokens '
        "(`DATABASE_IAM_AUTH=true`) for the user the database secret names, which must be this `user`: each may "
        "`rds-db:connect` as it to that resource only (`prx-…` an RDS Proxy, `db-…` an instance, `cluster-…` an "
        "Aurora cluster: the resource id, not the name). The secret still names the host, port, database and "
        "user; its password is not used",
    )
    powertools_version: str | None = Field(
        None,
        alias="powertoolsVersion",
        pattern=r"^\d+\.\d+\.\d+$",
        description="the Powertools layer's version is the one requirements.txt pins; a stage may restate it, "
        "never differ",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StageConfig:
        problems = []
        caps = sum(self.function(key).reserved_concurrency for key in FunctionKey)
        if caps > self.database_connection_budget:
            problems.append(
                f"the functions' concurrency caps add up to {caps}, over the database connection "
                f"budget of {self.database_connection_budget}"
            )
        # The functions run with the default store timeouts and AWS limits: a stage sets none of them.
        budget = (DEFAULT_STORE_TIMEOUTS, DEFAULT_AWS_CALL_LIMITS)
        longest_work_ms = total_ms(work_steps(*budget, cluster=self.redis_cluster))
        margin_ms = total_ms(after_work_steps(*budget, cluster=self.redis_cluster))
        redis = " with redisCluster" if self.redis_cluster else ""
        for key in FunctionKey:
            name, function = key.value, self.function(key)
            if function.max_concurrency > function.reserved_concurrency:
                problems.append(
                    f"{name}.maxConcurrency ({function.max_concurrency}) is over its "
                    f"reservedConcurrency ({function.reserved_concurrency}): throttled messages "
                    "would burn receive counts"
                )
            work_window_ms = function.timeout_seconds * 1000 - self.time_budget_margin_ms
            if work_window_ms < longest_work_ms:
                problems.append(
                    f"{name}.timeoutSeconds ({function.timeout_seconds}) leaves {max(work_window_ms, 0)} ms after "
                    f"timeBudgetMarginMs ({self.time_budget_margin_ms}), less than the longest one record's work "
                    f"may take ({longest_work_ms} ms{redis}): such a record would be handed back for ever"
                )
        shared = self.inbox.max_concurrency + self.counts_high_max_concurrency
        if shared > self.inbox.reserved_concurrency:
            problems.append(
                f"the counts and counts-high sources may run {shared} at once, over the inbox "
                f"function's reservedConcurrency ({self.inbox.reserved_concurrency})"
            )
        if self.time_budget_margin_ms < margin_ms:
            problems.append(
                f"timeBudgetMarginMs ({self.time_budget_margin_ms}) is less than what may follow a record's work "
                f"({margin_ms} ms{redis}: the idempotency record's closing write and a failure's decision)"
            )
        if self.powertools_version not in (None, POWERTOOLS_VERSION):
            problems.append(
                f"powertoolsVersion {self.powertools_version} differs from the {POWERTOOLS_VERSION} requirements.txt "
                "pins (the layer must run what the tests ran): remove it or change the pin"
            )
        if self.vpc is not None:
            shared_zone = self.vpc.shared_zone(self.vpc.availability_zones, tracing=self.tracing)
            if shared_zone:
                problems.append(shared_zone)
        if self.log_retention_days not in VALID_LOG_RETENTION_DAYS:
            problems.append(f"logRetentionDays must be one of {sorted(VALID_LOG_RETENTION_DAYS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def name_prefix(self, stage: str) -> str:
        """What every physical name of the stage's resources starts with."""
        return f"recount-{stage}-{self.name_suffix}" if self.name_suffix else f"recount-{stage}"

    def function(self, key: FunctionKey) -> FunctionConfig:
        """A function's settings: the field its key names (tests/infra holds the two together)."""
        config: FunctionConfig = getattr(self, key.value)
        return config

    def max_concurrency(self, queue: Queue) -> int:
        """The event source's cap: counts-high has its own, beside counts, within the inbox function's."""
        if queue.key is QueueKey.COUNTS_HIGH:
            return self.counts_high_max_concurrency
        return self.function(queue.consumer).max_concurrency

    def function_settings(self) -> dict[EnvVar | str, object]:
        """The stage settings every function reads from its environment (the stack's and the local runtime's)."""
        return {
            EnvVar.MAX_RECEIVE_COUNT: self.max_receive_count,
            EnvVar.ANALYTICS_AGGREGATES_ENABLED: str(self.analytics_enabled).lower(),
            EnvVar.ANALYTICS_WINDOW_DAYS: self.analytics_window_days,
            EnvVar.TIME_BUDGET_MARGIN_MS: self.time_budget_margin_ms,
            EnvVar.IDEMPOTENCY_TTL_SECONDS: self.idempotency_ttl_seconds,
            **({EnvVar.DATABASE_IAM_AUTH: "true"} if self.database_iam_auth else {}),
            **({EnvVar.REDIS_CLUSTER: "true"} if self.redis_cluster else {}),
        }

    def visibility_timeout_seconds(self, function: FunctionConfig) -> int:
        """Six times (or more) the consuming function's timeout, so a retried batch never overlaps a slow one."""
        return function.timeout_seconds * self.visibility_timeout_factor


class ConfigError(ValueError):
    """Stops the synth with one clear message."""


def load_stage(context: dict[str, Any], stage: str | None) -> tuple[str, StageConfig]:
    """The stage named by `-c stage=...` (default: the context's defaultStage) from cdk.json's context."""
    stages = context.get(STAGES_CONTEXT_KEY)
    if not isinstance(stages, dict) or not stages:
        raise ConfigError(f"cdk.json context has no {STAGES_CONTEXT_KEY!r} object")
    name = stage or context.get("recount:defaultStage") or "dev"
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", name):
        raise ConfigError(f"stage name {name!r} must be 1-16 lowercase letters, digits or '-'")
    if name not in stages:
        raise ConfigError(f"unknown stage {name!r}: cdk.json defines {', '.join(sorted(stages))}")
    try:
        return name, StageConfig.model_validate(stages[name])
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'stage'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_url=False)
        )
        raise ConfigError(f"stage {name!r} in cdk.json is invalid: {details}") from None
