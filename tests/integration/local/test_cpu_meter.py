"""B4's CPU meter reads the benchmark's own stores: its database's backends, not another database's."""

from __future__ import annotations

import os
import uuid

import redis

from recount.bench.cpu_meter import CpuMeter, StoreProcesses
from shared.adapters.postgres import PostgresDatabase
from tests.conftest import ADMIN_DATABASE_URL


def test_the_meter_counts_its_own_database_and_redis_and_not_another_databases_sessions(
    database_url: str, redis_url: str
) -> None:
    other_name = f"recount_other_{uuid.uuid4().hex[:8]}"
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run(f'CREATE DATABASE "{other_name}"')
    other = PostgresDatabase(f"{ADMIN_DATABASE_URL.rpartition('/')[0]}/{other_name}")
    ours = PostgresDatabase(database_url)
    stores = StoreProcesses(database_url, redis_url)
    try:
        other_pid = other.run("SELECT pg_backend_pid() AS pid")[0]["pid"]
        our_pid = ours.run("SELECT pg_backend_pid() AS pid")[0]["pid"]
        pids = stores()
        meter = CpuMeter(stores)
        before = meter.read()
        other.run("SELECT count(*) FROM generate_series(1, 3000000)")  # busy, but in another database
        after = meter.read()
    finally:
        stores.close()
        ours.close()
        other.close()
        admin.run(f'DROP DATABASE IF EXISTS "{other_name}" WITH (FORCE)')
        admin.close()

    assert our_pid in pids["postgresql"] and other_pid not in pids["postgresql"]
    assert pids["redis"] == [int(redis.Redis.from_url(redis_url).info("server")["process_id"])]
    assert pids["pollers"] == [os.getpid()]
    assert other_pid not in after["postgresql"] and set(before) <= set(after)
