"""The Powertools environment variables recount sets, by name: Powertools reads them, the stack and the local
runtime set them. Spelled out here so that infra/ sets them without importing Powertools; each equals its
constant in aws_lambda_powertools/shared/constants.py (tests/unit/test_powertools_env.py checks)."""

from __future__ import annotations

SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"  # constants.SERVICE_NAME_ENV
METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"  # constants.METRICS_NAMESPACE_ENV
TRACER_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"  # constants.TRACER_DISABLED_ENV
