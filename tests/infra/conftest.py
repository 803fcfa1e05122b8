"""Synthesize once per test session, through app.py exactly as `cdk synth` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / ".bin" / "node"


def cdk_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def run_app(outdir: Path, context: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """What the CDK CLI does for `cdk synth`: run the app with the context and an output directory."""
    environment = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    if NODE.exists():
        environment["JSII_NODE"] = str(NODE)
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="session")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    result = run_app(outdir, {**cdk_context(), "stage": "dev"})
    assert result.returncode == 0, result.stderr[-4000:]
    return outdir


@pytest.fixture(scope="session")
def template_json(cloud_assembly: Path) -> dict[str, Any]:
    return dict(json.loads((cloud_assembly / "recount-dev.template.json").read_text()))


@pytest.fixture(scope="session")
def prod_template_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("cdk.out.prod")
    result = run_app(outdir, {**cdk_context(), "stage": "prod"})
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads((outdir / "recount-prod.template.json").read_text()))


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(template_json)


@pytest.fixture(scope="session")
def resources(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template_json["Resources"])


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: r for logical_id, r in resources.items() if r["Type"] == kind}
