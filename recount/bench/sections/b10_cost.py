"""B10's section of the report: what recount costs on AWS at the user's scale, and where that scale stops. Every
figure comes from the run's B1 and B2, the stage's settings and the dated price file."""

from __future__ import annotations

from recount.bench.b10_cost import B10Result, SizeCost
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run
from recount.bench.sections.b10_limits import assumptions, scale

B10_TITLE = "B10 — what it costs on AWS, at the user's scale"


def money(amount: float, currency: str = "USD") -> str:
    """Whole units from 100 up, cents from a cent, else two significant digits."""
    symbol = "$" if currency == "USD" else f"{currency} "
    if amount >= 100:
        return f"{symbol}{amount:,.0f}"
    if amount >= 0.01 or amount == 0:
        return f"{symbol}{amount:,.2f}"
    return f"{symbol}{amount:.2g}"


def rate_heads(result: B10Result) -> str:
    return " | ".join(f"{rate:,.0f}/s, a month" for rate in result.rates)


def b10(outcome: B10Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B10_TITLE, outcome)
    return [
        f"## {B10_TITLE}",
        "",
        *_priced(outcome),
        *_measured(outcome),
        *_model(outcome),
        *_by_size(outcome),
        *_by_service(outcome, outcome.sizes[0]),
        *_fixed(outcome),
        *assumptions(outcome),
        *scale(outcome),
    ]


def _priced(result: B10Result) -> list[str]:
    stage, p = result.stage, result.prices
    where = (
        f"The stage deploys to {stage.region}, and the prices are {p.region}'s: other regions differ."
        if stage.region != p.region
        else ""
    )
    return [
        f"Stage `{stage.name}` as cdk.json sets it: the inbox function at {stage.memory_mb:,} MB on "
        f"{stage.architecture}, batches of up to {stage.batch_size}, reserved concurrency {stage.reserved}, its logs "
        f"kept {stage.log_retention_days:,} days and its idempotency records {_hours(stage.idempotency_ttl_seconds)} "
        "(what the storage lines below price). List "
        f"prices for {p.region} as of {p.as_of.isoformat()}, in {p.currency}, from `recount/bench/aws_prices.json`: "
        f"{p.source}. {where}".rstrip(),
        "",
    ]


def _hours(seconds: int) -> str:
    hours = seconds / 3600
    return f"{hours:g} hour{'' if hours == 1 else 's'}"


def _measured(result: B10Result) -> list[str]:
    m = result.measures
    operations = ", ".join(f"{operation} {n}" for operation, n in sorted(m.dynamodb.items())) or "none"
    return [
        "What one dirty event's job did in this run (B2's warm job; the per-size times are B1's): DynamoDB "
        f"requests {operations}, their bodies {m.dynamodb_bytes:,} bytes together (no item they write is larger, "
        f"so each write takes {result.write_units} write unit{'s' if result.write_units > 1 else ''}); SQS requests "
        f"from the function {m.function_sqs}; Redis commands {m.redis_commands}; PostgreSQL statements "
        f"{m.postgres_statements}; log {m.log_bytes:,} bytes at INFO (its JSON lines and EMF blob). Around the "
        "function, the event source's requests: the app's `SendMessage` for each event, and a `ReceiveMessage` and a "
        "`DeleteMessageBatch` per invocation. Each dirty event is taken to be a job: one coalesced in its batch costs "
        "less (no statement, no DynamoDB request), and so does a clean one (its lock query, then no recompute and no "
        "DynamoDB request).",
        "",
    ]


def _model(result: B10Result) -> list[str]:
    m, stage, limits = result.measures, result.stage, result.prices.limits
    vcpu = stage.memory_mb / limits.lambda_memory_mb_per_vcpu
    smallest = result.sizes[0]
    requests = " and ".join(f"{operation} {n}" for operation, n in sorted(m.dynamodb.items())) or "none"
    return [
        f"**How a duration here becomes Lambda's.** An estimate: this machine's wall time of the job is taken as "
        "Lambda's billed duration, rounded up to the millisecond as Lambda bills it, at the stage's memory "
        f"(GB-seconds). Across B2's {m.warm_jobs} warm jobs, each a new dirty event for a workspace of its own, the "
        f"handler took a median {m.handler_ms:.2f} ms, and `Recompute`'s `begin` and `finish` in it a median "
        f"{m.recompute_calls_ms:.2f} ms: BEGIN to the Redis publish, the calls B1's job times. The rest, "
        f"{m.around_job_ms:.2f} ms, is what only the handler does (the event's parsing, the idempotency record's "
        f"requests, {requests}, its logs and metrics); a size's duration is that plus B1's job at the size, so "
        f"each part is counted once: {m.around_job_ms:.2f} + {m.job_ms[smallest.leads]:.2f} = "
        f"{smallest.duration_ms:.2f} ms at {smallest.leads:,} leads. At {stage.memory_mb:,} MB a function has about "
        f"{vcpu:.2f} of a vCPU (one at {limits.lambda_memory_mb_per_vcpu:,} MB), against the whole core a process "
        "can use here: the function's own CPU work would take longer there, while its waits on PostgreSQL do not "
        "depend on its memory. These stores were local: a network round trip to a hosted store adds to each trip B2 "
        "counts.",
        "",
    ]


def _by_size(result: B10Result) -> list[str]:
    currency = result.prices.currency
    return [
        "Per dirty event, each its own invocation (the most invocations a million events can take), by workspace size:",
        "",
        f"| leads in workspace | duration (ms) | billed (ms) | per million events | {rate_heads(result)} |",
        "|---:|---:|---:|---:|" + "---:|" * len(result.rates),
        *[
            f"| {size.leads:,} | {size.duration_ms:.1f} | {size.billed_ms:,} | "
            f"**{money(size.per_million, currency)}** | "
            + " | ".join(money(size.monthly(i), currency) for i in range(len(result.rates)))
            + " |"
            for size in result.sizes
        ],
        "",
        *_batched(result),
    ]


def _batched(result: B10Result) -> list[str]:
    if result.stage.batch_size <= 1:
        return []
    currency, first, last = result.prices.currency, result.batched[0], result.batched[-1]
    batch = result.stage.batch_size
    return [
        f"With full batches of {batch} (the stage's batch size: one invocation, receive and delete for {batch} "
        f"events), a million events would cost {money(first.per_million, currency)} at {first.leads:,} leads and "
        f"{money(last.per_million, currency)} at {last.leads:,}: the least they can cost, as a batch fills only when "
        f"{batch} events arrive within its batching window ({result.stage.batching_window_s} s).",
        "",
    ]


def _by_service(result: B10Result, size: SizeCost) -> list[str]:
    currency = result.prices.currency
    xray = any(line.service == "X-Ray traces" for line in size.lines)
    reservoir = result.prices.assumptions.xray_reservoir_per_second.value
    return [
        f"By service, at {size.leads:,} leads (B1's smallest workspace):",
        "",
        f"| service | per million events | {rate_heads(result)} |",
        "|---|---:|" + "---:|" * len(result.rates),
        *[
            f"| {line.service} | {money(line.per_million, currency)} | "
            + " | ".join(money(value, currency) for value in line.monthly)
            + " |"
            for line in size.lines
        ],
        f"| **total** | **{money(size.per_million, currency)}** | "
        + " | ".join(f"**{money(size.monthly(i), currency)}**" for i in range(len(result.rates)))
        + " |",
        "",
        *(
            [
                "X-Ray's per-million figure is the sampled share of the events past the reservoir "
                f"({reservoir:g} a second); the monthly columns add the reservoir.",
                "",
            ]
            if xray
            else []
        ),
    ]


def _fixed(result: B10Result) -> list[str]:
    stage, p = result.stage, result.prices
    currency = p.currency
    endpoints = (
        f"The stage's interface endpoints ({', '.join(stage.endpoint_services)}) are each in every zone of its subnets."
        if stage.endpoint_services
        else "The stage makes no interface endpoint (no `vpc.endpoints`, or no VPC)."
    )
    sweeper_100ms = stage.sweeps_per_hour * p.hours_per_month * 0.1 * stage.sweeper_memory_mb / 1024
    return [
        "Each month, whatever the events:",
        "",
        "| item | count | a month |",
        "|---|---:|---:|",
        *[f"| {item.item} | {item.count:,.0f} | {money(item.monthly, currency)} |" for item in result.fixed],
        f"| **total** | | **{money(result.fixed_monthly, currency)}** |",
        "",
        f"{endpoints} The sweeps' Lambda time is not measured here: each 100 ms of a sweep costs "
        f"{money(sweeper_100ms * p.prices.lambda_arm64_gb_second, currency)} a month at the sweeper's "
        f"{stage.sweeper_memory_mb:,} MB. PostgreSQL and Redis are the user's own servers, not priced: what they "
        "carry at each rate is below.",
        "",
        *_analytics(result),
    ]


def _analytics(result: B10Result) -> list[str]:
    if not result.stage.analytics_enabled:
        return []
    times = result.measures.analytics_ms
    return [
        f"The stage has analyticsEnabled: each workspace the analytics sweep finds due adds an analytics job, which "
        f"follows the workspaces, not the events, and is not priced here (B1's analytics statement took "
        f"{min(times.values()):,.1f} to {max(times.values()):,.1f} ms across its sizes).",
        "",
    ]
