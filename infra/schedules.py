"""EventBridge Scheduler: put the sweep envelopes on the sweep queue, with retries and a dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.contracts.events import SCHEMA_VERSION, EventName

SCHEDULE_RETRY_ATTEMPTS = 3
SCHEDULE_MAX_EVENT_AGE = Duration.minutes(5)


def sweep_envelope(name: EventName) -> dict[str, Any]:
    """The envelope a schedule sends: the execution id and the scheduled time are filled in per run."""
    return {
        "name": name.value,
        "version": SCHEMA_VERSION,
        "id": scheduler.ContextAttribute.execution_id,
        "occurredAt": scheduler.ContextAttribute.scheduled_time,
        "data": {"source": "schedule"},
    }


class SweepSchedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sweep_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        inbox_minutes: int,
        analytics_minutes: int,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[EventName, scheduler.Schedule] = {}
        for name, minutes in (
            (EventName.INBOX_COUNTS_SWEEP, inbox_minutes),
            (EventName.ANALYTICS_AGGREGATES_SWEEP, analytics_minutes),
        ):
            target = targets.SqsSendMessage(
                sweep_queue,
                input=scheduler.ScheduleTargetInput.from_object(sweep_envelope(name)),
                dead_letter_queue=dead_letter_queue,
                retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                max_event_age=SCHEDULE_MAX_EVENT_AGE,
            )
            self.schedules[name] = scheduler.Schedule(
                self,
                name.value.replace(".", "-"),
                schedule_name=f"{name_prefix}-{name.value.replace('.', '-')}",
                schedule=scheduler.ScheduleExpression.rate(Duration.minutes(minutes)),
                target=target,
                description=f"Puts {name.value} on the sweep queue every {minutes} min",
            )
