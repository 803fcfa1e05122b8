"""Bad or inconsistent stage settings stop the synth with a clear message."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, StageConfig, load_stage
from infra.config_functions import POWERTOOLS_VERSION, FunctionConfig
from shared.topology import FunctionKey
from tests.infra.conftest import cdk_context, run_app


def with_dev(change: dict[str, Any]) -> dict[str, Any]:
    context = copy.deepcopy(cdk_context())
    dev = context["recount:stages"]["dev"]
    for path, value in change.items():
        target = dev
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return context


def test_the_committed_stages_are_valid() -> None:
    for stage in cdk_context()["recount:stages"]:
        name, config = load_stage(cdk_context(), stage)
        assert name == stage
        caps = config.inbox.reserved_concurrency + config.analytics.reserved_concurrency
        assert caps + config.sweeper.reserved_concurrency <= config.database_connection_budget


def test_every_function_key_names_a_stage_field_of_function_settings() -> None:
    # StageConfig.function(key) reads the field the key names: a new function needs both.
    for key in FunctionKey:
        assert StageConfig.model_fields[key.value].annotation is FunctionConfig, key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"databaseConnectionBudget": 5}, "over the database connection budget of 5"),
        ({"inbox.maxConcurrency": 7}, "inbox.maxConcurrency (7) is over its reservedConcurrency (6)"),
        ({"countsHighMaxConcurrency": 3}, "the counts and counts-high sources may run 7 at once"),
        ({"visibilityTimeoutFactor": 5}, "visibilityTimeoutFactor: Input should be greater than or equal to 6"),
        ({"maxReceiveCount": 3}, "maxReceiveCount: Input should be greater than or equal to 5"),
        ({"databaseSecretArn": "recount/dev/database"}, "databaseSecretArn: String should match pattern"),
        ({"logRetentionDays": 10}, "logRetentionDays must be one of"),
        ({"inbox.timeoutSeconds": 5}, "inbox.timeoutSeconds: Input should be greater than or equal to 10"),
        ({"inbox.batchSize": 11}, "inbox.batchSize: Input should be less than or equal to 10"),
        ({"unknownSetting": 1}, "unknownSetting: Extra inputs are not permitted"),
        ({"timeBudgetMarginMs": 10000}, "timeBudgetMarginMs (10000) is less than what may follow a record's work"),
        (
            {"inbox.timeoutSeconds": 46},
            "inbox.timeoutSeconds (46) leaves 34750 ms after timeBudgetMarginMs (11250), less than the longest one "
            "record's work may take (36000 ms)",
        ),
        # A cluster's worst case: each Redis command may be redirected and refreshed, the publish is two commands
        ({"redisCluster": True}, "timeBudgetMarginMs (11250) is less than what may follow a record's work (34000 ms"),
        (
            {"redisCluster": True, "timeBudgetMarginMs": 34000},
            "inbox.timeoutSeconds (50) leaves 16000 ms after timeBudgetMarginMs (34000), less than the longest one "
            "record's work may take (81750 ms with redisCluster)",
        ),
        (
            {"redisCluster": True, "timeBudgetMarginMs": 34000, "inbox.timeoutSeconds": 115},
            "inbox.timeoutSeconds (115) leaves 81000 ms after timeBudgetMarginMs (34000)",
        ),
    ],
    ids=lambda value: str(value)[:40],
)
def test_inconsistent_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_stage(with_dev(change), "dev")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_cluster_stage_with_room_for_its_worst_case_says_so_to_its_functions() -> None:
    change = {f"{name}.timeoutSeconds": 116 for name in ("inbox", "analytics", "sweeper")}
    _, config = load_stage(with_dev({**change, "redisCluster": True, "timeBudgetMarginMs": 34000}), "dev")
    assert config.function_settings()["REDIS_CLUSTER"] == "true"
    _, single = load_stage(cdk_context(), "dev")
    assert "REDIS_CLUSTER" not in single.function_settings()  # auto: found on the first redirection


def test_a_name_suffix_renames_every_physical_name_so_a_stage_deploys_beside_what_it_retained(
    tmp_path: Path,
) -> None:
    result = run_app(tmp_path, {**with_dev({"nameSuffix": "b2"}), "stage": "dev"})
    assert result.returncode == 0, result.stderr
    resources = json.loads((tmp_path / "recount-dev.template.json").read_text())["Resources"]
    names = [
        value
        for resource in resources.values()
        for key, value in resource.get("Properties", {}).items()
        if key in {"QueueName", "TableName", "FunctionName", "LogGroupName"} and isinstance(value, str)
    ]
    assert len(names) >= 12  # nine queues, the table, three functions
    assert all(name.startswith(("recount-dev-b2-", "/aws/lambda/recount-dev-b2-")) for name in names), names


def test_a_stage_with_tracing_off_deploys_untraced_functions_that_skip_the_xray_sdk(tmp_path: Path) -> None:
    # Given a stage that turns tracing off (on unless a stage says so: the committed stages trace)
    assert all(stage.get("tracing", True) for stage in cdk_context()["recount:stages"].values())
    # When it is synthesized
    result = run_app(tmp_path, {**with_dev({"tracing": False}), "stage": "dev"})
    # Then every function is untraced and told so, so shared.telemetry makes no Tracer
    assert result.returncode == 0, result.stderr
    resources = json.loads((tmp_path / "recount-dev.template.json").read_text())["Resources"]
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 3
    for function in functions:
        assert function.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
        assert function["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"


def test_an_unknown_stage_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown stage 'qa': cdk\.json defines dev, prod"):
        load_stage(cdk_context(), "qa")


def test_the_synth_stops_with_one_line_on_bad_settings(tmp_path: Path) -> None:
    result = run_app(tmp_path, {**with_dev({"databaseConnectionBudget": 5}), "stage": "dev"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: stage 'dev' in cdk.json is invalid:")
    assert not (tmp_path / "recount-dev.template.json").exists()


def test_a_stage_may_restate_the_pinned_powertools_version_but_never_differ() -> None:
    assert load_stage(with_dev({"powertoolsVersion": POWERTOOLS_VERSION}), "dev")[1].powertools_version
    with pytest.raises(ConfigError, match="differs from the"):
        load_stage(with_dev({"powertoolsVersion": "3.1.0"}), "dev")
