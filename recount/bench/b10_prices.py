"""B10's list prices, AWS's limits and the assumptions it cannot measure, read from one dated data file
(`aws_prices.json`): prices change, and a report must say which ones it used and from when."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

PRICES_FILE = Path(__file__).resolve().parent / "aws_prices.json"
_STRICT = ConfigDict(extra="forbid", frozen=True)


class UnitPrices(BaseModel):
    """List prices in the file's currency: per million requests or units, per GB (2^30 bytes), per month, per
    hour."""

    model_config = _STRICT

    lambda_requests_per_million: float = Field(gt=0)
    lambda_arm64_gb_second: float = Field(gt=0)
    sqs_requests_per_million: float = Field(gt=0)
    dynamodb_write_units_per_million: float = Field(gt=0)
    dynamodb_read_units_per_million: float = Field(gt=0)
    dynamodb_storage_gb_month: float = Field(gt=0)
    logs_ingested_gb: float = Field(gt=0)
    logs_stored_gb_month: float = Field(gt=0)
    custom_metric_month: float = Field(gt=0)
    alarm_month: float = Field(gt=0)
    dashboard_month: float = Field(gt=0)
    kms_key_month: float = Field(gt=0)
    interface_endpoint_zone_hour: float = Field(gt=0)
    xray_traces_per_million: float = Field(gt=0)
    scheduler_invocations_per_million: float = Field(gt=0)


class ServiceLimits(BaseModel):
    """AWS's documented sizes and default quotas the model and the limits need."""

    model_config = _STRICT

    lambda_memory_mb_per_vcpu: int = Field(gt=0)  # a function of this memory has the equivalent of one vCPU
    lambda_account_concurrency: int = Field(gt=0)
    lambda_unreserved_concurrency: int = Field(ge=0)  # what reservations must leave to the account's others
    sqs_in_flight_per_queue: int = Field(gt=0)
    sqs_request_chunk_bytes: int = Field(gt=0)  # a request is billed per chunk of this size
    dynamodb_write_unit_bytes: int = Field(gt=0)
    dynamodb_read_unit_bytes: int = Field(gt=0)
    dynamodb_item_overhead_bytes: int = Field(ge=0)  # counted in an item's stored size
    dynamodb_new_on_demand_table_writes_per_second: int = Field(gt=0)
    dynamodb_table_writes_per_second: int = Field(gt=0)


class Assumption(BaseModel):
    """A figure the run cannot measure, with why it has the value it has: the report states each one."""

    model_config = _STRICT

    value: float = Field(ge=0)
    why: str = Field(min_length=1)


class Assumptions(BaseModel):
    model_config = _STRICT

    platform_log_bytes_per_invocation: Assumption
    idle_receives_per_queue_per_minute: Assumption
    xray_reservoir_per_second: Assumption
    xray_sampled_share: Assumption
    ttl_deletion_lag_hours: Assumption


class PriceList(BaseModel):
    """The whole file: when and where the prices held, where they come from, and what they are."""

    model_config = _STRICT

    as_of: date
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    source: str = Field(min_length=1)
    hours_per_month: float = Field(gt=0)
    prices: UnitPrices
    limits: ServiceLimits
    assumptions: Assumptions

    @property
    def seconds_per_month(self) -> float:
        return self.hours_per_month * 3600


def load_prices(path: Path = PRICES_FILE) -> PriceList:
    return PriceList.model_validate(json.loads(path.read_text()))
