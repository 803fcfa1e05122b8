"""Generate realistic workspaces (leads, drafts, messages) in SQL, for the demo, benchmarks and plan checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.adapters.postgres import PostgresDatabase
from shared.queries import query

_QUERIES = Path(__file__).resolve().parents[1] / "queries"


@dataclass(frozen=True)
class WorkspaceShape:
    leads: int
    setters: int = 8
    drafts_per_lead: float = 0.6
    messages_per_lead: float = 4.0
    days: int = 60


def generate_workspace(db: PostgresDatabase, shape: WorkspaceShape, client_id: str | None = None) -> str:
    """Create one workspace with the given shape in one transaction; return its id."""
    client_id = client_id or str(uuid.uuid4())
    with db.transaction():
        db.run(query("dataset", "create_client", _QUERIES), client_id=client_id, name=f"workspace {client_id[:8]}")
        db.run(
            query("dataset", "create_leads", _QUERIES),
            client_id=client_id,
            leads=shape.leads,
            setters=shape.setters,
            days=shape.days,
        )
        db.run(query("dataset", "create_drafts", _QUERIES), client_id=client_id, per_lead=shape.drafts_per_lead)
        db.run(
            query("dataset", "create_messages", _QUERIES),
            client_id=client_id,
            per_lead=shape.messages_per_lead,
            days=shape.days,
        )
        db.run(query("dataset", "link_ai_messages", _QUERIES), client_id=client_id)
    return client_id
