"""B10's assumptions, each labelled, and where scale stops on paper: the stage's caps against the run's job times,
and AWS's default quotas, all from the run's results, the stage and the price file."""

from __future__ import annotations

from recount.bench.b10_cost import B10Result
from recount.bench.b10_limits import ScaleLimits, scale_limits


def assumptions(result: B10Result) -> list[str]:
    p, stage = result.prices, result.stage
    named = p.assumptions.model_dump()
    metrics = stage.custom_metrics
    return [
        "**Assumptions** (not measured by this run; the file states them beside the prices):",
        "",
        *[f"- *Assumed:* `{name}` = {entry['value']:g}: {entry['why']}." for name, entry in named.items()],
        f"- *Assumed:* custom metrics at most {metrics:,}, each of recount's metrics under each function's service "
        "dimension, each billed as a whole month's metric.",
        f"- *Assumed:* a month of {p.hours_per_month:g} hours; no free tier; the first tier of each tiered price; "
        "an event's body at its largest accepted size when counting SQS's billed chunks; logs stored at the bytes "
        "ingested (CloudWatch bills stored logs compressed, so that line is an upper bound).",
        "",
    ]


def scale(result: B10Result) -> list[str]:
    limits = scale_limits(result)
    stage, aws, m = result.stage, result.prices.limits, result.measures
    smallest, largest = limits.sizes[0], limits.sizes[-1]
    rates = result.rates
    ceiling = "databaseConnectionBudget" if limits.budget_bound else "the account's concurrency"
    return [
        "**Where scale stops, on paper.** The inbox function's reservation kept busy, by workspace size; one "
        "workspace recomputes once at a time (its advisory lock), so its own rate is bounded by its job:",
        "",
        f"| leads in workspace | duration (ms) | events/s at reserved concurrency {stage.reserved} | events/s on the "
        f"counts source alone ({stage.normal_sources}) | one workspace's recomputes/s (1 s ÷ B1's job) |",
        "|---:|---:|---:|---:|---:|",
        *[
            f"| {size.leads:,} | {size.duration_ms:.1f} | {size.inbox_events_per_s:,.0f} | "
            f"{size.normal_events_per_s:,.0f} | {size.workspace_recomputes_per_s:,.1f} |"
            for size in limits.sizes
        ],
        "",
        "Executions busy (the rate times the duration) and PostgreSQL's statement time per second (the rate times "
        "B1's statement) at "
        "each rate:",
        "",
        "| leads in workspace | " + " | ".join(f"{rate:,.0f}/s: executions, PostgreSQL s/s" for rate in rates) + " |",
        "|---:|" + "---:|" * len(rates),
        *[
            f"| {size.leads:,} | "
            + " | ".join(
                f"{busy:,.1f}, {pg:,.2f}" for busy, pg in zip(size.concurrency, size.postgres_busy, strict=True)
            )
            + " |"
            for size in limits.sizes
        ],
        "",
        f"- **Concurrency against connections.** Each execution environment holds one PostgreSQL connection; the "
        f"functions reserve {stage.reserved_total} together within databaseConnectionBudget {stage.connection_budget}"
        f" (the inbox function {stage.reserved}). {_fits(result, limits)}; past it, events wait in the queue and "
        f"freshness grows. The inbox function could reserve up to {limits.inbox_reservation_ceiling:,} with the "
        f"others' kept, bounded by {ceiling}: {_per_s(limits.inbox_reservation_ceiling, smallest.duration_ms):,.0f} "
        f"events/s at {smallest.leads:,} leads, {_per_s(limits.inbox_reservation_ceiling, largest.duration_ms):,.0f} "
        f"at {largest.leads:,}.",
        f"- **One recompute per workspace at a time.** A workspace of {largest.leads:,} leads recomputes at most "
        f"{largest.workspace_recomputes_per_s:,.1f} times a second; events for it meanwhile coalesce, or find it "
        "busy and are re-sent with a delay: they never run a second recompute beside it.",
        f"- **DynamoDB.** {limits.dynamodb_writes_per_event} write units per event: a new on-demand table takes "
        f"{aws.dynamodb_new_on_demand_table_writes_per_second:,} writes/s at first "
        f"({limits.dynamodb_new_table_events_per_s:,.0f} events/s), and a table's default quota is "
        f"{aws.dynamodb_table_writes_per_second:,} ({limits.dynamodb_table_events_per_s:,.0f} events/s).",
        f"- **SQS.** A standard queue holds {aws.sqs_in_flight_per_queue:,} messages in flight: with each in flight "
        f"for the batching window ({stage.batching_window_s} s) and its whole batch ({stage.batch_size} of the "
        "longest job here, one after another: a message is deleted when its invocation returns), "
        f"{limits.sqs_in_flight_events_per_s:,.0f} events/s per queue.",
        f"- **Lambda.** An account's default concurrency is {aws.lambda_account_concurrency:,}, of which "
        f"{aws.lambda_unreserved_concurrency:,} stay unreserved.",
        f"- **The stores.** At {rates[-1]:,.0f} events/s: {limits.redis_commands[-1]:,.0f} Redis commands/s and "
        f"{limits.postgres_statements[-1]:,.0f} PostgreSQL statements/s ({m.redis_commands} and "
        f"{m.postgres_statements} per job).",
        "",
    ]


def _fits(result: B10Result, limits: ScaleLimits) -> str:
    """Which of B10's rates the inbox function's reservation holds at every size of the run."""
    reserved = result.stage.reserved
    fits = [
        rate for i, rate in enumerate(result.rates) if all(size.concurrency[i] <= reserved for size in limits.sizes)
    ]
    if not fits:
        return "None of B10's rates fits within the inbox function's reservation at every size here"
    return f"Of B10's rates, up to {max(fits):,.0f} events/s fits within its reservation at every size here"


def _per_s(concurrency: int, duration_ms: float) -> float:
    return concurrency * 1000 / duration_ms if duration_ms else 0.0
