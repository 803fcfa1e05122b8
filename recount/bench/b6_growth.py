"""B6: database growth. The same workspace's recompute before and after the rest of the database grows about
4x in AI-sent emails and pending review drafts (none of them the workspace's own)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from recount.bench.b1_recompute import B1Report, ours
from shared.adapters.postgres import PostgresDatabase

GROWTH = 4  # the others' review drafts and AI-sent emails, after over before
_PARTIAL = ("review drafts", "AI-sent emails")


@dataclass(frozen=True)
class B6Result:
    leads: int
    before_ms: float
    after_ms: float
    entries_before: dict[str, int]  # recount's partial indexes: rows the whole database has of each kind
    entries_after: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.after_ms / self.before_ms if self.before_ms else 0.0


def run(database_url: str, b1: B1Report, leads: int, repeats: int) -> B6Result:
    """On B1's data set: the workspace of `leads` leads (or the nearest size B1 has), measured before and after
    the growth; medians of `repeats` runs after a warm-up each time."""
    size = min(b1.workspaces.sizes.values(), key=lambda n: (abs(n - leads), n))
    client_id = next(cid for cid, n in b1.workspaces.sizes.items() if n == size)
    db = PostgresDatabase(database_url, statement_timeout_ms=600_000)
    try:
        before_entries, before_ms = _entries(db), _median(db, client_id, repeats)
        _grow(db, client_id)
        return B6Result(size, before_ms, _median(db, client_id, repeats), before_entries, _entries(db))
    finally:
        db.close()


def _median(db: PostgresDatabase, client_id: str, repeats: int) -> float:
    ours(db, client_id)
    return statistics.median(ours(db, client_id) for _ in range(repeats))


def _entries(db: PostgresDatabase) -> dict[str, int]:
    return {what: int(db.run(_count_sql(what))[0]["n"]) for what in _PARTIAL}


def _count_sql(what: str) -> str:
    if what == "review drafts":
        return "SELECT count(*) AS n FROM \"AIDraft\" WHERE status = 'pending' AND \"autoSendAction\" = 'needs_review'"
    return (
        "SELECT count(*) AS n FROM \"Message\" WHERE channel = 'email' AND direction = 'outbound' "
        "AND source = 'zrg' AND \"sentBy\" = 'ai' AND \"aiDraftId\" IS NOT NULL"
    )


def _grow(db: PostgresDatabase, client_id: str) -> None:
    """GROWTH - 1 more copies of every other workspace's review draft and AI-sent email, then vacuum and analyze."""
    db.run(
        'INSERT INTO "AIDraft" (id, "leadId", content, channel, status, "autoSendAction", "createdAt", "updatedAt") '
        'SELECT gen_random_uuid()::text, d."leadId", d.content, d.channel, d.status, d."autoSendAction", '
        'd."createdAt", d."updatedAt" FROM "AIDraft" d JOIN "Lead" l ON l.id = d."leadId", '
        "generate_series(1, :copies) g "
        "WHERE l.\"clientId\" <> :client_id AND d.status = 'pending' AND d.\"autoSendAction\" = 'needs_review'",
        client_id=client_id,
        copies=GROWTH - 1,
    )
    db.run(
        'INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy", "aiDraftId", "sentAt", '
        '"createdAt") SELECT gen_random_uuid()::text, m."leadId", m.channel, m.source, m.body, m.direction, '
        'm."sentBy", m."aiDraftId", m."sentAt", m."createdAt" FROM "Message" m JOIN "Lead" l ON l.id = m."leadId", '
        "generate_series(1, :copies) g WHERE l.\"clientId\" <> :client_id AND m.channel = 'email' "
        "AND m.direction = 'outbound' AND m.source = 'zrg' AND m.\"sentBy\" = 'ai' AND m.\"aiDraftId\" IS NOT NULL",
        client_id=client_id,
        copies=GROWTH - 1,
    )
    db.run('VACUUM (ANALYZE) "AIDraft", "Message"')
