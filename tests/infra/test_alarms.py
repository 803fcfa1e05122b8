"""The alarms' arithmetic on the synthesized templates: each fires on what it names, and not below.

`verdict` is CloudWatch's evaluation of an alarm's own synthesized properties over its newest datapoints, so the
tests read what a deploy would do: Lambda publishes Errors=0 for every clean invocation, SQS publishes nothing
for an idle queue, recount publishes no freshness without a recompute.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match, Template

from tests.infra.conftest import cdk_context, of_type, run_app

STAGES = cdk_context()["recount:stages"]
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
MISSING_BREACHES = {"notBreaching": False, "breaching": True}


def verdict(alarm: dict[str, Any], datapoints: list[float | None]) -> str:
    """ALARM or OK for the newest EvaluationPeriods datapoints (None: no datapoint that minute)."""
    periods = alarm["EvaluationPeriods"]
    window = ([None] * periods + datapoints)[-periods:]
    compare = COMPARISONS[alarm["ComparisonOperator"]]
    missing = MISSING_BREACHES[alarm["TreatMissingData"]]  # KeyError: a treatment this model does not know
    breaching = sum(missing if value is None else compare(value, alarm["Threshold"]) for value in window)
    return "ALARM" if breaching >= alarm.get("DatapointsToAlarm", periods) else "OK"


def alarms_on(template_json: dict[str, Any], metric_name: str) -> list[dict[str, Any]]:
    found = [a["Properties"] for a in of_type(template_json["Resources"], "AWS::CloudWatch::Alarm").values()]
    return [a for a in found if a["MetricName"] == metric_name]


@pytest.fixture(scope="module")
def three_errors_template_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A stage that tolerates two errors a minute: `alarms.functionErrors` 3."""
    context = copy.deepcopy(cdk_context())
    stage = copy.deepcopy(STAGES["dev"])
    stage["alarms"]["functionErrors"] = 3
    context["recount:stages"]["errors3"] = stage
    outdir = tmp_path_factory.mktemp("cdk.out.errors3")
    result = run_app(outdir, {**context, "stage": "errors3"})
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads((outdir / "recount-errors3.template.json").read_text()))


@pytest.fixture(params=["dev", "prod", "errors3"])
def stage_template(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the stage's settings, its template) for each shipped stage and one with a threshold above 1."""
    fixture = {"dev": "template_json", "prod": "prod_template_json"}.get(request.param, "three_errors_template_json")
    settings = STAGES.get(request.param) or {
        **STAGES["dev"],
        "alarms": {**STAGES["dev"]["alarms"], "functionErrors": 3},
    }
    return settings, request.getfixturevalue(fixture)


def test_function_error_alarms_fire_at_the_stage_threshold_and_never_on_zero_errors(
    stage_template: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    settings, template_json = stage_template
    threshold = settings["alarms"]["functionErrors"]
    template = Template.from_json(template_json)
    (topic_id,) = of_type(template_json["Resources"], "AWS::SNS::Topic")
    # Given each function's Errors alarm as synthesized: at least the stage's threshold, pages the topic only
    topic = Capture()
    expected = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Period": 60,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": threshold,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": topic}],
        "OKActions": Match.absent(),
    }
    assert len(template.find_resources("AWS::CloudWatch::Alarm", {"Properties": expected})) == 3
    assert topic.as_string() == topic_id
    for alarm in alarms_on(template_json, "Errors"):
        # Then a minute of clean invocations (Sum 0) or of none at all is OK, one error short of it is OK,
        # and the threshold itself is ALARM
        assert verdict(alarm, [0]) == "OK"
        assert verdict(alarm, [None]) == "OK"
        assert verdict(alarm, [threshold - 1]) == "OK"
        assert verdict(alarm, [threshold]) == "ALARM"


def test_dead_letter_alarms_fire_on_one_message_and_stay_quiet_on_an_empty_or_idle_queue(
    stage_template: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, template_json = stage_template
    template = Template.from_json(template_json)
    expected = {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Statistic": "Maximum",
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": Match.any_value()}],
        "OKActions": Match.absent(),  # only an operator empties a DLQ: no second page for it
    }
    assert len(template.find_resources("AWS::CloudWatch::Alarm", {"Properties": expected})) == 5
    for alarm in alarms_on(template_json, "ApproximateNumberOfMessagesVisible"):
        assert verdict(alarm, [0]) == "OK" and verdict(alarm, [None]) == "OK"
        assert verdict(alarm, [1]) == "ALARM"


def test_backlog_age_alarms_fire_after_three_minutes_over_and_notify_when_the_backlog_drains(
    stage_template: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    settings, template_json = stage_template
    limit = settings["alarms"]["oldestMessageAgeSeconds"]
    template = Template.from_json(template_json)
    topic = Capture()
    expected = {
        "MetricName": "ApproximateAgeOfOldestMessage",
        "Statistic": "Maximum",
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": limit,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": topic}],
        "OKActions": [{"Ref": topic}],  # a backlog drains by itself: OK tells on-call it is over
    }
    assert len(template.find_resources("AWS::CloudWatch::Alarm", {"Properties": expected})) == 4
    for alarm in alarms_on(template_json, "ApproximateAgeOfOldestMessage"):
        assert verdict(alarm, [limit, limit, limit]) == "OK"
        assert verdict(alarm, [limit + 1] * 3) == "ALARM"
        # an idle queue publishes nothing: that is neither a breach nor the end of one that has data
        assert verdict(alarm, [None, limit + 1, limit + 1]) == "OK"
        assert verdict(alarm, [None, None, None]) == "OK"


def test_freshness_alarm_fires_on_three_slow_minutes_of_five_and_not_on_one(
    stage_template: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    settings, template_json = stage_template
    limit = settings["alarms"]["freshnessP95Ms"]
    template = Template.from_json(template_json)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "recount",
            "MetricName": "FreshnessLag",
            "ExtendedStatistic": "p95",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": limit,
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 3,
            "TreatMissingData": "notBreaching",
            "OKActions": [{"Ref": Match.any_value()}],
        },
    )
    (alarm,) = alarms_on(template_json, "FreshnessLag")
    slow = limit + 1
    assert verdict(alarm, [None, None, slow, None, None]) == "OK"  # one slow recompute in a quiet minute
    assert verdict(alarm, [limit] * 5) == "OK"
    assert verdict(alarm, [None] * 5) == "OK"  # no recompute, no lag
    # a breach on light traffic (a recompute every other minute) still pages
    assert verdict(alarm, [slow, None, slow, None, slow]) == "ALARM"


def test_no_alarm_treats_missing_data_as_a_breach(template_json: dict[str, Any]) -> None:
    treatments = {
        a["Properties"]["TreatMissingData"]
        for a in of_type(template_json["Resources"], "AWS::CloudWatch::Alarm").values()
    }
    assert treatments == {"notBreaching"}


def test_the_verdict_model_reads_cloudwatch_s_comparisons() -> None:
    alarm = {"EvaluationPeriods": 2, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1}
    assert verdict({**alarm, "TreatMissingData": "notBreaching"}, [1, 1]) == "ALARM"
    assert verdict({**alarm, "TreatMissingData": "notBreaching"}, [1, None]) == "OK"
    assert verdict({**alarm, "TreatMissingData": "breaching"}, [1, None]) == "ALARM"
    with pytest.raises(KeyError):
        verdict({**alarm, "TreatMissingData": "ignore"}, [1])
