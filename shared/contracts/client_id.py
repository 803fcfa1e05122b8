"""The clientId rule: checked before a value reaches a Redis key or a SQL parameter."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from shared.contracts.errors import InvalidClientIdError

MAX_CLIENT_ID_LENGTH = 64
# UUIDs and short ids alike: letters, digits, '_' and '-'; never ':', '*', spaces or control characters.
_CHARACTERS = "A-Za-z0-9_-"
CLIENT_ID_RE = re.compile(f"[{_CHARACTERS}]{{1,{MAX_CLIENT_ID_LENGTH}}}")
# The same rule for SQL, in the form PostgreSQL checks fast (a bounded repetition costs it ~20x more per row):
# length(x) BETWEEN 1 AND :max_length AND x !~ :outside (ASCII ranges compare by code point in every collation).
CLIENT_ID_SQL: dict[str, object] = {"max_length": MAX_CLIENT_ID_LENGTH, "outside": f"[^{_CHARACTERS}]"}


def validate_client_id(value: object) -> str:
    """Return `value` if it is a valid clientId, else raise InvalidClientIdError (one line)."""
    if not isinstance(value, str):
        raise InvalidClientIdError(f"invalid clientId: expected a string, got {type(value).__name__}")
    if CLIENT_ID_RE.fullmatch(value) is None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidClientIdError(
            f"invalid clientId {shown!r}: use 1-{MAX_CLIENT_ID_LENGTH} characters of [A-Za-z0-9_-]"
        )
    return value


def _validate_for_pydantic(value: str) -> str:
    try:
        return validate_client_id(value)
    except InvalidClientIdError as error:
        # pydantic turns ValueError into a validation error with this message.
        raise ValueError(str(error)) from None


ClientId = Annotated[str, AfterValidator(_validate_for_pydantic)]
