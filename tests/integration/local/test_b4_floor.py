"""B4's floor runs recount's inbox handler and B3's floor handler warm, on marked and clean workspaces: both must
do the work they are timed for (a marked workspace recomputed, a clean one skipped), or the floor means nothing."""

from __future__ import annotations

from recount.bench import b4_floor
from recount.bench.b4_floor import HANDLERS, KINDS, PARTS
from shared.adapters.postgres import PostgresDatabase


def test_given_two_rounds_then_each_handler_recomputed_its_marked_workspaces_and_every_part_was_read(
    db: PostgresDatabase, database_url: str, redis_url: str
) -> None:
    floor = b4_floor.measure(database_url, redis_url, rounds=2, batch=3)  # three records an invocation

    assert floor.stores_read and floor.batch == 3  # PostgreSQL and Redis are on this machine
    for handler in HANDLERS:
        for kind in KINDS:
            jobs = floor.jobs[handler][kind]
            assert len(jobs) == 2
            assert all(job[part] > 0 for job in jobs for part in PARTS), (handler, kind, jobs)
        # every workspace was recomputed at least once (warm-up and marked rounds) and no mark was left behind
        counted = db.run(
            'SELECT count(DISTINCT "clientId")::int AS n FROM "InboxCounts" WHERE "clientId" LIKE :prefix',
            prefix=f"b4f-{handler}-%",
        )[0]["n"]
        assert counted == b4_floor.WORKSPACES
    assert db.run('SELECT count(*)::int AS n FROM "InboxCountsDirty"')[0]["n"] == 0
    # a marked job recomputes (the lock, the statement, the commit); a clean one only looks, for both handlers
    for handler in HANDLERS:
        assert floor.median(handler, "marked", "postgresql") > floor.median(handler, "clean", "postgresql")
    assert floor.at_mix("floor", 1.0, 0.0) == floor.median("floor", "marked")
    assert (
        floor.at_mix("recount", 0.5, 0.5) == (floor.median("recount", "marked") + floor.median("recount", "clean")) / 2
    )
