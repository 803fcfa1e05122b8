"""The time budget: how long each store call may take at worst, what a record's work may need, and what must
stay after it (TIME_BUDGET_MARGIN_MS): the bounds the record deadline (`shared.deadline`), the functions' start
check and `cdk synth` (`infra.config`) all count with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.contracts.errors import PermanentError

if TYPE_CHECKING:
    from shared.contracts.settings import QueueSettings, StoreSettings

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
    """One Redis command, on a new connection at worst (redis-py makes no retry on the adapter's pool); every
    step is bounded by REDIS_TIMEOUT_SECONDS (socket_connect_timeout and socket_timeout)."""
    return REDIS_STEPS_PER_CALL * timeout_s


# A cluster command through redis-py's cluster client (made with one redirection at most, no topology refresh on
# MOVED, the configuration endpoint as its only startup node): the command, one redirection, and after a failed
# connection the refresh redis-py makes before it raises (CLUSTER SLOTS on the endpoint), plus its 0.25 s pause
# on CLUSTERDOWN. Making the client: CLUSTER SLOTS, COMMAND, and that refresh if COMMAND failed.
CLUSTER_COMMAND_BOUNDS = 3
CLUSTER_CLIENT_BOUNDS = 3
CLUSTER_DOWN_PAUSE_S = 0.25


def redis_command_bound_s(timeout_s: float, *, cluster: bool) -> float:
    """One command's bound through the adapter: one node's, or a cluster's (CLUSTER_COMMAND_BOUNDS)."""
    single = redis_call_bound_s(timeout_s)
    return CLUSTER_COMMAND_BOUNDS * single + CLUSTER_DOWN_PAUSE_S if cluster else single


def redis_bound_ms(timeout_s: float, *, work: bool, cluster: bool) -> int:
    """What Redis may take in a record's work, or in the decision that follows it. One node: the running status
    and the publish (one script); a failure's status. A cluster (REDIS_CLUSTER=true): the running status may be
    the environment's first command, made after the cluster client; the publish is two commands (the bump, then
    the status); a failure's status may have to make the client again (a READONLY drops it)."""
    if not cluster:
        return round((2 if work else 1) * redis_call_bound_s(timeout_s) * 1000)
    client_s = CLUSTER_CLIENT_BOUNDS * redis_call_bound_s(timeout_s)
    command_s = redis_command_bound_s(timeout_s, cluster=True)
    return round((client_s + (3 if work else 1) * command_s) * 1000)


def decision_reserve_ms(
    redis_timeout_s: float, aws: AwsCallLimits = DEFAULT_AWS_CALL_LIMITS, *, redis_cluster: bool = False
) -> int:
    """What may follow a record's work, so what TIME_BUDGET_MARGIN_MS must cover: the idempotency record's
    closing write, then the decision about a failure (its status in Redis and one SQS call: the resend, the
    dead-letter send or the visibility change), then the response; and the cancel of a statement the deadline
    cut. The work itself never needs covering: each
    of its store calls ends before the record's deadline or is not started (`shared.deadline`)."""
    redis_ms = redis_bound_ms(redis_timeout_s, work=False, cluster=redis_cluster)
    return round((2 * aws.bound_s + RESPONSE_RESERVE_S + POSTGRES_CANCEL_S) * 1000) + redis_ms


DEFAULT_TIME_BUDGET_MARGIN_MS = decision_reserve_ms(DEFAULT_REDIS_TIMEOUT_S)
CLUSTER_TIME_BUDGET_MARGIN_MS = decision_reserve_ms(DEFAULT_REDIS_TIMEOUT_S, redis_cluster=True)


def longest_work_ms(
    statement_timeout_ms: int,
    lock_timeout_ms: int,
    connect_timeout_s: float,
    redis_timeout_s: float,
    aws: AwsCallLimits = DEFAULT_AWS_CALL_LIMITS,
    *,
    redis_cluster: bool = False,
) -> int:
    """The longest one record's work may take: the idempotency record's opening write, a connect to
    PostgreSQL, the running status in Redis, the lock query (its wait plus a round trip), the recompute
    statement and the Redis publish (`redis_bound_ms`). A function's timeout must hold this after
    TIME_BUDGET_MARGIN_MS, or a record that needs all of it would be handed back by every invocation, for ever."""
    connect_ms = round(connect_timeout_s * 1000)
    redis_ms = redis_bound_ms(redis_timeout_s, work=True, cluster=redis_cluster)
    aws_ms = round(aws.bound_s * 1000)
    postgres_connect_ms = POSTGRES_CONNECT_STEPS * connect_ms
    return aws_ms + postgres_connect_ms + lock_timeout_ms + connect_ms + statement_timeout_ms + redis_ms


DEFAULT_LONGEST_WORK_MS = longest_work_ms(
    DEFAULT_STATEMENT_TIMEOUT_MS, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_REDIS_TIMEOUT_S
)
CLUSTER_LONGEST_WORK_MS = longest_work_ms(
    DEFAULT_STATEMENT_TIMEOUT_MS,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_REDIS_TIMEOUT_S,
    redis_cluster=True,
)


def check_time_budget(stores: StoreSettings, queues: QueueSettings) -> None:
    """Refuse a margin shorter than what may follow a record's work, in one line."""
    cluster = stores.redis_cluster == "true"
    needed = decision_reserve_ms(stores.redis_timeout_s, queues.aws_limits, redis_cluster=cluster)
    if queues.time_budget_margin_ms < needed:
        redis_s = redis_bound_ms(stores.redis_timeout_s, work=False, cluster=cluster) / 1000
        redis = "a Redis command"
        if cluster:
            redis = "a Redis cluster status write (the client made again, then the command)"
        raise PermanentError(
            f"TIME_BUDGET_MARGIN_MS ({queues.time_budget_margin_ms}) is less than what may follow a record's work "
            f"({needed} ms: two AWS calls of up to {queues.aws_limits.bound_s:g} s each, "
            f"{redis} of up to {redis_s:g} s with REDIS_TIMEOUT_SECONDS {stores.redis_timeout_s:g}, "
            "and the response)"
        )
