"""The Powertools environment names recount spells out are Powertools' own, and infra/ loads no Powertools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aws_lambda_powertools.shared import constants

from shared.contracts import powertools_env

ROOT = Path(__file__).resolve().parents[2]


def test_each_name_equals_the_constant_powertools_reads() -> None:
    assert powertools_env.SERVICE_NAME_ENV == constants.SERVICE_NAME_ENV
    assert powertools_env.METRICS_NAMESPACE_ENV == constants.METRICS_NAMESPACE_ENV
    assert powertools_env.TRACER_DISABLED_ENV == constants.TRACER_DISABLED_ENV


def test_importing_the_stack_loads_no_powertools() -> None:
    # Given a fresh interpreter, when it imports the CDK app's stack, then no Powertools module is loaded
    probe = "import sys, infra.stack; print(sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools')))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
