"""The operator's input, checked before any I/O: anything wrong is a UsageError (one line, exit status 2)."""

from __future__ import annotations

from shared.contracts.client_id import validate_client_id
from shared.contracts.errors import InvalidClientIdError, PermanentError
from shared.contracts.events import Priority


class UsageError(PermanentError):
    """The operator's input is wrong: one line, exit status 2, nothing done."""


def valid_client_ids(client_ids: list[str]) -> list[str]:
    """Every id checked before any I/O: the first invalid one is a usage error."""
    try:
        return [validate_client_id(client_id) for client_id in client_ids]
    except InvalidClientIdError as error:
        raise UsageError(str(error)) from None


def parse_priority(value: str) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        raise UsageError(f"invalid priority {value!r}: choose normal or high") from None
