"""Apply the schema in sql/ to DATABASE_URL, each file in one transaction; applying twice changes nothing.
The optional files (first line `-- recount: optional`) run only when asked: the dirty triggers."""

from __future__ import annotations

import re
from pathlib import Path

from shared.adapters.postgres import PostgresDatabase
from shared.contracts.errors import PermanentError

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# The app's tables exist in production; recount owns only what these files create.
RECOUNT_OWNED = ("002_analytics_daily_aggregates.sql", "003_recount_indexes.sql", "005_lead_capture.sql")
# A file that starts with this line runs statement by statement outside a transaction (CONCURRENTLY).
NO_TRANSACTION = "-- recount: no-transaction"
OPTIONAL = "-- recount: optional"
TRIGGERS = "004_dirty_triggers.sql"  # marks from the database itself (docs/integrating.md)
DROP_TRIGGERS = "004_dirty_triggers.drop.sql"
_MIGRATION_LOCK = 7300
_CONCURRENT_INDEX = re.compile(r'CREATE INDEX CONCURRENTLY IF NOT EXISTS "([^"]+)"')


def migration_files(*, recount_only: bool = False, triggers: bool | None = None) -> list[Path]:
    """The files to apply, in order; with `triggers` True the dirty triggers after them, with False their
    removal (None: neither)."""
    files = [
        path
        for path in sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))
        if not path.read_text(encoding="utf-8").startswith(OPTIONAL)
    ]
    chosen = [path for path in files if path.name in RECOUNT_OWNED] if recount_only else files
    if triggers is not None:
        chosen.append(SQL_DIR / (TRIGGERS if triggers else DROP_TRIGGERS))
    return chosen


def migrate(db: PostgresDatabase, *, recount_only: bool = False, triggers: bool | None = None) -> list[str]:
    """Apply every file in order; return their names."""
    if db.pooled:
        # CREATE INDEX CONCURRENTLY cannot run in a transaction, and the migration lock is the session's.
        raise PermanentError(
            "DATABASE_URL reaches PostgreSQL through a pooler: run migrate against the database's own endpoint"
        )
    applied = []
    for path in migration_files(recount_only=recount_only, triggers=triggers):
        text = path.read_text(encoding="utf-8")
        if text.startswith(NO_TRANSACTION):
            db.run("SELECT pg_advisory_lock(:lock_class)", lock_class=_MIGRATION_LOCK)
            try:
                _drop_invalid(db, _CONCURRENT_INDEX.findall(text))
                for statement in _statements(text):
                    db.run(statement)
            finally:
                db.run("SELECT pg_advisory_unlock(:lock_class)", lock_class=_MIGRATION_LOCK)
        else:
            with db.transaction():
                db.run("SELECT pg_advisory_xact_lock(:lock_class)", lock_class=_MIGRATION_LOCK)
                for statement in _statements(text):
                    db.run(statement)
        applied.append(path.name)
    return applied


def _drop_invalid(db: PostgresDatabase, names: list[str]) -> None:
    """A CREATE INDEX CONCURRENTLY that failed leaves an invalid index that IF NOT EXISTS would keep forever
    (and the planner never uses): drop it, so the file builds it anew."""
    for name in names:
        if db.run("SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:name) AND NOT indisvalid", name=f'"{name}"'):
            db.run(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def _statements(text: str) -> list[str]:
    """Split a schema file on ';' at line ends, except inside a function's $$ body (the files quote no ';'
    otherwise); comment lines go."""
    statements: list[str] = []
    current: list[str] = []
    in_body = False
    for line in text.splitlines():
        if not in_body and line.lstrip().startswith("--"):
            continue
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    rest = "\n".join(current).strip().rstrip(";")
    return [statement for statement in [*statements, rest] if statement]
