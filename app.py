#!/usr/bin/env python3
"""CDK app entry: builds the stack of the stage named by `-c stage=NAME` from cdk.json context, nothing else."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, load_stage
from infra.stack import RecountStack

app = cdk.App()
try:
    stage, config = load_stage(
        app.node.try_get_context("recount:stages")
        and {
            "recount:stages": app.node.try_get_context("recount:stages"),
            "recount:defaultStage": app.node.try_get_context("recount:defaultStage"),
        },
        app.node.try_get_context("stage"),
    )
except ConfigError as error:
    sys.exit(f"error: {error}")
RecountStack(
    app,
    f"recount-{stage}",
    stage=stage,
    config=config,
    env=cdk.Environment(account=config.account, region=config.region),
    description=f"recount ({stage}): fresh inbox counts and analytics",
)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
app.synth()
