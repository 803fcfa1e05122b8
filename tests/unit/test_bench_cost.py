"""B10's cost model against hand-computed figures for a small job, the dated price file, the stage read from
cdk.json, and the section that renders them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from infra.config import StageConfig
from recount.bench.b1_recompute import B1Report, B1Result, Timing, Workspaces
from recount.bench.b2_io import B2Result, JobIo
from recount.bench.b10_cost import RATES, B10Result, JobMeasures, estimate, measures
from recount.bench.b10_limits import scale_limits
from recount.bench.b10_prices import PRICES_FILE, PriceList, load_prices
from recount.bench.b10_stage import PRICED_STAGE, StageFacts, alarm_count, stage_facts
from recount.bench.outcome import NotRun, both
from recount.bench.sections.b10_cost import b10, money

MONTH_S = 730 * 3600  # the test prices' month
GIB = 2**30


def _prices(**assumed: float) -> PriceList:
    """Round prices, so the expectations below can be worked by hand."""
    document: dict[str, Any] = json.loads(PRICES_FILE.read_text())
    document["hours_per_month"] = 730
    document["prices"].update(
        lambda_requests_per_million=0.2,
        lambda_arm64_gb_second=0.00001,
        sqs_requests_per_million=0.4,
        dynamodb_write_units_per_million=1.0,
        dynamodb_read_units_per_million=0.25,
        dynamodb_storage_gb_month=0.25,
        logs_ingested_gb=0.5,
        logs_stored_gb_month=0.03,
        alarm_month=0.1,
        dashboard_month=3.0,
        kms_key_month=1.0,
        custom_metric_month=0.3,
        interface_endpoint_zone_hour=0.01,
        xray_traces_per_million=5.0,
        scheduler_invocations_per_million=1.0,
    )
    defaults = {"platform_log_bytes_per_invocation": 0, "ttl_deletion_lag_hours": 0}
    for name, value in {**defaults, **assumed}.items():
        document["assumptions"][name]["value"] = value
    return PriceList.model_validate(document)


def _stage(**changes: Any) -> StageFacts:
    stage = StageFacts(
        name="prod",
        region="us-east-1",
        architecture="arm64",
        memory_mb=1024,
        batch_size=10,
        batching_window_s=1,
        timeout_s=50,
        reserved=20,
        normal_sources=14,
        high_sources=6,
        others_reserved=6,
        connection_budget=40,
        tracing=False,
        log_retention_days=30,
        idempotency_ttl_seconds=3600,
        sweeps_per_hour=64,
        sweeper_memory_mb=512,
        analytics_enabled=False,
        queues=4,
        alarms=13,
        dashboards=1,
        kms_keys=1,
        custom_metrics=54,
        endpoint_zones=0,
        endpoint_services=(),
    )
    return replace(stage, **changes)


def _job(**changes: Any) -> JobMeasures:
    """One job: two DynamoDB writes (600 bytes of requests), no SQS request of its own, a handler of 60 ms of which
    10 ms in the calls B1's job makes, so 50 ms around a job of 50 ms at 1,000 leads: 100 ms in all."""
    job = JobMeasures(
        handler_ms=60.0,
        recompute_calls_ms=10.0,
        warm_jobs=3,
        dynamodb={"PutItem": 1, "UpdateItem": 1},
        dynamodb_bytes=600,
        function_sqs=0,
        redis_commands=2,
        postgres_statements=4,
        log_bytes=1024,
        job_ms={1_000: 50.0},
        statement_ms={1_000: 20.0},
        analytics_ms={1_000: 8.0},
    )
    return replace(job, **changes)


def test_given_one_job_of_100_ms_at_1024_mb_then_each_service_costs_what_the_prices_make_of_it() -> None:
    """Per event: one invocation of 100 ms at 1 GB; the app's send, the event source's receive and delete; two
    one-unit writes; 1 KiB of log kept 30 days."""
    (size,) = estimate(_job(), _stage(), _prices()).sizes

    assert size.billed_ms == 100 and size.records == 1
    per_million = {line.service: line.per_million for line in size.lines}
    assert per_million["Lambda requests"] == pytest.approx(0.20)
    assert per_million["Lambda duration"] == pytest.approx(1e6 * 0.1 * 1.0 * 0.00001)  # $1.00
    assert per_million["SQS requests"] == pytest.approx(3 * 0.40)
    assert per_million["DynamoDB writes"] == pytest.approx(2 * 1 * 1.00)
    assert per_million["DynamoDB reads"] == 0
    assert per_million["DynamoDB storage"] == pytest.approx(1e6 * (600 + 100) / GIB * 3600 / MONTH_S * 0.25)
    assert per_million["CloudWatch Logs ingestion"] == pytest.approx(1e6 * 1024 / GIB * 0.5)
    assert per_million["CloudWatch Logs storage"] == pytest.approx(1e6 * 1024 / GIB * (30 * 24 / 730) * 0.03)
    assert "X-Ray traces" not in per_million  # the stage does not trace
    assert size.per_million == pytest.approx(sum(per_million.values()))
    # a month at 10 events/s: 26.28 million events
    assert size.line("Lambda requests").monthly[0] == pytest.approx(0.2e-6 * 10 * MONTH_S)
    assert size.monthly(2) == pytest.approx(size.per_million * 1000 * MONTH_S / 1e6)


def test_given_a_job_of_a_fraction_of_a_millisecond_more_then_lambda_bills_the_next_millisecond() -> None:
    (size,) = estimate(_job(job_ms={1_000: 50.2}), _stage(), _prices()).sizes

    assert size.billed_ms == 101
    assert size.line("Lambda duration").per_million == pytest.approx(1e6 * 0.101 * 0.00001)


def test_given_full_batches_then_one_invocation_receive_and_delete_serve_the_batch() -> None:
    (batched,) = estimate(_job(), _stage(batch_size=10), _prices()).batched

    assert batched.records == 10 and batched.billed_ms == 1000  # ten records of 100 ms, rounded once
    assert batched.line("Lambda requests").per_million == pytest.approx(0.02)
    # the send (1), a tenth of a receive of up to ten 8 KiB bodies (2 chunks of 64 KiB) and of a delete (1)
    assert batched.line("SQS requests").per_million == pytest.approx((1 + (2 + 1) / 10) * 0.40)


def test_given_tracing_then_x_ray_traces_the_first_each_second_and_a_share_of_the_rest() -> None:
    (size,) = estimate(_job(), _stage(tracing=True), _prices()).sizes

    xray = size.line("X-Ray traces")
    assert xray.per_million == pytest.approx(0.05 * 5.0)
    assert xray.monthly[0] == pytest.approx((1 + 0.05 * 9) * MONTH_S * 5.0 / 1e6)  # 10/s: 1 + 5 % of 9


def test_given_larger_requests_then_a_write_takes_a_unit_per_started_kilobyte() -> None:
    result = estimate(_job(dynamodb_bytes=2_500), _stage(), _prices())

    assert result.write_units == 3 and result.read_units == 1
    assert result.sizes[0].line("DynamoDB writes").per_million == pytest.approx(2 * 3 * 1.00)


def test_the_fixed_costs_count_what_the_stage_builds() -> None:
    fixed = {item.item: item for item in estimate(_job(), _stage(endpoint_zones=6), _prices()).fixed}

    assert fixed["interface endpoints (per zone)"].monthly == pytest.approx(6 * 730 * 0.01)
    assert fixed["alarms"].monthly == pytest.approx(13 * 0.10)
    assert fixed["dashboards"].monthly == 3.0 and fixed["KMS keys"].monthly == 1.0
    assert fixed["custom metrics (at most)"].monthly == pytest.approx(54 * 0.30)
    assert fixed["empty receives of idle queues"].count == 4 * 15 * 60 * 730
    assert fixed["sweeps (a schedule invocation, 3 SQS requests and a Lambda request each)"].monthly == pytest.approx(
        64 * 730 * (1.0 + 3 * 0.4 + 0.2) / 1e6
    )


def test_the_limits_follow_the_stage_caps_and_the_job_times() -> None:
    limits = scale_limits(estimate(_job(), _stage(), _prices()))

    (size,) = limits.sizes
    assert size.inbox_events_per_s == pytest.approx(20 / 0.1) and size.normal_events_per_s == pytest.approx(140)
    assert size.workspace_recomputes_per_s == pytest.approx(20)  # one 50 ms job at a time
    assert size.concurrency == pytest.approx(tuple(rate * 0.1 for rate in RATES))
    assert size.postgres_busy == pytest.approx(tuple(rate * 0.02 for rate in RATES))
    assert limits.inbox_reservation_ceiling == 40 - 6 and limits.budget_bound
    assert limits.dynamodb_writes_per_event == 2 and limits.dynamodb_table_events_per_s == 20_000
    # each message in flight for the 1 s window and its batch: 10 jobs of 0.1 s, one after another
    assert limits.sqs_in_flight_events_per_s == pytest.approx(120_000 / (1 + 10 * 0.1))


def test_the_price_file_is_dated_placed_and_sourced() -> None:
    prices = load_prices()

    assert isinstance(prices.as_of, date) and prices.as_of <= date.today()
    assert prices.region and prices.currency == "USD" and "pricing pages" in prices.source
    assert all(entry["why"] for entry in prices.assumptions.model_dump().values())


def test_the_priced_stage_is_read_from_cdk_json_with_its_endpoints_per_zone() -> None:
    context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
    settings = context["recount:stages"][PRICED_STAGE]
    vpc = {
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "availabilityZones": ["us-east-1a", "us-east-1b"],
        "ports": [5432],
        "endpoints": {"sqs": True, "secretsManager": True},
    }
    facts = stage_facts(PRICED_STAGE, StageConfig.model_validate({**settings, "vpc": vpc}))

    assert (
        facts.memory_mb == settings["inbox"]["memoryMb"] and facts.reserved == settings["inbox"]["reservedConcurrency"]
    )
    assert facts.endpoint_zones == 2 * 2 and facts.alarms == alarm_count()
    assert facts.reserved_total == sum(settings[f]["reservedConcurrency"] for f in ("inbox", "analytics", "sweeper"))


def _b1() -> B1Report:
    return B1Report(
        Workspaces({"a": 1_000}, 1_000, 1.0),
        [B1Result(1_000, Timing(30.0, 20.0), Timing(40.0, 35.0), 0.0, job_ms=50.0, analytics_ms=8.0)],
        repeats=1,
        jit_available=True,
        jit_default="off",
    )


def _b2(operations: dict[str, int]) -> B2Result:
    """Three warm jobs timed: handlers of 58, 75 and 60 ms (median 60), 9, 10 and 14 ms of them in the calls B1's
    job makes (median 10); each job's own difference (49, 65, 46: median 49) is not what B10 takes. The cold job's
    time is not a warm one."""
    warm = JobIo(
        trips={"PostgreSQL": 4, "Redis": 2, "AWS": 2},
        sent={"PostgreSQL": 4, "Redis": 2, "DynamoDB": sum(operations.values()), "SQS": 0},
        operations={"DynamoDB": operations, "SQS": {}},
        body_bytes={"DynamoDB": 600, "SQS": 0},
        handler_ms=58.0,
        recompute_calls_ms=9.0,
        log_bytes=1024,
    )
    timed = (
        warm,
        replace(warm, handler_ms=75.0, recompute_calls_ms=10.0),
        replace(warm, handler_ms=60.0, recompute_calls_ms=14.0),
    )
    return B2Result(cold=replace(warm, handler_ms=500.0, recompute_calls_ms=400.0), warm=warm, timed=timed)


def test_given_b1_and_b2_then_the_measures_are_theirs_and_an_unknown_request_stops_b10() -> None:
    assert measures(_b1(), _b2({"PutItem": 1, "UpdateItem": 1})) == _job()
    with pytest.raises(ValueError, match="TransactWriteItems"):
        measures(_b1(), _b2({"TransactWriteItems": 1}))
    with pytest.raises(ValueError, match="did not time"):
        measures(_b1(), replace(_b2({"PutItem": 1}), timed=()))


def test_a_duration_is_the_handler_less_the_calls_b1s_job_makes_plus_b1s_job_at_the_size() -> None:
    """Each part once: the median handler less the median of its calls B1's job also times, then B1's job at each
    size; nothing of B2's own job's time stays in, whole milliseconds or not. To the hundredth of a millisecond, as
    printed."""
    job = _job(handler_ms=61.4, recompute_calls_ms=10.7, job_ms={1_000: 50.25, 100_000: 400.4})

    assert job.around_job_ms == 50.7
    assert job.duration_ms(1_000) == 100.95 and job.duration_ms(100_000) == 451.1
    result = estimate(job, _stage(batch_size=10), _prices())
    assert [size.billed_ms for size in result.sizes] == [101, 452]
    assert [size.billed_ms for size in result.batched] == [1010, 4511]  # ten of 451.1 ms: 4,511 ms, not 4,512


def test_given_times_finer_than_a_hundredth_of_a_millisecond_then_b10_takes_them_as_it_prints_them() -> None:
    b2 = _b2({"PutItem": 1, "UpdateItem": 1})
    b2 = replace(b2, timed=tuple(replace(job, handler_ms=job.handler_ms + 0.004) for job in b2.timed))
    b1 = _b1()
    b1 = replace(b1, rows=[replace(b1.rows[0], job_ms=50.0049)])

    assert measures(b1, b2) == _job()  # 60.004 and 50.0049 taken as 60.00 and 50.00


def test_given_b2_failed_then_b10_is_not_run_and_says_why() -> None:
    failed: B2Result | NotRun = NotRun("RuntimeError: moto")
    what, outcome = both(("B1", _b1()), ("B2", failed))

    assert what == "B1 and B2" and outcome == NotRun("B2: RuntimeError: moto")
    assert "**Not run** in this run: B2: RuntimeError: moto" in "\n".join(b10(NotRun("B2: RuntimeError: moto")))


def test_the_section_renders_the_tables_from_the_result() -> None:
    result: B10Result = estimate(_job(), _stage(tracing=True, analytics_enabled=True), _prices())
    text = "\n".join(b10(result))

    assert text.startswith("## B10") and "Stage `prod`" in text and "1,024 MB on arm64" in text
    assert "its logs kept 30 days and its idempotency records 1 hour (what the storage lines below price)" in text
    assert "one workspace's recomputes/s (1 s ÷ B1's job) |" in text
    assert "a clean one (its lock query, then no recompute and no DynamoDB request)" in text
    assert "logs stored at the bytes ingested (CloudWatch bills stored logs compressed" in text
    size = result.sizes[0]
    assert f"| 1,000 | 100.0 | 100 | **{money(size.per_million)}** |" in text
    assert (
        "Across B2's 3 warm jobs, each a new dirty event for a workspace of its own, the handler took a median "
        "60.00 ms, and `Recompute`'s `begin` and `finish` in it a median 10.00 ms" in text
    )
    assert "The rest, 50.00 ms, is what only the handler does" in text and "PutItem 1 and UpdateItem 1" in text
    assert "50.00 + 50.00 = 100.00 ms at 1,000 leads" in text
    assert f"| Lambda requests | $0.20 | {money(0.2e-6 * 10 * MONTH_S)} |" in text
    assert f"| alarms | 13 | {money(1.3)} |" in text and "*Assumed:* `ttl_deletion_lag_hours`" in text
    assert "| 1,000 | 100.0 | 200 | 140 | 20.0 |" in text  # where scale stops
    assert "analytics statement took 8.0 to 8.0 ms" in text and "X-Ray's per-million figure" in text


def test_money_keeps_two_significant_digits_below_a_cent() -> None:
    assert [money(v) for v in (1234.5, 12.345, 0.0123, 0.00042, 0)] == [
        "$1,234",
        "$12.35",
        "$0.01",
        "$0.00042",
        "$0.00",
    ]
