"""B9: the incremental job (docs/design.md §10) against the full one and the seed's approach. In B1's data set
(and again in B6's grown copy), migrated with the triggers: one workspace of each size, its lead state built by a
full job; then k of its leads changed by real UPDATEs whose triggers record them, and the job timed from BEGIN
to the Redis publish as the functions run it, incrementally (`apply_changes`) and as the full pass
(`recompute_with_state`), beside the seed's two queries at their best (JIT on or off, as B1 takes them). Each
change toggles the same leads' status to or from `needs_repair`, so every run applies the same work and the
data set ends as it began. Beside them the job's floor: its shape with nothing to compute (BEGIN, the lock alone, a
one-row write, COMMIT, the two Redis commands). Every size's runs share the same rounds, their order rotated each
round, so the sizes compare on the same minutes; medians."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from recount.bench.b1_recompute import Workspaces
from recount.bench.b1_seed import seed
from recount.bench.job_floor import floor_job
from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.passes import STATE_RULES, Pass, lock_parameters
from shared.domain.recompute import LOCK_CLASS, Recompute
from shared.queries import query

CHANGED = (1, 10, 100)
_TOGGLE = (
    "UPDATE \"Lead\" SET status = CASE WHEN status = 'needs_repair' THEN 'new' ELSE 'needs_repair' END "
    "WHERE id = ANY(CAST(:ids AS text[]))"
)
_FIRST_LEADS = 'SELECT id FROM "Lead" WHERE "clientId" = :client_id ORDER BY id LIMIT CAST(:n AS integer)'
_CONTEXT = JobContext("bench", "bench")
# B1's data set measured again beside the grown copy, in the same rounds: what the grown copy is judged against
BESIDE_GROWN = "base beside grown"


@dataclass(frozen=True)
class B9Row:
    data_set: str  # "base" (B1's), "grown" (B6's copy) or BESIDE_GROWN (B1's again, in the grown copy's rounds)
    leads: int
    changed: int
    incremental_ms: float  # the incremental job, BEGIN to the Redis publish
    full_ms: float  # recount's full job on the same change (the full pass that keeps the state)
    seed_ms: float  # the seed's two queries at their best (reads only)
    floor_ms: float = 0.0  # the job's shape with nothing to compute, in the same rounds

    @property
    def floor_ratio(self) -> float:
        """The seed at its best over the floor: the most any job of this shape could show here."""
        return self.seed_ms / self.floor_ms if self.floor_ms else 0.0

    @property
    def seed_ratio(self) -> float:
        return self.seed_ms / self.incremental_ms if self.incremental_ms else 0.0

    @property
    def full_ratio(self) -> float:
        return self.full_ms / self.incremental_ms if self.incremental_ms else 0.0


@dataclass(frozen=True)
class B9Result:
    repeats: int
    rows: list[B9Row]
    plans: dict[str, list[str]] = field(default_factory=dict)  # statement -> EXPLAIN (ANALYZE, BUFFERS) lines
    plan_leads: int = 0  # the workspace the plans were taken in
    grown_note: str = ""  # why the grown copy was not measured, when it was not
    grown_repeats: int = 0  # rounds of the grown copy and the base beside it

    def row(self, data_set: str, leads: int, changed: int) -> B9Row | None:
        return next(
            (r for r in self.rows if (r.data_set, r.leads, r.changed) == (data_set, leads, changed)),
            None,
        )


def measure(database_url: str, redis_url: str, workspaces: Workspaces, repeats: int) -> B9Result:
    """B1's data set: one workspace of each size, and the plans at the largest."""
    rows, plans, largest = _measure([(database_url, "base")], redis_url, workspaces, repeats, sizes=None)
    return B9Result(repeats, rows, plans, largest)


def grown(
    base_url: str, grown_url: str, redis_url: str, base: B9Result, workspaces: Workspaces, leads: int, repeats: int
) -> B9Result:
    """`base` and, after B6 grew the rest of the database, B6's workspace (`leads` leads) measured again in B1's
    data set and in the grown copy, in the same `repeats` rounds: the grown copy over the base is judged on the
    same minutes, not against a phase run minutes earlier."""
    rows, _, _ = _measure(
        [(base_url, BESIDE_GROWN), (grown_url, "grown")], redis_url, workspaces, repeats, sizes={leads}
    )
    return replace(base, rows=base.rows + rows, grown_repeats=repeats)


def _measure(
    sets: list[tuple[str, str]],
    redis_url: str,
    workspaces: Workspaces,
    repeats: int,
    *,
    sizes: set[int] | None,
) -> tuple[list[B9Row], dict[str, list[str]], int]:
    """In each (database URL, data set name) of `sets`: the first workspace of each size (as B1 and B6 choose),
    or of those in `sizes`, all measured in the same rounds; then the plans at the largest (in the first set,
    when every size is measured). The triggers are on for the run and off again after it, recount's capture
    tables emptied, the leads as they were."""
    by_size: dict[int, str] = {}
    for client_id, n in workspaces.sizes.items():
        by_size.setdefault(n, client_id)
    chosen = {n: c for n, c in sorted(by_size.items()) if sizes is None or n in sizes}
    settings = RecomputeSettings()
    dbs: list[PostgresDatabase] = []
    cache = RedisStore(redis_url)
    try:
        runs: list[tuple[str, _Workspace]] = []
        for url, data_set in sets:
            db = PostgresDatabase(url, statement_timeout_ms=600_000)
            dbs.append(db)
            migrate(db, triggers=True)
            runs += [(data_set, _Workspace(db, cache, settings, client_id, n)) for n, client_id in chosen.items()]
        _rounds([unit for _, run in runs for unit in run.units()], repeats, [run.clear for _, run in runs])
        rows = [row for data_set, run in runs for row in run.rows(data_set)]
        largest = max(chosen, default=0)
        plans = explain(dbs[0], chosen[largest]) if sizes is None and largest else {}
        return rows, plans, largest
    finally:
        with contextlib.ExitStack() as cleanup:  # each database restored and closed, whatever another's did
            cleanup.callback(cache.close)
            for db in dbs:
                cleanup.callback(_restore, db)


def _restore(db: PostgresDatabase) -> None:
    """The triggers off again, recount's capture tables emptied, the connection closed."""
    try:
        migrate(db, triggers=False)
        for table in ("recount_lead_change", "recount_lead_state", "recount_state"):
            db.run(f"DELETE FROM {table}")
    finally:
        db.close()


def _rounds(units: list[Callable[[], None]], repeats: int, clear: list[Callable[[], None]]) -> None:
    """A warm-up of each unit, its figures cleared, then `repeats` rounds of every unit (every size's together,
    so a noisy minute falls on all of them), the order rotated each round."""
    for unit in units:
        unit()
    for cleared in clear:
        cleared()
    for round_ in range(repeats):
        shift = round_ % len(units)
        for unit in units[shift:] + units[:shift]:
            unit()


class _Workspace:
    """One workspace's runs and their figures: the seed (JIT on and off), the incremental and the full job for
    each number of changed leads, and the floor."""

    def __init__(
        self, db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str, leads: int
    ) -> None:
        self.db, self.cache, self.settings, self.client_id, self.leads = db, cache, settings, client_id, leads
        self.ids = {k: [row["id"] for row in db.run(_FIRST_LEADS, client_id=client_id, n=k)] for k in CHANGED}
        full_job(db, cache, settings, client_id)  # builds the lead state (the triggers were just created)
        self.seed_ms: dict[str, list[float]] = {"on": [], "off": []}
        self.incremental: dict[int, list[float]] = {k: [] for k in CHANGED}
        self.full: dict[int, list[float]] = {k: [] for k in CHANGED}
        self.floor: list[float] = []

    def units(self) -> list[Callable[[], None]]:
        return [self._seeded("on"), self._seeded("off"), *(self._changed(k) for k in CHANGED), self._floored]

    def clear(self) -> None:
        for values in (*self.seed_ms.values(), *self.incremental.values(), *self.full.values(), self.floor):
            values.clear()

    def rows(self, data_set: str) -> list[B9Row]:
        seed_best = min(statistics.median(self.seed_ms["on"]), statistics.median(self.seed_ms["off"]))
        return [
            B9Row(
                data_set,
                self.leads,
                len(self.ids[k]),
                statistics.median(self.incremental[k]),
                statistics.median(self.full[k]),
                seed_best,
                statistics.median(self.floor),
            )
            for k in CHANGED
        ]

    def _seeded(self, jit: str) -> Callable[[], None]:
        def run() -> None:
            self.db.run(f"SET jit = {jit}")
            self.seed_ms[jit].append(seed(self.db, self.client_id))
            self.db.run("RESET jit")  # recount's jobs run with the sessions' own settings

        return run

    def _changed(self, k: int) -> Callable[[], None]:
        def run() -> None:
            db, cache, settings, client_id = self.db, self.cache, self.settings, self.client_id
            db.run(_TOGGLE, ids=self.ids[k])
            self.incremental[k].append(incremental_job(db, cache, settings, client_id, expected=len(self.ids[k])))
            db.run(_TOGGLE, ids=self.ids[k])  # undone: the full job applies the same change back
            self.full[k].append(full_job(db, cache, settings, client_id))

        return run

    def _floored(self) -> None:
        self.floor.append(floor_job(self.db, self.cache, self.client_id))


def incremental_job(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str, *, expected: int
) -> float:
    """The functions' path with the incremental pass: BEGIN, lock and pending changes, `apply_changes`, COMMIT,
    the Redis status and version publish."""
    started = time.perf_counter()
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings)
    lease = recompute.begin(client_id, _CONTEXT, incremental=True)
    if lease.pending.changes != expected or not lease.pending.incremental:
        recompute.abandon(lease)
        raise AssertionError(f"{client_id}: {lease.pending} where {expected} recorded changes were expected")
    lease.how = Pass.INCREMENTAL
    recompute.finish(lease)
    return (time.perf_counter() - started) * 1000


def full_job(db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str) -> float:
    """The functions' path with the full pass (the one that keeps the lead state while the capture is on)."""
    started = time.perf_counter()
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(client_id, _CONTEXT)
    return (time.perf_counter() - started) * 1000


def explain(db: PostgresDatabase, client_id: str) -> dict[str, list[str]]:
    """`EXPLAIN (ANALYZE, BUFFERS)` of the lock query and of `apply_changes` with one changed lead, in the
    transaction the job would run them in, rolled back; the change is then undone by a full job."""
    lead = db.run(_FIRST_LEADS, client_id=client_id, n=1)[0]["id"]
    db.run(_TOGGLE, ids=[lead])
    statements = {
        "lock_and_read_marker": {
            "lock_class": LOCK_CLASS[JobName.INBOX_COUNTS],
            **lock_parameters(client_id, incremental=True),
        },
        "apply_changes": {"client_id": client_id, "now": None, "rules": STATE_RULES},
    }
    plans: dict[str, list[str]] = {}
    db.run("BEGIN")
    try:
        for name, parameters in statements.items():
            lines = db.run("EXPLAIN (ANALYZE, BUFFERS) " + query("inbox_counts", name), **parameters)
            plans[name] = [str(row["QUERY PLAN"]) for row in lines]
    finally:
        db.run("ROLLBACK")
    db.run(_TOGGLE, ids=[lead])
    return plans
