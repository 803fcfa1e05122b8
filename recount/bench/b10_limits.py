"""Where B10's scale stops on paper: the stage's caps against the run's job times, and AWS's default quotas."""

from __future__ import annotations

from dataclasses import dataclass

from recount.bench.b10_cost import DYNAMODB_WRITES, B10Result


@dataclass(frozen=True)
class SizeLimits:
    """At one workspace size: what the caps allow, and what each of B10's rates needs."""

    leads: int
    duration_ms: float  # one record in the function
    job_ms: float  # the job's transaction and publish (B1): how long it holds the workspace's lock
    inbox_events_per_s: float  # the inbox function's reservation kept busy
    normal_events_per_s: float  # the counts source alone at its maximum concurrency
    workspace_recomputes_per_s: float  # one workspace, one recompute at a time
    concurrency: tuple[float, ...]  # executions busy at each rate (Little's law: rate x duration)
    postgres_busy: tuple[float, ...]  # PostgreSQL statement-seconds per second at each rate


@dataclass(frozen=True)
class ScaleLimits:
    sizes: tuple[SizeLimits, ...]
    inbox_reservation_ceiling: int  # the most the inbox function may reserve, the others' reservations kept
    budget_bound: bool  # the connection budget sets that ceiling (else the account's concurrency does)
    dynamodb_writes_per_event: int  # write units
    dynamodb_new_table_events_per_s: float
    dynamodb_table_events_per_s: float
    sqs_in_flight_events_per_s: float  # per queue, each message in flight for the batching window and its batch
    redis_commands: tuple[float, ...]  # per second at each rate
    postgres_statements: tuple[float, ...]  # per second at each rate


def scale_limits(result: B10Result) -> ScaleLimits:
    stage, limits, m = result.stage, result.prices.limits, result.measures
    account = limits.lambda_account_concurrency - limits.lambda_unreserved_concurrency - stage.others_reserved
    budget = stage.connection_budget - stage.others_reserved
    units = m.requests(DYNAMODB_WRITES) * result.write_units
    longest = max(m.job_ms, key=lambda leads: m.duration_ms(leads))
    # A message is deleted when its invocation returns: in flight for the window and its whole batch's jobs
    in_flight_s = stage.batching_window_s + stage.batch_size * m.duration_ms(longest) / 1000
    return ScaleLimits(
        sizes=tuple(_size(result, leads) for leads in sorted(m.job_ms)),
        inbox_reservation_ceiling=min(account, budget),
        budget_bound=budget <= account,
        dynamodb_writes_per_event=units,
        dynamodb_new_table_events_per_s=limits.dynamodb_new_on_demand_table_writes_per_second / units if units else 0,
        dynamodb_table_events_per_s=limits.dynamodb_table_writes_per_second / units if units else 0,
        sqs_in_flight_events_per_s=limits.sqs_in_flight_per_queue / in_flight_s if in_flight_s else 0,
        redis_commands=tuple(rate * m.redis_commands for rate in result.rates),
        postgres_statements=tuple(rate * m.postgres_statements for rate in result.rates),
    )


def _size(result: B10Result, leads: int) -> SizeLimits:
    stage, m = result.stage, result.measures
    duration_s = m.duration_ms(leads) / 1000
    return SizeLimits(
        leads=leads,
        duration_ms=m.duration_ms(leads),
        job_ms=m.job_ms[leads],
        inbox_events_per_s=stage.reserved / duration_s if duration_s else 0,
        normal_events_per_s=stage.normal_sources / duration_s if duration_s else 0,
        workspace_recomputes_per_s=1000 / m.job_ms[leads] if m.job_ms[leads] else 0,
        concurrency=tuple(rate * duration_s for rate in result.rates),
        postgres_busy=tuple(rate * m.statement_ms[leads] / 1000 for rate in result.rates),
    )
