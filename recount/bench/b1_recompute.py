"""B1: recompute cost per workspace, recount's one statement against the seed's two queries, each with
PostgreSQL's JIT on and off, interleaved on one connection."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from recount.bench.b1_seed import inbox_paths, seed, seed_jit_compile_ms
from recount.bench.job_floor import floor_job, least_job, shown_below
from recount.commands.dataset import WorkspaceShape, generate_workspace
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from shared.queries import query


@dataclass(frozen=True)
class Workspaces:
    sizes: dict[str, int]  # client id -> leads
    total_leads: int
    generate_s: float


@dataclass(frozen=True)
class Timing:
    """Median ms of one approach with `SET jit = on` and with `SET jit = off`."""

    jit_on_ms: float
    jit_off_ms: float

    @property
    def best_ms(self) -> float:
        return min(self.jit_on_ms, self.jit_off_ms)

    @property
    def best_setting(self) -> str:
        return "JIT off" if self.jit_off_ms <= self.jit_on_ms else "JIT on"

    def at(self, jit: str) -> float:
        """The median with `jit` as a session sets it ("on" or "off")."""
        return self.jit_on_ms if jit == "on" else self.jit_off_ms


@dataclass(frozen=True)
class B1Result:
    leads: int
    recount: Timing
    seed: Timing
    seed_jit_compile_ms: float  # JIT's own time in the seed's two queries with JIT on (EXPLAIN ANALYZE)
    job_ms: float = 0.0  # recount's whole job as the functions run it: BEGIN, lock, statement, COMMIT, Redis
    analytics_ms: float = 0.0  # the analytics statement (30-day window), rolled back
    least_probed_ms: float = 0.0  # the least job, both flags probed per lead (recount.bench.job_floor)
    fixed_ms: float = 0.0  # the job's shape with nothing to compute (recount.bench.job_floor), for reading
    probe_review: bool = False  # recount's lock query chose to probe review drafts per lead (else one hashed read)
    least_on_paths_ms: float = 0.0  # the least job on recount's paths (probe or hash, as the lock query chose)
    probe_sent: bool = False  # ... and AI-sent emails
    job_rounds: tuple[float, ...] = ()  # the job's ms in each round
    floor_rounds: tuple[float, ...] = ()  # ... and in the same rounds, the least job whose median is the floor

    @property
    def rounds(self) -> int:
        return len(self.job_rounds)

    @property
    def rounds_below_floor(self) -> int:
        """The rounds in which the job took less than the floor's least job of the same round."""
        return sum(job < floor for job, floor in zip(self.job_rounds, self.floor_rounds, strict=True))

    @property
    def path(self) -> str:
        """How recount's lock query chose to find the two flags here, in the report's words."""
        if self.probe_review == self.probe_sent:
            return "both probed" if self.probe_review else "both hashed"
        return f"drafts {_word(self.probe_review)}, emails {_word(self.probe_sent)}"

    @property
    def floor_ms(self) -> float:
        """The least a full job could take here, finding a lead's flags either way: the cheaper least job (the
        job's round trips around the least pass: every lead read once, its flags found once, the contract's counts
        counted per assignee). 0 when neither was measured."""
        measured = [ms for ms in (self.least_probed_ms, self.least_on_paths_ms) if ms > 0]
        return min(measured) if measured else 0.0

    def under_floor(self) -> bool:
        """The run shows the job taking less than its floor: its median under the floor, and, where the rounds are
        enough for a sign test to tell (5 or more), in significantly more rounds than two equal costs would be
        (`shown_below`: 8 of 9)."""
        if not (self.floor_ms and self.job_ms) or self.job_ms >= self.floor_ms:
            return False
        if not shown_below(self.rounds, self.rounds):  # too few rounds to tell: the medians decide
            return True
        return shown_below(self.rounds_below_floor, self.rounds)

    def floor_ratio(self) -> float:
        """The seed at its best over that floor: the most such a job could show against it."""
        return self.seed.best_ms / self.floor_ms if self.floor_ms else 0.0

    def job_ratio(self) -> float:
        """The seed at its best (its reads alone) over recount's whole job."""
        return self.seed.best_ms / self.job_ms if self.job_ms else 0.0

    def ratio(self, recount_jit: str) -> float:
        """The seed at its best over recount as the functions run it (with `recount_jit`)."""
        ms = self.recount.at(recount_jit)
        return self.seed.best_ms / ms if ms else 0.0


def _word(probed: bool) -> str:
    return "probed" if probed else "hashed"


@dataclass(frozen=True)
class B1Report:
    workspaces: Workspaces
    rows: list[B1Result]
    repeats: int
    jit_available: bool  # pg_jit_available() with jit on: false means both settings run the same plan
    jit_default: str  # the `jit` a recount session starts with, before B1 set it: what the functions run with
    plans: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # (statement, leads) -> its scans

    @property
    def functions_jit(self) -> str:
        """The `jit` the functions' sessions run with (shared/adapters/postgres.py sets it at connection)."""
        return self.jit_default


def run(database_url: str, redis_url: str, plan: list[tuple[int, int]], repeats: int) -> B1Report:
    db = PostgresDatabase(database_url, statement_timeout_ms=600_000)
    cache = RedisStore(redis_url)
    try:
        return measure(db, cache, generate(db, plan), repeats)
    finally:
        cache.close()
        db.close()


def generate(db: PostgresDatabase, plan: list[tuple[int, int]]) -> Workspaces:
    """plan: (count, leads per workspace). Vacuumed and analyzed afterwards, as autovacuum leaves tables at rest,
    so both approaches get real statistics and visibility maps."""
    started = time.perf_counter()
    sizes = {}
    for count, leads in plan:
        for _ in range(count):
            sizes[generate_workspace(db, WorkspaceShape(leads=leads))] = leads
    db.run("VACUUM (ANALYZE)")
    return Workspaces(sizes, sum(sizes.values()), time.perf_counter() - started)


def ours(db: PostgresDatabase, client_id: str) -> float:
    """The functions' statement, counts and writes, after the lock query that chooses its paths (not timed),
    in a transaction rolled back so every run does the same."""
    db.run("BEGIN")
    paths = inbox_paths(db, client_id)
    started = time.perf_counter()
    db.run(query("inbox_counts", "recompute"), client_id=client_id, now=None, **paths)
    elapsed = time.perf_counter() - started
    db.run("ROLLBACK")
    return elapsed * 1000


def job(db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str) -> float:
    """recount's whole job on the functions' path: BEGIN, lock and marker, the statement, COMMIT, the Redis
    publish (the status writes included)."""
    started = time.perf_counter()
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(client_id, JobContext("bench", "bench"))
    return (time.perf_counter() - started) * 1000


def analytics(db: PostgresDatabase, client_id: str) -> float:
    """The analytics statement over the default 30-day window, rolled back."""
    started = time.perf_counter()
    db.run("BEGIN")
    db.run(query("analytics_aggregates", "recompute"), client_id=client_id, today=None, window_days=30)
    elapsed = time.perf_counter() - started
    db.run("ROLLBACK")
    return elapsed * 1000


def scans(db: PostgresDatabase, client_id: str, statement: str) -> list[str]:
    """The scans of one of recount's statements (`inbox_counts` or `analytics_aggregates`) under EXPLAIN
    (ANALYZE, BUFFERS): what it reads, and how often. Rolled back."""
    db.run("BEGIN")
    try:
        params = (
            {"client_id": client_id, "now": None, **inbox_paths(db, client_id)}
            if statement == "inbox_counts"
            else {"client_id": client_id, "today": None, "window_days": 30}
        )
        lines = [
            str(row["QUERY PLAN"])
            for row in db.run("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + query(statement, "recompute"), **params)
        ]
    finally:
        db.run("ROLLBACK")
    keep = [line.strip() for line in lines if " Scan " in line and (' on "' in line or "using" in line)]
    return [line for line in keep if "CTE Scan" not in line] + [
        line.strip() for line in lines if line.startswith("Execution Time")
    ]


def _set_jit(db: PostgresDatabase, *, on: bool) -> None:
    db.run(f"SET jit = {'on' if on else 'off'}")


_VARIANTS: list[tuple[str, bool]] = [("recount", True), ("seed", True), ("recount", False), ("seed", False)]
_RUNS: dict[str, Callable[[PostgresDatabase, str], float]] = {"recount": ours, "seed": seed}


def measure(db: PostgresDatabase, cache: RedisStore, workspaces: Workspaces, repeats: int) -> B1Report:
    """For one workspace of each size: one warm-up of each run, then `repeats` rounds of all four variants
    (recount and seed, JIT on and off), their order rotated each round; then recount's whole job and the least job
    on recount's paths side by side, each first in turn, then the job's fixed shape and the least job probed (all
    as the functions' sessions run); medians.
    Then the analytics statement the same number of times, and the scans of recount's statement at the smallest
    and largest size."""
    jit_default = str(db.run("SHOW jit")[0]["jit"])
    settings = RecomputeSettings()  # made once, as a function's execution environment does
    # A cached generic plan keeps the JIT decision of the run that planned it: plan every run anew.
    db.run("SET plan_cache_mode = force_custom_plan")
    _set_jit(db, on=True)
    jit_available = bool(db.run("SELECT pg_jit_available() AS available")[0]["available"])
    by_size: dict[int, str] = {}
    for client_id, leads in workspaces.sizes.items():
        by_size.setdefault(leads, client_id)
    rows = []
    for leads, client_id in sorted(by_size.items()):
        samples: dict[tuple[str, bool], list[float]] = {variant: [] for variant in _VARIANTS}
        jobs: list[float] = []
        floors: list[float] = []
        probed: list[float] = []
        on_paths: list[float] = []
        for who, jit in _VARIANTS:
            _set_jit(db, on=jit)
            _RUNS[who](db, client_id)
        db.run("RESET jit")
        job(db, cache, settings, client_id)
        least_job(db, cache, client_id, probed=False)
        floor_job(db, cache, client_id)
        least_job(db, cache, client_id, probed=True)
        for round_ in range(repeats):
            shift = round_ % len(_VARIANTS)
            for who, jit in _VARIANTS[shift:] + _VARIANTS[:shift]:
                _set_jit(db, on=jit)
                samples[(who, jit)].append(_RUNS[who](db, client_id))
            db.run("RESET jit")  # the job as the functions run it
            # The job and its least job on the same paths side by side, each first in turn: what ran just before
            # either moved it by 10-20% (at 20k, the least job took 132 ms right after the probed one, 117 right
            # after the job).
            for which in ("job", "least") if round_ % 2 == 0 else ("least", "job"):
                if which == "job":
                    jobs.append(job(db, cache, settings, client_id))
                else:
                    on_paths.append(least_job(db, cache, client_id, probed=False))
            floors.append(floor_job(db, cache, client_id))
            probed.append(least_job(db, cache, client_id, probed=True))
        db.run("BEGIN")
        paths = inbox_paths(db, client_id)
        db.run("ROLLBACK")
        floor_rounds = probed if statistics.median(probed) < statistics.median(on_paths) else on_paths
        medians: dict[tuple[str, bool], float] = {variant: statistics.median(s) for variant, s in samples.items()}
        analytics_ms = statistics.median(analytics(db, client_id) for _ in range(repeats + 1))
        rows.append(
            B1Result(
                leads,
                Timing(medians[("recount", True)], medians[("recount", False)]),
                Timing(medians[("seed", True)], medians[("seed", False)]),
                seed_jit_compile_ms(db, client_id),
                statistics.median(jobs),
                analytics_ms,
                statistics.median(probed),
                statistics.median(floors),
                paths["probe_review"],
                statistics.median(on_paths),
                paths["probe_sent"],
                tuple(jobs),
                tuple(floor_rounds),
            )
        )
    db.run("RESET jit")
    plans = {
        (statement, leads): scans(db, client_id, statement)
        for leads, client_id in sorted(by_size.items())
        if leads in (min(by_size), max(by_size))
        for statement in ("inbox_counts", "analytics_aggregates")
    }
    db.run("RESET plan_cache_mode")
    return B1Report(workspaces, rows, repeats, jit_available, jit_default, plans)
