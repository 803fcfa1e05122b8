"""B3 runs every side with what Lambda sets that changes what a side does: given it, recount's inbox handler makes
its store adapters while it loads, as in Lambda's init phase, not on its first batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recount.bench.b3_cold_start import FUNCTION_NAME, setting_environment
from shared.contracts.settings import EnvVar

ROOT = Path(__file__).resolve().parents[2]
_MADE = """
import json
import functions.inbox_counts_recompute.handler as handler
made = vars(handler.consumer.clients)
print(json.dumps(sorted(name for name in ("db", "versions", "sqs", "idempotency") if name in made)))
"""


def _made_while_loading(environment: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _MADE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=True
    )
    made: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return made


def _base() -> dict[str, str]:
    # Nothing listens on these ports: an adapter that connected while the handler loads would fail the import.
    return {
        **{key: value for key, value in os.environ.items() if key not in FUNCTION_NAME},
        "PYTHONPATH": str(ROOT),
        EnvVar.IDEMPOTENCY_TABLE_NAME: "table",
        EnvVar.DATABASE_URL: "postgresql://bench@127.0.0.1:9/bench",
        EnvVar.REDIS_URL: "redis://127.0.0.1:9/0",
    }


@pytest.mark.parametrize("traced", [True, False], ids=["traced", "tracing off"])
def test_in_b3s_environment_the_inbox_handler_makes_its_store_adapters_while_it_loads(traced: bool) -> None:
    assert _made_while_loading(setting_environment(_base(), traced)) == ["db", "versions"]


def test_without_a_function_name_it_makes_them_on_its_first_batch() -> None:
    environment = {key: value for key, value in setting_environment(_base(), False).items() if key not in FUNCTION_NAME}
    assert _made_while_loading(environment) == []
