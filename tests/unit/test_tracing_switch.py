"""Tracing follows Powertools' own rule, and when it is off a handler's cold start imports no X-Ray SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import telemetry

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("environment", "on"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({}, False),  # outside Lambda: no daemon to send segments to
    ],
)
def test_tracing_is_on_only_in_lambda_unless_disabled(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], on: bool
) -> None:
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert telemetry.tracing_enabled() is on


def test_with_tracing_off_the_handler_is_not_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")

    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        return event

    assert telemetry.capture_lambda_handler(handler) is handler


@pytest.mark.parametrize("function", ["inbox_counts_recompute", "analytics_recompute", "sweeper"])
def test_a_handler_with_tracing_off_starts_without_the_xray_sdk(function: str) -> None:
    # Given a fresh interpreter in a Lambda-like environment, tracing off
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(ROOT),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "IDEMPOTENCY_TABLE_NAME": "table",
        "PYTHONPATH": str(ROOT),
    }
    code = f"import sys, functions.{function}.handler; print('aws_xray_sdk' in sys.modules)"
    # When the handler module is imported
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    # Then the X-Ray SDK was not
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
