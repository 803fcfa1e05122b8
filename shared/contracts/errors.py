"""The small set of domain errors that adapters translate driver errors into."""

from __future__ import annotations


class RecountError(Exception):
    """Base of every error recount raises on purpose."""


class PermanentError(RecountError):
    """Retrying cannot help: bad input, a contract violation, a bug in a query."""


class TransientError(RecountError):
    """Retrying later may help: a store is unreachable, slow or throttled."""


class BusyError(TransientError):
    """Another recompute of the same workspace and job holds the lock."""


class InvalidClientIdError(PermanentError, ValueError):
    """A clientId that may not reach a key or a query."""


class PoisonMessageError(PermanentError):
    """A message that can never succeed; `reason` is one line for the dead-letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkspaceGoneError(PermanentError):
    """The workspace was deleted while it was recomputed (a foreign key to it failed): nothing is left to
    compute, so the job ends as a skip, not as poison."""


class OutOfTimeError(TransientError):
    """A store call was not started (or was cut short) because it could not end before the record's
    deadline: the consumer hands the record back untouched instead of letting the invocation time out."""
