"""Schema changes an app's Prisma migration makes under a warm recount, each on a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase
from tests.conftest import ADMIN_DATABASE_URL

# `String @db.Uuid` on Client.id and on the relation fields that must match it. PostgreSQL cannot alter a key
# that a foreign key of another type references, so the keys go first and come back after (recount's own
# AnalyticsDailyAggregates key and its lead-state keys too: the operator's step, as Prisma does not know them).
CLIENT_ID_TO_UUID = [
    'ALTER TABLE "Lead" DROP CONSTRAINT "Lead_clientId_fkey"',
    'ALTER TABLE "InboxCounts" DROP CONSTRAINT "InboxCounts_clientId_fkey"',
    'ALTER TABLE "InboxCountsDirty" DROP CONSTRAINT "InboxCountsDirty_clientId_fkey"',
    'ALTER TABLE "AnalyticsDailyAggregates" DROP CONSTRAINT "AnalyticsDailyAggregates_clientId_fkey"',
    "ALTER TABLE recount_lead_state DROP CONSTRAINT recount_lead_state_client_id_fkey",
    "ALTER TABLE recount_state DROP CONSTRAINT recount_state_client_id_fkey",
    'ALTER TABLE "Client" ALTER COLUMN "id" SET DATA TYPE UUID USING ("id"::uuid)',
    'ALTER TABLE "Lead" ALTER COLUMN "clientId" SET DATA TYPE UUID USING ("clientId"::uuid)',
    'ALTER TABLE "Lead" ADD CONSTRAINT "Lead_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "Client"("id") '
    "ON DELETE CASCADE ON UPDATE CASCADE",
]
# `DateTime @default(now()) @db.Timestamptz(3)` on the dirty marker's time: what Prisma's migration says.
DIRTY_AT_TO_TIMESTAMPTZ = ['ALTER TABLE "InboxCountsDirty" ALTER COLUMN "dirtyAt" SET DATA TYPE TIMESTAMPTZ(3)']


@contextmanager
def own_database() -> Iterator[str]:
    """A database created and migrated for one test, dropped after it: a schema change stays in it."""
    name = f"recount_schema_{uuid.uuid4().hex[:12]}"
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_DATABASE_URL.rpartition('/')[0]}/{name}"
    try:
        db = PostgresDatabase(url)
        migrate(db)
        db.close()
        yield url
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def apply(url: str, statements: list[str]) -> None:
    """The app's migration, from a session of its own, in one transaction."""
    db = PostgresDatabase(url)
    try:
        with db.transaction():
            for statement in statements:
                db.run(statement)
    finally:
        db.close()
