"""preflight: run before `cdk deploy`, with the deploying credentials; read-only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recount.cli.app import JsonOutput, Region, err, fail, guarded, out

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"  # this checkout's, as infra.config reads it


def preflight_command(
    stage: Annotated[
        str | None, typer.Option("--stage", help="The cdk.json stage (default: its defaultStage).")
    ] = None,
    region: Region = None,
    connect: Annotated[
        bool, typer.Option("--connect", help="Also reach PostgreSQL and Redis from here, and check the schema.")
    ] = False,
    cdk_json: Annotated[Path, typer.Option("--cdk-json", help="The cdk.json to read the stage from.")] = CDK_JSON,
    as_json: JsonOutput = False,
) -> None:
    """Check what a deploy of the stage would meet in its account, one row per check; exit 1 on a blocker."""
    from infra.config import ConfigError, load_stage
    from recount import render
    from recount.commands.preflight import run_preflight

    try:
        name, config = load_stage(json.loads(cdk_json.read_text())["context"], stage)
    except (ConfigError, OSError, KeyError, ValueError) as error:
        fail(f"cannot read the stage from {cdk_json}: {error}")
    report = guarded(lambda: run_preflight(name, config, region=region, connect=connect))
    render.render_preflight(out, report, as_json)
    if report.blockers:
        for check in report.blockers:
            err.print(f"[red]blocker:[/red] {check.name}: {check.detail} [dim]({check.fix})[/dim]", soft_wrap=True)
        raise typer.Exit(1)
