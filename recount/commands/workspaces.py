"""Which workspaces a command covers when the operator names none: every one in PostgreSQL, or a random sample,
split into valid ids and ids that may not reach a key or a query (reported and skipped)."""

from __future__ import annotations

from recount.commands import OPERATOR_QUERIES
from shared.contracts.client_id import validate_client_id
from shared.contracts.errors import InvalidClientIdError
from shared.ports import Database
from shared.queries import query


def all_client_ids(db: Database) -> tuple[list[str], list[str]]:
    """Every workspace in PostgreSQL, split into valid ids and ids that may not reach a key or a query."""
    return split_valid([row["client_id"] for row in db.run(query("operations", "client_ids", OPERATOR_QUERIES))])


def sample_client_ids(db: Database, sample_size: int | None) -> tuple[list[str], list[str]]:
    """A random sample of workspaces, split the same way."""
    rows = db.run(query("operations", "sample_client_ids", OPERATOR_QUERIES), sample_size=sample_size)
    return split_valid([row["client_id"] for row in rows])


def split_valid(client_ids: list[str]) -> tuple[list[str], list[str]]:
    valid: list[str] = []
    invalid: list[str] = []
    for client_id in client_ids:
        try:
            valid.append(validate_client_id(client_id))
        except InvalidClientIdError:
            invalid.append(client_id)
    return valid, invalid
