"""The stage B10 prices, as cdk.json's settings and the stack's shape make it: read, not copied, so a changed
stage changes the report. The counts of what the stack builds (alarms, dashboards, keys, endpoints) follow
infra/monitoring.py and infra/network.py; tests/infra checks them against the synthesized template."""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import StageConfig
from infra.config_functions import LAMBDA_ARCHITECTURE
from recount.local.provision import stage_config
from shared.contracts.metrics import Metric
from shared.topology import FUNCTIONS, QUEUES, FunctionKey, QueueKey

PRICED_STAGE = "prod"  # the stage a user sizes for their traffic; dev is sized to be cheap
MINUTES_PER_HOUR = 60


def alarm_count() -> int:
    """infra/monitoring.py: a backlog alarm per queue, a dead-letter alarm per dead-letter queue (each queue's and
    the schedules'), the freshness alarm, and an error alarm per function."""
    return len(QUEUES) + (len(QUEUES) + 1) + 1 + len(FUNCTIONS)


DASHBOARDS = 1  # infra/monitoring.py: one dashboard per stage
KMS_KEYS = 1  # infra/monitoring.py: the alarm topic's key (a stage's secrets key is the user's own, not the stack's)


@dataclass(frozen=True)
class StageFacts:
    name: str
    region: str
    architecture: str
    memory_mb: int  # the inbox function's
    batch_size: int
    batching_window_s: int
    timeout_s: int
    reserved: int  # the inbox function's reserved concurrency
    normal_sources: int  # the counts source's maximum concurrency
    high_sources: int  # the counts-high source's
    others_reserved: int  # the other functions' reservations together
    connection_budget: int
    tracing: bool
    log_retention_days: int
    idempotency_ttl_seconds: int
    sweeps_per_hour: float
    sweeper_memory_mb: int
    analytics_enabled: bool
    queues: int
    alarms: int
    dashboards: int
    kms_keys: int
    custom_metrics: int  # at most: each of recount's metrics under each function's service dimension
    endpoint_zones: int  # interface endpoints times the zones each is in
    endpoint_services: tuple[str, ...]

    @property
    def reserved_total(self) -> int:
        return self.reserved + self.others_reserved


def stage_facts(name: str, config: StageConfig) -> StageFacts:
    inbox = config.function(FunctionKey.INBOX)
    sweeper = config.function(FunctionKey.SWEEPER)
    services: tuple[str, ...] = ()
    zones = 0
    if config.vpc is not None:
        services = tuple(config.vpc.interface_services(tracing=config.tracing).values())
        zones = len(set(config.vpc.availability_zones))  # an interface endpoint takes one subnet per zone
    return StageFacts(
        name=name,
        region=config.region,
        architecture=LAMBDA_ARCHITECTURE,
        memory_mb=inbox.memory_mb,
        batch_size=inbox.batch_size,
        batching_window_s=inbox.batching_window_seconds,
        timeout_s=inbox.timeout_seconds,
        reserved=inbox.reserved_concurrency,
        normal_sources=config.max_concurrency(QUEUES[QueueKey.COUNTS]),
        high_sources=config.counts_high_max_concurrency,
        others_reserved=sum(
            config.function(key).reserved_concurrency for key in FunctionKey if key is not FunctionKey.INBOX
        ),
        connection_budget=config.database_connection_budget,
        tracing=config.tracing,
        log_retention_days=config.log_retention_days,
        idempotency_ttl_seconds=config.idempotency_ttl_seconds,
        sweeps_per_hour=MINUTES_PER_HOUR / config.inbox_sweep_minutes
        + MINUTES_PER_HOUR / config.analytics_sweep_minutes,
        sweeper_memory_mb=sweeper.memory_mb,
        analytics_enabled=config.analytics_enabled,
        queues=len(QUEUES),
        alarms=alarm_count(),
        dashboards=DASHBOARDS,
        kms_keys=KMS_KEYS,
        custom_metrics=len(Metric) * len(FUNCTIONS),
        endpoint_zones=len(services) * zones,
        endpoint_services=services,
    )


def priced_stage() -> StageFacts:
    """PRICED_STAGE as cdk.json sets it: a stage missing or invalid there stops B10, with the reason."""
    return stage_facts(*stage_config(PRICED_STAGE))
