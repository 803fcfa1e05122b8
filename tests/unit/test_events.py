"""The event contract: valid envelopes parse, every poison message is refused with a one-line reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.contracts.errors import PoisonMessageError
from shared.contracts.events import (
    MAX_ENVELOPE_BYTES,
    EventName,
    InboxCountsDirty,
    InboxCountsSweep,
    Priority,
    json_schema,
    new_event,
    parse_envelope,
    to_body,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVENT_FILES = sorted((FIXTURES / "events").glob("*.json"))
POISON = json.loads((FIXTURES / "poison_messages.json").read_text())
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"


@pytest.mark.parametrize("path", EVENT_FILES, ids=[p.stem for p in EVENT_FILES])
def test_given_a_fixture_envelope_when_parsed_then_it_round_trips(path: Path) -> None:
    event = parse_envelope(path.read_text())
    assert event.name.value == json.loads(path.read_text())["name"]
    assert parse_envelope(to_body(event)) == event


def test_given_no_request_id_then_the_envelope_id_is_the_correlation_id() -> None:
    event = parse_envelope((FIXTURES / "events" / "inbox_counts_recompute_high.json").read_text())
    assert event.request_id == "evt-7"
    assert event.data.priority is Priority.HIGH  # type: ignore[union-attr]


def test_given_a_sweep_without_data_then_defaults_apply() -> None:
    event = parse_envelope((FIXTURES / "events" / "analytics_aggregates_sweep.json").read_text())
    assert event.data.source == "schedule"
    assert event.request_id == "schedule-2"


@pytest.mark.parametrize("case", POISON, ids=[c["case"] for c in POISON])
def test_given_a_poison_body_when_parsed_then_refused_with_a_one_line_reason(case: dict[str, str]) -> None:
    with pytest.raises(PoisonMessageError) as refused:
        parse_envelope(case["body"])
    assert case["reason"] in refused.value.reason
    assert "\n" not in refused.value.reason and len(refused.value.reason) < 300


def test_the_poison_corpus_has_at_least_thirty_cases() -> None:
    assert len(POISON) >= 30


def test_given_an_oversize_body_then_refused_before_json_parsing() -> None:
    body = json.dumps({"name": "inbox.counts.dirty", "pad": "x" * MAX_ENVELOPE_BYTES})
    with pytest.raises(PoisonMessageError, match="oversize"):
        parse_envelope(body)


def test_given_invalid_bytes_then_not_json() -> None:
    with pytest.raises(PoisonMessageError, match="not JSON"):
        parse_envelope(b"\xff\xfe{")


def test_new_event_builds_valid_envelopes_of_each_kind() -> None:
    dirty = new_event(EventName.INBOX_COUNTS_DIRTY, client_id="acme", source="manual", priority=Priority.HIGH)
    assert isinstance(dirty, InboxCountsDirty)
    assert dirty.data.priority is Priority.HIGH and dirty.request_id == dirty.id
    sweep = new_event(EventName.INBOX_COUNTS_SWEEP, source="schedule")
    assert isinstance(sweep, InboxCountsSweep)
    with pytest.raises(PoisonMessageError, match="invalid clientId"):
        new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id="a:b")


def test_the_committed_json_schema_is_current() -> None:
    # When this fails, run: python -m recount schema > docs/events.schema.json
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(json_schema()))


def test_the_json_schema_names_every_event() -> None:
    text = json.dumps(json_schema())
    for name in EventName:
        assert f'"{name.value}"' in text
