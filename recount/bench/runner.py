"""Run B1-B9 against real PostgreSQL and Redis (given, or throwaway) and moto's server (a process of its own),
price what they measured (B10), then write the report."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import redis
from rich.console import Console

from infra.config import StageConfig
from recount.bench import (
    b1_recompute,
    b2_io,
    b3_cold_start,
    b4_floor,
    b4_pipeline,
    b5_sweep,
    b6_growth,
    b7_cli,
    b8_triggers,
    b9_incremental,
    b10_cost,
)
from recount.bench.b3_events import first_batch_events, function_environment
from recount.bench.outcome import NotRun, after, attempt, both
from recount.bench.provenance import provenance
from recount.bench.report import Results, write
from recount.bench.sections.b4_pipeline import B4_GOAL_P95_S
from recount.local.aws_server import MotoServer
from recount.local.pipeline import LocalPipeline
from recount.local.provision import provision, stage_config
from recount.migrations import migrate
from recount.servers.throwaway import ThrowawayServers, free_port
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.settings import EnvVar
from shared.telemetry import logger, set_emf


@dataclass(frozen=True)
class Plan:
    b1_workspaces: list[tuple[int, int]]  # (how many, leads each)
    b1_repeats: int
    b3_runs: int
    b4_workspaces: int
    b4_rates: tuple[float, ...]  # stepped up in this order until a step is not held
    b4_step_s: float
    b4_floor_rounds: int  # rounds of B4's floor, each a job of each kind from each handler
    b5_workspaces: int
    b5_scan_workspaces: int
    b6_leads: int  # B6 grows the database around B1's workspace of (about) this size
    b6_repeats: int  # rounds of B6, and of B9 in its grown copy (a 5,000-lead job takes tens of ms: more rounds)
    b7_runs: int
    b8_runs: int
    b8_hot_s: float  # each way of the hot-workspace writes
    b9_repeats: int  # rounds of B9 (its jobs take milliseconds: more rounds, steadier medians)


FULL = Plan(
    b1_workspaces=[(1, 100_000), (10, 20_000), (100, 5_000), (200, 1_000)],
    b1_repeats=9,
    b3_runs=40,
    b4_workspaces=500,
    b4_rates=(40, 50, 60, 70, 80, 90, 100, 110, 120, 140, 160),
    b4_step_s=60,
    b4_floor_rounds=b4_floor.ROUNDS,
    b5_workspaces=2_000,  # the sends are moto's time (B5 says so); the database side still scans b5_scan_workspaces
    b5_scan_workspaces=10_000,
    b6_leads=5_000,
    b6_repeats=60,
    b7_runs=15,
    b8_runs=30,
    b8_hot_s=27.0,
    b9_repeats=11,
)
QUICK = Plan(
    b1_workspaces=[(1, 10_000), (2, 2_000)],
    b1_repeats=2,
    b3_runs=2,
    b4_workspaces=40,
    b4_rates=(10, 20),
    b4_step_s=8,
    b4_floor_rounds=3,
    b5_workspaces=300,
    b5_scan_workspaces=1_000,
    b6_leads=2_000,
    b6_repeats=2,
    b7_runs=2,
    b8_runs=2,
    b8_hot_s=0.5,
    b9_repeats=2,
)


def run(plan: Plan, report_path: Path, console: Console, *, quick: bool, command: str) -> Path:
    started = time.monotonic()
    measured = provenance(command)  # before anything runs: the code as it was when the run began
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)  # moto's server on loopback takes any credentials
    logger.setLevel("WARNING")  # in-process handler runs (B2, B5) would print their INFO lines here
    set_emf(False)
    servers = None
    database_url = os.environ.get(EnvVar.DATABASE_URL)
    redis_url = os.environ.get(EnvVar.REDIS_URL)
    if not database_url or not redis_url:
        servers = ThrowawayServers(Path(tempfile.mkdtemp(prefix="recount-bench-")))
        database_url = database_url or servers.start_postgres(free_port())
        redis_url = redis_url or servers.start_redis(free_port())
    bench_url = _fresh_database(database_url)
    copies: list[str] = []  # B6's grown copy, dropped once B9 measured in it (or at the end, whatever happened)
    moto = MotoServer().start()  # not in this process: B5's sends would share its GIL with the sweep
    try:
        db = PostgresDatabase(bench_url, statement_timeout_ms=600_000)
        migrate(db)
        versions = (
            db.run("SHOW server_version")[0]["server_version"],
            str(redis.Redis.from_url(redis_url).info("server")["redis_version"]),
        )
        console.print(f"B1: generating {sum(n * leads for n, leads in plan.b1_workspaces):,} leads…")
        b1 = attempt("B1", console, lambda: b1_recompute.run(bench_url, redis_url, plan.b1_workspaces, plan.b1_repeats))
        console.print("B9: the incremental job, in B1's data set…")
        b9 = after(
            "B9",
            console,
            ("B1's data set", b1),
            lambda report: b9_incremental.measure(bench_url, redis_url, report.workspaces, plan.b9_repeats),
        )
        console.print("B6: the database grows around one workspace, in a copy…")
        db.close()  # the copy is made from this database as a template: nothing may be connected to it
        b6 = after(
            "B6",
            console,
            ("B1's data set", b1),
            lambda report: b6_growth.run(database_url, bench_url, report, plan.b6_leads, plan.b6_repeats),
        )
        if not isinstance(b6, NotRun):
            copies.append(b6.grown_url)
        b9 = _b9_grown(console, b9, b1, b6, bench_url, redis_url)
        for copy in copies:
            b6_growth.drop(database_url, copy)
        console.print("B2: round trips per job…")
        b2 = attempt("B2", console, lambda: b2_io.measure(bench_url, redis_url))
        endpoint = moto.endpoint_url
        _, config = stage_config("dev")
        target = (
            "moto's queues and table",
            attempt(
                "provisioning",
                console,
                lambda: provision(endpoint, config, prefix="bench", database_url=bench_url, redis_url=redis_url).target,
            ),
        )
        console.print("B3: cold starts…")
        b3 = after(
            "B3",
            console,
            target,
            lambda t: b3_cold_start.measure(
                {**function_environment(t, bench_url, redis_url), EnvVar.ANALYTICS_AGGREGATES_ENABLED: "true"},
                plan.b3_runs,
                first_batch_events(db, t),
            ),
        )
        console.print("B5: a sweep…")
        b5 = after(
            "B5",
            console,
            target,
            lambda t: b5_sweep.measure(bench_url, redis_url, t, plan.b5_workspaces, plan.b5_scan_workspaces),
        )
        console.print(
            f"B4: the local pipeline's capacity, {plan.b4_step_s:.0f} s steps of "
            f"{', '.join(f'{rate:.0f}' for rate in plan.b4_rates)} dirty events/s…"
        )
        b4 = attempt("B4", console, lambda: _b4(plan, config, bench_url, redis_url, console))
        db.close()
        console.print("B7: operator commands start…")
        b7 = attempt("B7", console, lambda: b7_cli.measure(plan.b7_runs))
        console.print("B8: what the dirty triggers cost the app's writes…")
        b8 = attempt("B8", console, lambda: b8_triggers.measure(database_url, plan.b8_runs, plan.b8_hot_s))
        # B1's and B2's per-job figures, priced for the sized stage at the price file's date
        b10 = after("B10", console, both(("B1", b1), ("B2", b2)), lambda run: b10_cost.from_run(*run))
        seconds = time.monotonic() - started
        write(
            Results(quick, versions[0], versions[1], b1, b2, b3, b4, b5, seconds, b6, b7, b8, b9, b10, measured),
            report_path,
        )
        return report_path
    finally:
        moto.stop()
        for url in (*copies, bench_url):
            _drop_database(database_url, url)
        if servers is not None:
            servers.stop()


def _b9_grown(
    console: Console,
    b9: b9_incremental.B9Result | NotRun,
    b1: b1_recompute.B1Report | NotRun,
    b6: b6_growth.B6Result | NotRun,
    bench_url: str,
    redis_url: str,
) -> b9_incremental.B9Result | NotRun:
    """B9 again for B6's workspace, in B6's grown copy and in B1's data set in the same rounds; when B6 did not
    grow it, B9 says why."""
    if isinstance(b9, NotRun) or isinstance(b1, NotRun):
        return b9
    if isinstance(b6, NotRun):
        return replace(b9, grown_note=f"Not measured in the grown copy: B6 did not run ({b6.reason}).")
    console.print("B9: the incremental job, in B6's grown copy…")
    outcome = attempt(
        "B9 (grown)",
        console,
        lambda: b9_incremental.grown(bench_url, b6.grown_url, redis_url, b9, b1.workspaces, b6.leads, b6.repeats),
    )
    if isinstance(outcome, NotRun):
        return replace(b9, grown_note=f"Not measured in the grown copy: {outcome.reason}")
    return outcome


def _b4(plan: Plan, config: StageConfig, database_url: str, redis_url: str, console: Console) -> b4_pipeline.B4Result:
    pipeline = LocalPipeline("dev", config, database_url=database_url, redis_url=redis_url, schedules=False).start()
    try:
        result = b4_pipeline.measure(pipeline, plan.b4_workspaces, plan.b4_rates, plan.b4_step_s, B4_GOAL_P95_S * 1000)
    finally:
        pipeline.stop()
    console.print(f"B4's floor: recount's handler and the mandated parts alone, warm, {plan.b4_floor_rounds} rounds…")
    floor = attempt(
        "B4's floor",
        console,
        lambda: b4_floor.measure(database_url, redis_url, plan.b4_floor_rounds, batch=result.batch),
    )
    return replace(result, floor=floor)


def _fresh_database(server_url: str) -> str:
    """A database of this run's own (runs may overlap, e.g. CI's quick run beside a full one)."""
    base, _, _ = server_url.rpartition("/")
    name = f"recount_bench_{os.getpid()}_{int(time.time())}"
    admin = PostgresDatabase(server_url)
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{base}/{name}"


def _drop_database(server_url: str, url: str) -> None:
    admin = PostgresDatabase(server_url)
    admin.run(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
    admin.close()
