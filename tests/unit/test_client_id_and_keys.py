"""clientId validation happens before any key or query is built."""

from __future__ import annotations

import pytest

from shared.contracts.client_id import validate_client_id
from shared.contracts.errors import InvalidClientIdError
from shared.contracts.keys import JobName, applied_stamp_key, legacy_applied_stamp_key, status_key, version_key

BAD_CLIENT_IDS = [
    "*",
    "a:b",
    "acme 01",
    " acme",
    "a" * 65,
    'x\'; DROP TABLE "Lead"; --',
    "",
    "acme\n",
    "acme\x00",
    "\x1b[2J",
    "acme/../x",
    "ac*me",
    "a\tb",
    "é",
]


@pytest.mark.parametrize("value", BAD_CLIENT_IDS, ids=repr)
def test_given_a_bad_client_id_then_refused_in_one_line(value: str) -> None:
    with pytest.raises(InvalidClientIdError) as refused:
        validate_client_id(value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("value", ["5f0c2a3e-8d7b-4c1a-9e6f-0a1b2c3d4e5f", "acme_01", "A", "a" * 64, "cl-x_9"])
def test_given_a_good_client_id_then_accepted(value: str) -> None:
    assert validate_client_id(value) == value


def test_given_a_non_string_then_refused() -> None:
    with pytest.raises(InvalidClientIdError, match="expected a string"):
        validate_client_id(42)


def test_keys_follow_the_contract() -> None:
    assert version_key(JobName.INBOX_COUNTS, "acme") == "inbox:v1:ver:acme"
    assert version_key(JobName.ANALYTICS_AGGREGATES, "acme") == "analytics:v1:ver:acme"
    assert status_key(JobName.INBOX_COUNTS, "acme") == "job:v1:acme:inbox_counts"
    assert applied_stamp_key(JobName.INBOX_COUNTS, "acme") == "inbox:v1:applied:{inbox:v1:ver:acme}"
    assert legacy_applied_stamp_key(JobName.INBOX_COUNTS, "acme") == "inbox:v1:applied:acme"


@pytest.mark.parametrize("build", [version_key, status_key, applied_stamp_key])
def test_keys_refuse_bad_client_ids(build: object) -> None:
    with pytest.raises(InvalidClientIdError):
        build(JobName.INBOX_COUNTS, "a:*")  # type: ignore[operator]
