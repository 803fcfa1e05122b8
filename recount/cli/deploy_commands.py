"""preflight: run before `cdk deploy`, with the deploying credentials; read-only. accept: run after it."""

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
    from recount.commands.preflight import run_preflight
    from recount.render import preflight as render

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


def accept_command(
    stack: Annotated[str, typer.Option("--stack", help="The deployed stack to accept.")],
    stage: Annotated[str | None, typer.Option("--stage", help="Its cdk.json stage [the stack's name].")] = None,
    region: Region = None,
    rate: Annotated[float, typer.Option("--rate", min=0.1, max=1000, help="Canary events per second.")] = 2.0,
    duration: Annotated[float, typer.Option("--duration", min=1, help="Seconds of canary sending.")] = 120.0,
    workspaces: Annotated[int, typer.Option("--workspaces", min=1, max=1000, help="Workspaces to sample.")] = 5,
    client_id: Annotated[
        list[str] | None, typer.Option("--client-id", help="Workspace id to use; repeat for several.")
    ] = None,
    settle: Annotated[
        float, typer.Option("--settle-s", min=0, help="Wait for CloudWatch to receive the run's last minute.")
    ] = 180.0,
    hold: Annotated[float, typer.Option("--hold-s", min=1, max=50, help="How long one workspace is held busy.")] = 15.0,
    cdk_json: Annotated[Path, typer.Option("--cdk-json", help="The cdk.json to read the stage from.")] = CDK_JSON,
    as_json: JsonOutput = False,
) -> None:
    """After `cdk deploy`: run the canary, force one transient failure, read back CloudWatch and the alarms, and
    say per claim whether this run proved it; exit 1 on any claim not proven."""
    from infra.config import ConfigError, load_stage
    from recount.cli.app import operate
    from recount.commands.accept import RunShape, run_acceptance
    from recount.commands.connections import target as resolve
    from recount.render.accept import render_acceptance

    if stage is None and stack.startswith("recount-"):
        stage = stack.removeprefix("recount-")
    try:
        name, config = load_stage(json.loads(cdk_json.read_text())["context"], stage)
    except (ConfigError, OSError, KeyError, ValueError) as error:
        fail(f"cannot read the stage from {cdk_json}: {error} (name it with --stage)", 2)
    if stack != f"recount-{name}":  # app.py names stage NAME's stack recount-NAME; its functions by the stage
        fail(f"--stack {stack} is not stage {name}'s stack (recount-{name}): name the matching --stage", 2)
    target = operate(lambda: resolve(stack, region))
    shape = RunShape(rate, duration, workspaces, client_id or [], settle, hold)
    report = operate(lambda: run_acceptance(target, stack, name, config, shape))
    render_acceptance(out, report, as_json)
    if report.misses:
        for claim in report.misses:
            err.print(f"[red]not proven:[/red] {claim.name}: {claim.figure} (threshold {claim.threshold})")
        raise typer.Exit(1)
