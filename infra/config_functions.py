"""The functions as a stage sizes them, and what they run on: the Python runtime, the Powertools layer pinned by
requirements.txt, each function's cap, batches and size, the alarms' thresholds and the log retentions
CloudWatch allows. Read by infra.config's StageConfig, the stack and the preflight."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from infra.config_access import STRICT

ROOT = Path(__file__).resolve().parent.parent
# Lambda's SQS event source: maximum concurrency is at least 2.
MIN_EVENT_SOURCE_CONCURRENCY = 2


def _pinned_version(package: str, requirements: Path = ROOT / "requirements.txt") -> str:
    """The version requirements.txt pins: the functions' layer must run what the tests ran."""
    match = re.search(
        rf"^{re.escape(package)}(\[[^\]]*\])?==(\d+\.\d+\.\d+)\s*$", requirements.read_text(), re.MULTILINE
    )
    if match is None:
        raise ValueError(f"{requirements.name} pins no {package}==<version>")
    return match.group(2)


# The Powertools layer's version: the one requirements.txt pins, stated nowhere else.
POWERTOOLS_VERSION = _pinned_version("aws-lambda-powertools")
# The functions' runtime and architecture (infra.job_function builds them; a template test holds them together;
# B10 prices Lambda's duration at this architecture's rate).
LAMBDA_PYTHON = "python3.14"
LAMBDA_ARCHITECTURE = "arm64"


def powertools_layer_parameter(version: str) -> str:
    """The public SSM parameter holding the ARN of AWS's Powertools layer (arm64) for `version` or "latest"."""
    return f"/aws/service/powertools/python/{LAMBDA_ARCHITECTURE}/{LAMBDA_PYTHON}/{version}"


class FunctionConfig(BaseModel):
    """One job function: its cap, its batches and its size."""

    model_config = STRICT

    reserved_concurrency: int = Field(
        alias="reservedConcurrency",
        ge=MIN_EVENT_SOURCE_CONCURRENCY,
        le=1000,
        description="the function's concurrency cap; the three must fit `databaseConnectionBudget`",
    )
    max_concurrency: int = Field(
        alias="maxConcurrency",
        ge=MIN_EVENT_SOURCE_CONCURRENCY,
        le=1000,
        description="per event source; the sources of one function share its cap",
    )
    batch_size: int = Field(alias="batchSize", ge=1, le=10, description="records per invocation")
    batching_window_seconds: int = Field(
        alias="batchingWindowSeconds", ge=0, le=300, description="how long a batch may gather"
    )
    timeout_seconds: int = Field(
        alias="timeoutSeconds",
        ge=10,
        le=900,
        description="must hold the longest work after `timeBudgetMarginMs` ([time budget](#time-budget))",
    )
    memory_mb: int = Field(alias="memoryMb", ge=128, le=10_240, description="the function's memory")


class AlarmConfig(BaseModel):
    """The alarms' thresholds and where they page."""

    model_config = STRICT

    oldest_message_age_seconds: int = Field(
        alias="oldestMessageAgeSeconds", ge=10, description="the age of a queue's oldest message that alarms"
    )
    freshness_p95_ms: int = Field(15_000, alias="freshnessP95Ms", ge=1_000, description="the freshness p95 that alarms")
    function_errors: int = Field(
        1, alias="functionErrors", ge=1, description="errors in a minute at or above which a function pages"
    )
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$", description="subscribed to the SNS topic")


# CloudWatch Logs' allowed retentions, by the name CDK's RetentionDays gives each.
VALID_LOG_RETENTION_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
