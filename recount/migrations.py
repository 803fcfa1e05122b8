"""Apply the schema in sql/ to DATABASE_URL, each file in one transaction; applying twice changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

from shared.adapters.postgres import PostgresDatabase

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# The app's tables exist in production; recount owns only what these files create.
RECOUNT_OWNED = ("002_analytics_daily_aggregates.sql", "003_recount_indexes.sql")
# A file that starts with this line runs statement by statement outside a transaction (CONCURRENTLY).
NO_TRANSACTION = "-- recount: no-transaction"
_MIGRATION_LOCK = 7300
_CONCURRENT_INDEX = re.compile(r'CREATE INDEX CONCURRENTLY IF NOT EXISTS "([^"]+)"')


def migration_files(*, recount_only: bool = False) -> list[Path]:
    files = sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    return [path for path in files if path.name in RECOUNT_OWNED] if recount_only else files


def migrate(db: PostgresDatabase, *, recount_only: bool = False) -> list[str]:
    """Apply every file in order; return their names."""
    applied = []
    for path in migration_files(recount_only=recount_only):
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
    """Split a schema file on ';' at line ends (the files hold DDL only: no functions, no quoted ';')."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";\n") if statement.strip().rstrip(";")]
