"""accept: after `cdk deploy`, prove on the deployed stack what the design claims, or say what was not proven.

It runs the canary against the stack's queues, forces one transient failure (recount/commands/accept_retry.py),
then reads back from CloudWatch, for the run's minutes, what the alarms watch (the names in
shared/contracts/metrics.py, the resources by shared/topology.py's names) and every alarm's state. Each claim is
proven in this run or not, with its figure and the stage's threshold (cdk.json, through infra/config.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.config import StageConfig
from recount.commands.accept_cloudwatch import Series, Window, cloudwatch, read_emf, read_series, stack_alarms
from recount.commands.accept_retry import RetryProbe, force_busy_retry
from recount.commands.canary import CanaryReport, Thresholds, choose_workspaces, queue_depth, run_canary
from recount.commands.connections import queue_client
from recount.commands.targets import Target
from shared.contracts.errors import TransientError
from shared.contracts.metrics import (
    EMF_SERVICE_DIMENSION,
    FUNCTION_ERRORS,
    FUNCTION_INVOCATIONS,
    FUNCTION_THROTTLES,
    METRICS_NAMESPACE,
    QUEUE_OLDEST_AGE,
    QUEUE_VISIBLE,
    Metric,
)
from shared.topology import FUNCTIONS, FunctionKey, QueueKey

# The functions a run surely invoked: the inbox served the canary's events; the sweeper's schedule is every minute.
INVOKED = (FunctionKey.INBOX, FunctionKey.SWEEPER)


@dataclass(frozen=True)
class Claim:
    name: str
    proven: bool
    figure: str
    threshold: str
    note: str = ""


@dataclass
class AcceptanceReport:
    stack: str
    stage: str
    window: Window | None = None
    claims: list[Claim] = field(default_factory=list)

    @property
    def misses(self) -> list[Claim]:
        return [claim for claim in self.claims if not claim.proven]


@dataclass(frozen=True)
class RunShape:
    rate: float
    duration_s: float
    workspaces: int
    client_ids: list[str]
    settle_s: float  # how long CloudWatch gets to receive the run's last minute before it is read
    hold_s: float  # how long the forced busy workspace stays locked


def run_acceptance(target: Target, stack: str, stage: str, config: StageConfig, shape: RunShape) -> AcceptanceReport:
    alarms = config.alarms
    thresholds = Thresholds(alarms.oldest_message_age_seconds, alarms.freshness_p95_ms)
    report = AcceptanceReport(stack, stage)
    ids = choose_workspaces(target, shape.workspaces, shape.client_ids)
    started = datetime.now(UTC)
    canary = run_canary(target, ids, rate=shape.rate, duration_s=shape.duration_s, thresholds=thresholds)
    report.claims += canary_claims(canary, thresholds)
    retry = force_busy_retry(target, ids[0], hold_s=shape.hold_s, wait_s=thresholds.max_backlog_age_s)
    ended = datetime.now(UTC)
    time.sleep(shape.settle_s)
    report.window = Window.around(started, ended)
    report.claims += cloudwatch_claims(target, stage, config, report.window)
    report.claims.insert(3, retry_claim(retry, target, stage, config, report.window))
    return report


def retry_claim(retry: RetryProbe, target: Target, stage: str, config: StageConfig, window: Window) -> Claim:
    """Proven by the held workspace's own status blob: the job that served its mark after the hold ran from a
    re-sent copy (or a later receive) of the event this run sent, the mark outlived the hold, and it was served.
    A delayed message on the queue and JobsBusy are stack-wide (any workspace's), so they are notes only."""
    service = FUNCTIONS[FunctionKey.INBOX].physical_name(config.name_prefix(stage))
    busy = read_emf(
        cloudwatch(target.region),
        window,
        METRICS_NAMESPACE,
        Metric.JOBS_BUSY.value,
        EMF_SERVICE_DIMENSION,
        service,
        "Sum",
    ).total
    return Claim(
        "a transient failure is retried",
        retry.retried and retry.pending_at_release and retry.served,
        f"{retry.client_id} held busy {retry.held_s:.1f} s: still pending at release "
        f"{_yes(retry.pending_at_release)}, served {_yes(retry.served)} {retry.waited_s:.1f} s after release, "
        f"by {retry.served_by}",
        f"served within {config.alarms.oldest_message_age_seconds} s, by a later delivery",
        f"stack-wide, not proof: a delayed resend on the counts queue {_yes(retry.resend_seen)}, JobsBusy {busy:g}",
    )


def canary_claims(canary: CanaryReport, thresholds: Thresholds) -> list[Claim]:
    fresh = canary.freshness()
    sent = len(canary.probes)
    return [
        Claim(
            "canary: every event served",
            not canary.unfinished and sent >= 0.95 * canary.rate * canary.duration_s,
            f"{sent - canary.unfinished} of {sent} served, {canary.achieved_rate:.1f}/s sent",
            f"all, at {canary.rate:g}/s",
        ),
        Claim(
            "canary: freshness p95 (measured by the canary)",
            bool(sent) and fresh["p95"] <= thresholds.max_freshness_p95_ms,
            f"{fresh['p95']:.0f} ms",
            f"<= {thresholds.max_freshness_p95_ms:.0f} ms",
        ),
        Claim(
            "canary: longest wait of an event",
            canary.oldest_backlog_s <= thresholds.max_backlog_age_s,
            f"{canary.oldest_backlog_s:.1f} s",
            f"<= {thresholds.max_backlog_age_s:.0f} s",
        ),
    ]


def cloudwatch_claims(target: Target, stage: str, config: StageConfig, window: Window) -> list[Claim]:
    client = cloudwatch(target.region)
    alarms = config.alarms
    queues = {key: _name(url) for key, url in target.queue_urls.items()}
    dead_letters = [_name(url) for url in target.dead_letter_urls.values()]
    claims = []

    freshness, note = _freshness(client, window, FUNCTIONS[FunctionKey.INBOX].physical_name(config.name_prefix(stage)))
    claims.append(_at_most("CloudWatch: freshness p95", freshness, alarms.freshness_p95_ms, "ms", note))
    ages = read_series(client, window, QUEUE_OLDEST_AGE, list(queues.values()), "Maximum")
    counts = ages[queues[QueueKey.COUNTS.value]]
    claims.append(
        _at_most(
            "CloudWatch: backlog age (oldest message)",
            Series("all queues", "Maximum", [v for s in ages.values() for v in s.values]) if counts.values else counts,
            alarms.oldest_message_age_seconds,
            "s",
            "needs the counts queue's points; the other queues' too when they have some",
        )
    )
    visible = read_series(client, window, QUEUE_VISIBLE, dead_letters, "Maximum")
    worst = max((s.worst or 0.0 for s in visible.values()), default=0.0)
    sqs = queue_client(target)
    now = sum(queue_depth(sqs, url) for url in target.dead_letter_urls.values())
    points = sum(len(s.values) for s in visible.values())
    claims.append(
        Claim(
            "dead letters",
            now == 0 and worst == 0,
            f"{now} now (GetQueueAttributes), at most {worst:g} in the window ({points} CloudWatch points)",
            "0",
        )
    )
    claims += function_claims(client, window, config, stage)
    states = stack_alarms(client, target.name)
    firing = [alarm.name for alarm in states if alarm.state == "ALARM"]
    unknown = sum(1 for alarm in states if alarm.state == "INSUFFICIENT_DATA")
    claims.append(
        Claim(
            "every alarm of the stack is out of ALARM",
            bool(states) and not firing,
            f"{len(states)} alarms, {len(firing)} in ALARM" + (f": {', '.join(firing)}" if firing else ""),
            "none in ALARM",
            f"{unknown} with insufficient data" if unknown else "" if states else "no alarms found for the stack",
        )
    )
    return claims


def function_claims(client: Any, window: Window, config: StageConfig, stage: str) -> list[Claim]:
    """Lambda publishes Errors (0 or 1) for every invocation, so a function the run must have invoked (the inbox
    served the canary, the sweeper runs every minute) with no points has no evidence, not zero errors: the
    metrics have not arrived, or the names are not the stack's."""
    prefix = config.name_prefix(stage)
    functions = [FUNCTIONS[key].physical_name(prefix) for key in FunctionKey]
    invoked = [FUNCTIONS[key].physical_name(prefix) for key in INVOKED]
    errors = read_series(client, window, FUNCTION_ERRORS, functions, "Sum")
    silent = [name for name in invoked if not errors[name].values]
    worst = max((s.worst or 0.0 for s in errors.values()), default=0.0)
    throttles = _total(read_series(client, window, FUNCTION_THROTTLES, functions, "Sum"))
    invocations = read_series(client, window, FUNCTION_INVOCATIONS, invoked, "Sum")
    uncounted = [name for name in invoked if not invocations[name].total]
    return [
        Claim(
            "CloudWatch: function errors (per minute, per function)",
            not silent and worst < config.alarms.function_errors,
            f"no data points for {', '.join(silent)}" if silent else f"at most {worst:g} ({_total(errors):g} in all)",
            f"< {config.alarms.function_errors} (the alarm's functionErrors)",
            "Errors points are required for every function the run invoked: " + ", ".join(invoked),
        ),
        Claim(
            "CloudWatch: function throttles",
            not uncounted and throttles == 0,
            f"no data points for {', '.join(uncounted)}'s Invocations"
            if uncounted
            else f"{throttles:g} in {sum(invocations[n].total for n in invoked):g} invocations",
            "0 (no alarm)",
            "zero throttles counts only against the invocations CloudWatch has",
        ),
    ]


def _freshness(client: Any, window: Window, service: str) -> tuple[Series, str]:
    """p95, as the alarm reads it; a server that cannot serve p95 (moto) gets the maximum, an upper bound."""
    args = (client, window, METRICS_NAMESPACE, Metric.FRESHNESS_LAG.value, EMF_SERVICE_DIMENSION, service)
    try:
        return read_emf(*args, "p95"), ""
    except TransientError:
        return read_emf(*args, "Maximum"), "p95 not served: the per-minute maximum (an upper bound) was read"


def _at_most(name: str, series: Series, threshold: float, unit: str, note: str) -> Claim:
    worst = series.worst
    figure = "no data points" if worst is None else f"at most {worst:g} {unit} ({len(series.values)} one-minute points)"
    return Claim(name, worst is not None and worst <= threshold, figure, f"<= {threshold:g} {unit}", note)


def _total(series: dict[str, Series]) -> float:
    return sum(s.total for s in series.values())


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _yes(value: bool) -> str:
    return "yes" if value else "no"
