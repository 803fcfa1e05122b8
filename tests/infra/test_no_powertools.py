"""Synthesizing loads no Powertools: infra/ sets Powertools' environment by name (shared.contracts.powertools_env)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.infra.conftest import NODE, ROOT


def test_importing_the_stack_loads_no_powertools() -> None:
    # Given a fresh interpreter, when it imports the CDK app's stack, then no Powertools module is loaded
    probe = "import sys, infra.stack; print(sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools')))"
    environment = {**os.environ, **({"JSII_NODE": str(NODE)} if NODE.exists() else {})}
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
