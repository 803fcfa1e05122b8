"""The operator commands' logic, one module per command family, against a Target (targets.py): each returns
data, and recount/render/ prints it; recount/cli/ wires both to the typer app.

Each command goes through the code the functions run: events are built and validated by shared.contracts.events
and routed by shared.domain.routing, sweeps are shared.domain.sweep, and verify runs shared/queries/inbox_counts.sql
itself (in a transaction it always rolls back).
"""

from __future__ import annotations

from pathlib import Path

# The operator commands' own reads (recount/queries/operations.sql).
OPERATOR_QUERIES = Path(__file__).resolve().parent.parent / "queries"
