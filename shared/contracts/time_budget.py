"""The time budget: how long each store call may take at worst, and two lists of named steps with their bounds:
a record's work (`work_steps`) and what must stay after it (`after_work_steps`, TIME_BUDGET_MARGIN_MS). The record
deadline (`shared.deadline`), the functions' start check, `cdk synth` (`infra.config`) and the configuration
reference (`recount.render.configuration`) all sum these lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.contracts.errors import PermanentError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.contracts.settings import QueueSettings
    from shared.contracts.store_settings import StoreSettings

_RETRY_AFTER_MAX_S = 5  # botocore.retries.standard.ExponentialBackoff._RETRY_AFTER_MAX_ADDITIONAL


@dataclass(frozen=True)
class AwsCallLimits:
    """How long one call to SQS or DynamoDB may take: at most `attempts` attempts, each bounded by the two
    timeouts (the connect one covers the TLS handshake too), with botocore's backoff before each retry (standard
    mode: under 2^(n-1) s before retry n, plus up to 5 s more when the service's answer asks for it with
    x-amz-retry-after). One attempt by default: a failed call is the record's transient error, which the queue
    retries, and what follows the work would otherwise have to keep a retry's backoff and retry-after back."""

    connect_s: float = 1.0
    read_s: float = 2.0
    attempts: int = 1

    @property
    def bound_s(self) -> float:
        retries = self.attempts - 1
        return self.attempts * (self.connect_s + self.read_s) + ((1 << retries) - 1) + _RETRY_AFTER_MAX_S * retries


DEFAULT_AWS_CALL_LIMITS = AwsCallLimits()
# The store secrets' read from Secrets Manager: at start-up (Lambda's init phase) and after a store refused the
# credentials; never botocore's default (60 s timeouts, several attempts).
SECRET_READ_LIMITS = AwsCallLimits(connect_s=1.0, read_s=2.0, attempts=2)
# What Lambda needs after the handler's last call: the batch response and the metrics flush.
RESPONSE_RESERVE_S = 0.25
# The cancel request sent when the deadline cuts a PostgreSQL statement (shared/adapters/postgres_cancel.py): the
# whole exchange, on a new connection, after the work's deadline.
POSTGRES_CANCEL_S = 0.5
DEFAULT_STATEMENT_TIMEOUT_MS = 10_000
DEFAULT_LOCK_TIMEOUT_MS = 2_000
DEFAULT_CONNECT_TIMEOUT_S = 2.0
# Redis's own (REDIS_TIMEOUT_SECONDS): its TCP connect, TLS handshake and every reply; each takes a millisecond
# or so inside a region, and a step that times out is the record's transient error.
DEFAULT_REDIS_TIMEOUT_S = 0.5


# A new Redis connection, at worst: the TCP connect, the TLS handshake, then two replies: AUTH and SELECT with a
# password, else the health check's PING and SELECT (the adapter's client speaks RESP2 and sends no HELLO,
# CLIENT SETINFO or maintenance-notification commands; with database 0 there is no SELECT).
REDIS_CONNECTION_STEPS = 4
# redis-py's pool connects once more when a new connection already has data or is closed before its first command
# (ConnectionPool.get_connection's can_read check); then the command's reply.
REDIS_STEPS_PER_CALL = 2 * REDIS_CONNECTION_STEPS + 1
# A TCP connect, the TLS handshake and the startup exchange (three round trips with SCRAM).
POSTGRES_CONNECT_STEPS = 5


def redis_call_bound_s(timeout_s: float) -> float:
    """One Redis command on one node, on a new connection at worst (redis-py makes no retry on the adapter's
    pool); every step is bounded by REDIS_TIMEOUT_SECONDS (socket_connect_timeout and socket_timeout)."""
    return REDIS_STEPS_PER_CALL * timeout_s


# A cluster command through redis-py's cluster client (made with one redirection at most, no topology refresh on
# MOVED, the configuration endpoint as its only startup node): the command, one redirection, and after a failed
# connection the refresh redis-py makes before it raises (CLUSTER SLOTS on the endpoint), plus its 0.25 s pause
# on CLUSTERDOWN. Making the client: CLUSTER SLOTS, COMMAND, and that refresh if COMMAND failed.
CLUSTER_COMMAND_BOUNDS = 3
CLUSTER_CLIENT_BOUNDS = 3
CLUSTER_DOWN_PAUSE_S = 0.25


def cluster_command_bound_s(timeout_s: float) -> float:
    """One command through the cluster client: CLUSTER_COMMAND_BOUNDS of one node's, and the CLUSTERDOWN pause."""
    return CLUSTER_COMMAND_BOUNDS * redis_call_bound_s(timeout_s) + CLUSTER_DOWN_PAUSE_S


def cluster_client_bound_s(timeout_s: float) -> float:
    """Making the cluster client: CLUSTER_CLIENT_BOUNDS commands on the configuration endpoint."""
    return CLUSTER_CLIENT_BOUNDS * redis_call_bound_s(timeout_s)


def redis_command_bound_s(timeout_s: float, *, cluster: bool) -> float:
    """The bound the Redis adapter checks before a command: the cluster client's, or one node's."""
    return cluster_command_bound_s(timeout_s) if cluster else redis_call_bound_s(timeout_s)


@dataclass(frozen=True)
class Step:
    """One step of a record's time budget: what it is, how long it may take at worst, and why that long."""

    name: str
    bound_ms: int
    why: str


def total_ms(steps: Sequence[Step]) -> int:
    return sum(step.bound_ms for step in steps)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(frozen=True)
class StoreTimeouts:
    """The store settings the budget counts with (StoreSettings.timeouts gives the environment's)."""

    statement_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    redis_s: float = DEFAULT_REDIS_TIMEOUT_S


DEFAULT_STORE_TIMEOUTS = StoreTimeouts()


@dataclass(frozen=True)
class RedisSteps:
    """What Redis may take in a record: before the lock, after the statement, and in a failure's decision."""

    running_status: tuple[Step, ...]
    publish: tuple[Step, ...]
    failure_status: tuple[Step, ...]


def one_node_redis_steps(timeout_s: float) -> RedisSteps:
    """One node: the running status, the publish (one script: the bump and the status), a failure's status."""
    command_ms = _ms(redis_call_bound_s(timeout_s))
    why = f"one command: {REDIS_STEPS_PER_CALL} steps of REDIS_TIMEOUT_SECONDS (two new connections, the reply)"
    return RedisSteps(
        running_status=(Step("running status", command_ms, why),),
        publish=(Step("Redis publish", command_ms, f"one script (the bump and the status), {why}"),),
        failure_status=(Step("failure's status", command_ms, why),),
    )


def cluster_redis_steps(timeout_s: float) -> RedisSteps:
    """A cluster (REDIS_CLUSTER=true): the running status may be the environment's first command, made after the
    cluster client; the publish is two commands (the bump, then the status); a failure's status may have to make
    the client again (a READONLY drops it)."""
    client_ms = _ms(cluster_client_bound_s(timeout_s))
    command_ms = _ms(cluster_command_bound_s(timeout_s))
    client_why = f"CLUSTER SLOTS, COMMAND, and a refresh if COMMAND failed: {CLUSTER_CLIENT_BOUNDS} commands"
    why = (
        f"a cluster command: {CLUSTER_COMMAND_BOUNDS} commands (one redirection, the refresh after a failed "
        f"connection) and the {CLUSTER_DOWN_PAUSE_S:g} s CLUSTERDOWN pause"
    )
    return RedisSteps(
        running_status=(Step("Redis cluster client", client_ms, client_why), Step("running status", command_ms, why)),
        publish=(Step("Redis publish: the bump", command_ms, why), Step("Redis publish: the status", command_ms, why)),
        failure_status=(
            Step("Redis cluster client, made again", client_ms, f"a READONLY drops it; {client_why}"),
            Step("failure's status", command_ms, why),
        ),
    )


def redis_steps(timeout_s: float, *, cluster: bool) -> RedisSteps:
    return cluster_redis_steps(timeout_s) if cluster else one_node_redis_steps(timeout_s)


def work_steps(stores: StoreTimeouts, aws: AwsCallLimits, *, cluster: bool) -> tuple[Step, ...]:
    """The longest one record's work may take. A function's timeout must hold it after TIME_BUDGET_MARGIN_MS, or a
    record that needs all of it would be handed back by every invocation, for ever."""
    connect_ms = _ms(stores.connect_s)
    redis = redis_steps(stores.redis_s, cluster=cluster)
    return (
        Step("idempotency opening write", _ms(aws.bound_s), "one DynamoDB call (AWS_* limits)"),
        Step(
            f"PostgreSQL connect ({POSTGRES_CONNECT_STEPS} steps)",
            POSTGRES_CONNECT_STEPS * connect_ms,
            "TCP, TLS and three startup round trips (SCRAM), each CONNECT_TIMEOUT_SECONDS",
        ),
        *redis.running_status,
        Step("lock query", stores.lock_ms + connect_ms, "LOCK_TIMEOUT_MS, then a round trip"),
        Step("recompute statement", stores.statement_ms, "STATEMENT_TIMEOUT_MS"),
        *redis.publish,
    )


def after_work_steps(stores: StoreTimeouts, aws: AwsCallLimits, *, cluster: bool) -> tuple[Step, ...]:
    """What may follow a record's work, so what TIME_BUDGET_MARGIN_MS must cover. The work itself never needs
    covering: each of its store calls ends before the record's deadline or is not started (`shared.deadline`)."""
    return (
        Step("idempotency closing write", _ms(aws.bound_s), "one DynamoDB call (AWS_* limits)"),
        *redis_steps(stores.redis_s, cluster=cluster).failure_status,
        Step("one SQS call", _ms(aws.bound_s), "a failure's resend, dead-letter send or visibility change"),
        Step("response", _ms(RESPONSE_RESERVE_S), "the batch response and the metrics flush"),
        Step("statement cancel", _ms(POSTGRES_CANCEL_S), "a CancelRequest on a new connection, after the deadline"),
    )


def decision_reserve_ms(
    redis_timeout_s: float, aws: AwsCallLimits = DEFAULT_AWS_CALL_LIMITS, *, redis_cluster: bool = False
) -> int:
    """What may follow a record's work (`after_work_steps`), with these Redis timeout and AWS limits."""
    return total_ms(after_work_steps(StoreTimeouts(redis_s=redis_timeout_s), aws, cluster=redis_cluster))


def longest_work_ms(
    statement_timeout_ms: int,
    lock_timeout_ms: int,
    connect_timeout_s: float,
    redis_timeout_s: float,
    aws: AwsCallLimits = DEFAULT_AWS_CALL_LIMITS,
    *,
    redis_cluster: bool = False,
) -> int:
    """The longest one record's work may take (`work_steps`), with these timeouts and AWS limits."""
    stores = StoreTimeouts(statement_timeout_ms, lock_timeout_ms, connect_timeout_s, redis_timeout_s)
    return total_ms(work_steps(stores, aws, cluster=redis_cluster))


DEFAULT_TIME_BUDGET_MARGIN_MS = total_ms(
    after_work_steps(DEFAULT_STORE_TIMEOUTS, DEFAULT_AWS_CALL_LIMITS, cluster=False)
)
CLUSTER_TIME_BUDGET_MARGIN_MS = total_ms(
    after_work_steps(DEFAULT_STORE_TIMEOUTS, DEFAULT_AWS_CALL_LIMITS, cluster=True)
)
DEFAULT_LONGEST_WORK_MS = total_ms(work_steps(DEFAULT_STORE_TIMEOUTS, DEFAULT_AWS_CALL_LIMITS, cluster=False))
CLUSTER_LONGEST_WORK_MS = total_ms(work_steps(DEFAULT_STORE_TIMEOUTS, DEFAULT_AWS_CALL_LIMITS, cluster=True))


def check_time_budget(stores: StoreSettings, queues: QueueSettings) -> None:
    """Refuse a margin shorter than what may follow a record's work, in one line."""
    cluster = stores.redis_cluster == "true"
    aws = queues.aws_limits
    needed = total_ms(after_work_steps(stores.timeouts, aws, cluster=cluster))
    if queues.time_budget_margin_ms < needed:
        redis_s = total_ms(redis_steps(stores.redis_timeout_s, cluster=cluster).failure_status) / 1000
        redis = "a Redis command"
        if cluster:
            redis = "a Redis cluster status write (the client made again, then the command)"
        raise PermanentError(
            f"TIME_BUDGET_MARGIN_MS ({queues.time_budget_margin_ms}) is less than what may follow a record's work "
            f"({needed} ms: two AWS calls of up to {aws.bound_s:g} s each, "
            f"{redis} of up to {redis_s:g} s with REDIS_TIMEOUT_SECONDS {stores.redis_timeout_s:g}, "
            "and the response)"
        )
