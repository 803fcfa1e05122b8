"""B8: what the optional dirty triggers (sql/004_dirty_triggers.sql) cost the app's writes. Two databases with
the same workspace of leads, one with the triggers and one without; each statement timed on both, alternately,
run by run (medians): a one-row insert and update, a 1,000-row insert and update, each update changing what a
count reads (so the triggers mark). Then the hot workspace: a few writers updating leads of one workspace at
once, each write its own transaction, without a mark, with the app's own mark (the upsert of
docs/integrating.md) and with the triggers, the three in turn, round after round; writes per second of each."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass

from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase

LEADS = 2_000
WRITERS = 4
HOT_ROUNDS = 15  # each way, the three in turn: rounds of ~1.8 s, so a burst of noise moves one round, not a median
STATEMENTS: dict[str, str] = {
    "insert 1 lead": (
        'INSERT INTO "Lead" (id, "clientId", status, "updatedAt") '
        "VALUES (gen_random_uuid()::text, 'b8', 'new', now())"
    ),
    "update 1 lead": "UPDATE \"Lead\" SET status = CASE status WHEN 'new' THEN 'qualified' ELSE 'new' END "
    "WHERE id = :lead_id",
    "insert 1,000 leads": (
        'INSERT INTO "Lead" (id, "clientId", status, "updatedAt") '
        "SELECT gen_random_uuid()::text, 'b8', 'new', now() FROM generate_series(1, 1000)"
    ),
    "update 1,000 leads": 'UPDATE "Lead" SET "lastInboundAt" = clock_timestamp() AT TIME ZONE \'UTC\' '
    "WHERE id = ANY(CAST(:lead_ids AS text[]))",
}
_APP_MARK = (
    'INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") VALUES (\'b8\', now() AT TIME ZONE \'UTC\') '
    'ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = excluded."dirtyAt"'
)
_HOT_WRITE = 'UPDATE "Lead" SET "lastInboundAt" = now() AT TIME ZONE \'UTC\' WHERE id = :id'


@dataclass(frozen=True)
class B8Row:
    statement: str
    without_ms: float
    with_ms: float

    @property
    def ratio(self) -> float:
        return self.with_ms / self.without_ms if self.without_ms else 0.0


@dataclass(frozen=True)
class B8Result:
    runs: int
    rows: list[B8Row]
    writers: int
    hot_seconds: float  # each way, in all
    hot_plain: float  # writes/s, no mark at all
    hot_app_mark: float  # writes/s, the app's own upsert in each write's transaction
    hot_triggers: float  # writes/s, the triggers marking
    hot_rounds: int = HOT_ROUNDS  # rounds of each way, taken in turn


def measure(server_url: str, runs: int, hot_seconds: float) -> B8Result:
    plain_url, triggers_url = (_database(server_url, triggers) for triggers in (False, True))
    try:
        plain, triggered = PostgresDatabase(plain_url), PostgresDatabase(triggers_url)
        timings: dict[str, dict[bool, list[float]]] = {name: {False: [], True: []} for name in STATEMENTS}
        for run in range(runs):
            first = 1 + (run * 997) % (LEADS - 1000)  # a different stretch of leads each run
            params = {"lead_id": f"b8-{first}", "lead_ids": [f"b8-{first + i}" for i in range(1000)]}
            for name, statement in STATEMENTS.items():
                order = (plain, triggered) if run % 2 == 0 else (triggered, plain)  # neither always first
                for db in order:
                    used = {key: value for key, value in params.items() if f":{key}" in statement}
                    started = time.perf_counter()
                    db.run(statement, **used)
                    timings[name][db is triggered].append((time.perf_counter() - started) * 1000)
        plain.close()
        triggered.close()
        rows = [
            B8Row(name, statistics.median(times[False]), statistics.median(times[True]))
            for name, times in timings.items()
        ]
        ways = {"plain": (plain_url, False), "app mark": (plain_url, True), "triggers": (triggers_url, False)}
        rates: dict[str, list[float]] = {way: [] for way in ways}
        for round_number in range(HOT_ROUNDS):  # the three in turn, the order rotating
            names = list(ways)[round_number % 3 :] + list(ways)[: round_number % 3]
            for way in names:
                url, mark = ways[way]
                rates[way].append(_hot(url, hot_seconds / HOT_ROUNDS, mark=mark))
        return B8Result(
            runs,
            rows,
            WRITERS,
            hot_seconds,
            statistics.median(rates["plain"]),
            statistics.median(rates["app mark"]),
            statistics.median(rates["triggers"]),
            HOT_ROUNDS,
        )
    finally:
        for url in (plain_url, triggers_url):
            _drop(server_url, url)


def _database(server_url: str, triggers: bool) -> str:
    name = f"recount_b8_{'triggers' if triggers else 'plain'}_{uuid.uuid4().hex[:8]}"
    admin = PostgresDatabase(server_url)
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    url = f"{server_url.rpartition('/')[0]}/{name}"
    db = PostgresDatabase(url, statement_timeout_ms=120_000)
    migrate(db, triggers=triggers or None)
    db.run("INSERT INTO \"Client\" (id, name, \"userId\", \"updatedAt\") VALUES ('b8', 'b8', 'u', now())")
    db.run(
        'INSERT INTO "Lead" (id, "clientId", status, "updatedAt") '
        "SELECT 'b8-' || g, 'b8', 'new', now() FROM generate_series(1, CAST(:n AS integer)) g",
        n=LEADS,
    )
    db.run("ANALYZE")
    db.close()
    return url


def _hot(url: str, seconds: float, *, mark: bool) -> float:
    """WRITERS threads, each its own connection, each write a transaction on one workspace: writes/s."""
    done = [0] * WRITERS
    stop = threading.Event()

    def writer(index: int) -> None:
        db = PostgresDatabase(url)
        try:
            while not stop.is_set():
                with db.transaction():
                    db.run(_HOT_WRITE, id=f"b8-{1 + (done[index] * WRITERS + index) % LEADS}")
                    if mark:
                        db.run(_APP_MARK)
                done[index] += 1
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def _drop(server_url: str, url: str) -> None:
    admin = PostgresDatabase(server_url)
    admin.run(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
    admin.close()
