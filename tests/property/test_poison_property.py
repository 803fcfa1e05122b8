"""Any body, whatever its JSON shape or bytes, gets exactly one outcome: a valid envelope, or the dead-letter
queue at once with a one-line reason. `dlq peek` and `dlq redrive` read every such body without failing."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recount.commands.dead_letters.peek import _dead_letter
from recount.commands.dead_letters.redrive import _valid
from shared.contracts.errors import PoisonMessageError
from shared.contracts.events import MAX_ENVELOPE_BYTES, EventName, parse_envelope
from shared.contracts.keys import JobName
from shared.domain.jobs import JobResult
from shared.wiring.consumer import Consumer
from tests.unit.fakes import FakeClients, lambda_context, outcome_record, queue_url, sqs_event

EXAMPLES = 2_000
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
NAMES = st.sampled_from([name.value for name in EventName]) | JSON
ENVELOPES = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "version": st.just(1) | JSON,
        "id": st.text(max_size=40) | JSON,
        "occurredAt": st.just("2026-12-02T10:00:00Z") | JSON,
        "data": st.fixed_dictionaries(
            {},
            optional={
                "clientId": st.sampled_from(["ws-1", "x'; --", ""]) | JSON,
                "requestId": st.text(max_size=20) | JSON,
                "source": st.sampled_from(["app", "sweep"]) | JSON,
                "priority": st.sampled_from(["normal", "high"]) | JSON,
                "dirtyGeneration": st.text(max_size=10) | JSON,
            },
        )
        | JSON,
    },
)
BODIES = (
    ENVELOPES.map(json.dumps)
    | JSON.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", "replace"))
    | st.integers(MAX_ENVELOPE_BYTES - 8, MAX_ENVELOPE_BYTES + 8).map(lambda n: json.dumps({"name": "x" * n}))
)


def outcome(body: str) -> tuple[str, str]:
    try:
        parse_envelope(body)
    except PoisonMessageError as poison:
        return "poison", poison.reason
    return "valid", ""


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_every_body_is_valid_or_poison_with_a_one_line_reason(body: str) -> None:
    kind, reason = outcome(body)
    assert kind == "valid" or (reason and "\n" not in reason)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_every_body_gets_exactly_one_outcome_in_the_consumer(body: str) -> None:
    clients = FakeClients()
    ran: list[str] = []

    def job(clients: Any, event: Any, context: Any) -> JobResult:
        ran.append(event.id)
        return JobResult(event.data.clientId, outcome=outcome_record(event.data.clientId, duration_ms=1))

    consumer = Consumer(
        JobName.INBOX_COUNTS,
        dict.fromkeys(_inbox_models(), job),
        clients,
        rng=random.Random(1),
    )
    response = consumer.handle_batch(sqs_event(body), lambda_context())
    dead = clients.sqs.to(queue_url("counts-dlq"))
    assert response["batchItemFailures"] == []  # never retried: it can never succeed, or it ran
    assert len(ran) + len(dead) == 1
    if dead:
        assert dead[0].body == body and dead[0].attributes and dead[0].attributes["recount-reason"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_dlq_peek_and_redrive_read_every_body(body: str) -> None:
    letter = _dead_letter({"MessageId": "m1", "Body": body, "Attributes": {"ApproximateReceiveCount": "3"}})
    assert letter.valid is (outcome(body)[0] == "valid")
    assert letter.reason
    assert _valid(body) is letter.valid


def _inbox_models() -> list[type[Any]]:
    from shared.contracts.events import InboxCountsDirty, InboxCountsRecompute

    return [InboxCountsDirty, InboxCountsRecompute]
