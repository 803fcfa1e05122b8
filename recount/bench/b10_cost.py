"""B10: what recount costs on AWS, from what this run measured per job and the list prices of one dated file.

Per dirty event, the inbox job's AWS calls (B2's warm job: its DynamoDB and SQS requests, by operation), its
duration (B2's warm handler time less its calls B1's job also makes, plus B1's job at each workspace size, taken
as Lambda's billed duration at the stage's memory, rounded up to the millisecond), its log bytes (B2) and the
event source's own requests; priced per million events and at a few steady rates, by service. The stage's fixed
monthly costs (endpoints, alarms, the dashboard, keys, metrics, idle polling, the sweeps' requests) apart. Pure
computation: the runner hands it the other benchmarks' results, and B10 is only as good as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recount.bench.b1_recompute import B1Report
from recount.bench.b2_io import B2Result
from recount.bench.b10_prices import PriceList, load_prices
from recount.bench.b10_stage import StageFacts, priced_stage
from shared.contracts.events import MAX_ENVELOPE_BYTES

RATES = (10.0, 100.0, 1000.0)  # dirty events per second, steady, for a month
GIB = 1024**3
# The requests B10 knows how to price: DynamoDB bills each in write or read units.
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
DYNAMODB_READS = frozenset({"GetItem", "Query"})
# B10 adds its times to the hundredth of a millisecond, as its section prints them: every sum printed adds up.
PLACES = 2


@dataclass(frozen=True)
class JobMeasures:
    """What one inbox job did in this run: B2's warm job, and B1's job and statement at each workspace size."""

    handler_ms: float  # B2: the warm handler's call, the median of its timed warm jobs
    recompute_calls_ms: float  # B2: of it, Recompute's begin and finish (what B1's job times), their median
    warm_jobs: int  # B2: how many warm jobs those medians are of
    dynamodb: dict[str, int]  # B2: operation -> requests
    dynamodb_bytes: int  # B2: the bodies of those requests together (every item they write is within them)
    function_sqs: int  # B2: SQS requests the function itself sent
    redis_commands: int
    postgres_statements: int
    log_bytes: int  # B2: its log lines at INFO and its EMF blob
    job_ms: dict[int, float]  # B1: leads -> the whole job, BEGIN to the Redis publish
    statement_ms: dict[int, float]  # B1: leads -> the recompute statement, as the functions run it
    analytics_ms: dict[int, float]  # B1: leads -> the analytics statement

    @property
    def around_job_ms(self) -> float:
        """The handler's time outside the calls B1's job makes: parsing, the idempotency requests, logging."""
        return round(self.handler_ms - self.recompute_calls_ms, PLACES)

    def duration_ms(self, leads: int) -> float:
        """A job at `leads` leads: what only the handler does, then what B1's job does, each counted once."""
        return round(self.around_job_ms + self.job_ms[leads], PLACES)

    def requests(self, operations: frozenset[str]) -> int:
        return sum(n for operation, n in self.dynamodb.items() if operation in operations)


def measures(b1: B1Report, b2: B2Result) -> JobMeasures:
    """B10's inputs from the same run's B1 and B2; a DynamoDB request B10 cannot price stops it."""
    warm = b2.warm
    dynamodb = warm.operations.get("DynamoDB", {})
    unknown = sorted(set(dynamodb) - DYNAMODB_WRITES - DYNAMODB_READS)
    if unknown:
        raise ValueError(f"B2's warm job sent DynamoDB {', '.join(unknown)}, which B10 has no units for")
    if not b2.timed:
        raise ValueError("B2 did not time its warm jobs")
    return JobMeasures(
        handler_ms=round(b2.handler_ms, PLACES),
        recompute_calls_ms=round(b2.recompute_calls_ms, PLACES),
        warm_jobs=len(b2.timed),
        dynamodb=dict(dynamodb),
        dynamodb_bytes=warm.body_bytes.get("DynamoDB", 0),
        function_sqs=warm.sent["SQS"],
        redis_commands=warm.sent["Redis"],
        postgres_statements=warm.sent["PostgreSQL"],
        log_bytes=warm.log_bytes,
        job_ms={row.leads: round(row.job_ms, PLACES) for row in b1.rows},
        statement_ms={row.leads: row.recount.at(b1.functions_jit) for row in b1.rows},
        analytics_ms={row.leads: row.analytics_ms for row in b1.rows},
    )


@dataclass(frozen=True)
class Line:
    """One service's cost: per dirty event (what grows with events), and a month at each of RATES."""

    service: str
    per_event: float
    monthly: tuple[float, ...]

    @property
    def per_million(self) -> float:
        return self.per_event * 1e6


@dataclass(frozen=True)
class SizeCost:
    """The per-event costs at one workspace size, with `records` records per invocation."""

    leads: int
    records: int
    duration_ms: float  # per record
    billed_ms: int  # per invocation
    lines: tuple[Line, ...]

    @property
    def per_million(self) -> float:
        return sum(line.per_million for line in self.lines)

    def monthly(self, rate_index: int) -> float:
        return sum(line.monthly[rate_index] for line in self.lines)

    def line(self, service: str) -> Line:
        return next(line for line in self.lines if line.service == service)


@dataclass(frozen=True)
class Fixed:
    """A cost the stage pays each month whatever the events: how many, and the month's price of them."""

    item: str
    count: float
    monthly: float


@dataclass(frozen=True)
class B10Result:
    stage: StageFacts
    prices: PriceList
    measures: JobMeasures
    rates: tuple[float, ...]
    sizes: tuple[SizeCost, ...]  # one record per invocation: every event its own batch
    batched: tuple[SizeCost, ...]  # full batches of the stage's batch size
    fixed: tuple[Fixed, ...]

    @property
    def fixed_monthly(self) -> float:
        return sum(item.monthly for item in self.fixed)

    @property
    def write_units(self) -> int:
        return units(self.measures.dynamodb_bytes, self.prices.limits.dynamodb_write_unit_bytes)

    @property
    def read_units(self) -> int:
        return units(self.measures.dynamodb_bytes, self.prices.limits.dynamodb_read_unit_bytes)


def units(item_bytes: int, unit_bytes: int) -> int:
    """DynamoDB's units for one request on an item of at most `item_bytes`: no item the job writes is larger than
    its requests' bodies together. A read is taken as strongly consistent (Powertools reads so)."""
    return max(1, math.ceil(item_bytes / unit_bytes))


def from_run(b1: B1Report, b2: B2Result) -> B10Result:
    """The run's B1 and B2 priced for the sized stage, at the price file's prices."""
    return estimate(measures(b1, b2), priced_stage(), load_prices())


def estimate(measured: JobMeasures, stage: StageFacts, prices: PriceList) -> B10Result:
    sizes = sorted(measured.job_ms)
    return B10Result(
        stage,
        prices,
        measured,
        RATES,
        tuple(size_cost(measured, stage, prices, leads, records=1) for leads in sizes),
        tuple(size_cost(measured, stage, prices, leads, records=stage.batch_size) for leads in sizes),
        fixed_costs(stage, prices),
    )


def size_cost(m: JobMeasures, stage: StageFacts, p: PriceList, leads: int, *, records: int) -> SizeCost:
    """Per dirty event at `leads` leads, `records` to an invocation: the invocation's billed time is the records'
    durations together, rounded up to the millisecond once."""
    price, limits, month = p.prices, p.limits, p.seconds_per_month
    invocations = 1 / records
    billed_ms = math.ceil(records * m.duration_ms(leads))
    message_chunks = math.ceil(MAX_ENVELOPE_BYTES / limits.sqs_request_chunk_bytes)
    receive_chunks = math.ceil(records * MAX_ENVELOPE_BYTES / limits.sqs_request_chunk_bytes)
    # The app's send, the event source's receive and its batch delete, and what the function sends itself.
    sqs_requests = message_chunks + invocations * (receive_chunks + 1) + m.function_sqs
    log_gib = (m.log_bytes + invocations * p.assumptions.platform_log_bytes_per_invocation.value) / GIB
    stored_months = stage.log_retention_days * 24 / p.hours_per_month
    item_gib = (m.dynamodb_bytes + limits.dynamodb_item_overhead_bytes) / GIB
    kept_s = stage.idempotency_ttl_seconds + p.assumptions.ttl_deletion_lag_hours.value * 3600
    write_units = m.requests(DYNAMODB_WRITES) * units(m.dynamodb_bytes, limits.dynamodb_write_unit_bytes)
    read_units = m.requests(DYNAMODB_READS) * units(m.dynamodb_bytes, limits.dynamodb_read_unit_bytes)
    per_event = {
        "Lambda requests": invocations * price.lambda_requests_per_million / 1e6,
        "Lambda duration": billed_ms * invocations / 1000 * stage.memory_mb / 1024 * price.lambda_arm64_gb_second,
        "SQS requests": sqs_requests * price.sqs_requests_per_million / 1e6,
        "DynamoDB writes": write_units * price.dynamodb_write_units_per_million / 1e6,
        "DynamoDB reads": read_units * price.dynamodb_read_units_per_million / 1e6,
        "DynamoDB storage": item_gib * kept_s / month * price.dynamodb_storage_gb_month,
        "CloudWatch Logs ingestion": log_gib * price.logs_ingested_gb,
        "CloudWatch Logs storage": log_gib * stored_months * price.logs_stored_gb_month,
    }
    lines = [Line(service, cost, tuple(cost * rate * month for rate in RATES)) for service, cost in per_event.items()]
    if stage.tracing:
        lines.append(_xray(p, invocations))
    return SizeCost(leads, records, m.duration_ms(leads), billed_ms, tuple(lines))


def _xray(p: PriceList, invocations: float) -> Line:
    """Traces: the first invocation each second, then a share of the rest. Per event, the share (what one more
    event adds at any rate past the first each second); a month, both."""
    reservoir, share = p.assumptions.xray_reservoir_per_second.value, p.assumptions.xray_sampled_share.value
    price = p.prices.xray_traces_per_million / 1e6
    monthly = tuple(
        (min(rate * invocations, reservoir) + share * max(rate * invocations - reservoir, 0))
        * p.seconds_per_month
        * price
        for rate in RATES
    )
    return Line("X-Ray traces", share * invocations * price, monthly)


def fixed_costs(stage: StageFacts, p: PriceList) -> tuple[Fixed, ...]:
    """What the stage costs a month with no event at all (the sweeps' Lambda time aside: not measured)."""
    price, hours = p.prices, p.hours_per_month
    idle_receives = stage.queues * p.assumptions.idle_receives_per_queue_per_minute.value * 60 * hours
    sweeps = stage.sweeps_per_hour * hours
    # Each sweep: the schedule's invocation and send, the event source's receive and delete, one Lambda request.
    sweep_cost = sweeps * (
        price.scheduler_invocations_per_million + 3 * price.sqs_requests_per_million + price.lambda_requests_per_million
    )
    return (
        Fixed(
            "interface endpoints (per zone)",
            stage.endpoint_zones,
            stage.endpoint_zones * hours * price.interface_endpoint_zone_hour,
        ),
        Fixed("alarms", stage.alarms, stage.alarms * price.alarm_month),
        Fixed("dashboards", stage.dashboards, stage.dashboards * price.dashboard_month),
        Fixed("KMS keys", stage.kms_keys, stage.kms_keys * price.kms_key_month),
        Fixed("custom metrics (at most)", stage.custom_metrics, stage.custom_metrics * price.custom_metric_month),
        Fixed("empty receives of idle queues", idle_receives, idle_receives * price.sqs_requests_per_million / 1e6),
        Fixed("sweeps (a schedule invocation, 3 SQS requests and a Lambda request each)", sweeps, sweep_cost / 1e6),
    )
