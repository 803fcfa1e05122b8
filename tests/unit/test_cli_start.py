"""The operator CLI starts on typer and rich alone: `recount --help` and each command's --help import none of
what the commands run (boto3, the drivers, moto, the local runtime, the commands' own modules). Checked by what
is imported, not by a timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Not pydantic: typer itself imports it (when installed) to read a command's parameters (typer._adapters).
HEAVY = ("boto3", "botocore", "pg8000", "redis", "moto", "aws_lambda_powertools", "aws_xray_sdk", "matplotlib")
HEAVY_OWN = ("recount.local.pipeline", "recount.commands", "recount.render", "shared.adapters", "infra")


def imported_by(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "recount", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


@pytest.mark.parametrize(
    "command", [[], ["send"], ["status"], ["verify"], ["dlq", "peek"], ["preflight"], ["demo"], ["local"], ["bench"]]
)
def test_help_imports_nothing_a_command_runs(command: list[str]) -> None:
    modules = imported_by(*command, "--help")
    assert "typer" in modules and "recount.cli" in modules  # the probe sees imports at all
    # The local runtime's commands are registered from recount.local.commands; nothing else of it may load.
    local = {m for m in modules if m.startswith("recount.local.")} - {"recount.local.commands"}
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY_OWN) or m in local)
    assert heavy == [], f"{' '.join(command) or 'recount'} --help imports {heavy[:8]}"
