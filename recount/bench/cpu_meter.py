"""CPU-seconds spent by groups of processes on this machine, for B4's figures.

psutil reads each process's CPU time every half second in a thread, so a process that ends within a step
keeps its last reading and one that starts counts from zero. PostgreSQL is the benchmark database's backends
only (not the server's background processes, not other databases' sessions or autovacuum), the app's writes
(sessions named `app_name`) apart from recount's; Redis is the benchmark's server. Stores on another host are
not counted (their processes are not here to read).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import psutil
import redis

from shared.adapters.postgres import PostgresDatabase

Readings = dict[str, dict[int, float]]  # group -> pid -> CPU-seconds so far
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_BACKENDS = (
    "SELECT pid, application_name = :app_name AS app FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class CpuMeter:
    def __init__(self, groups: Callable[[], dict[str, list[int]]], interval_s: float = 0.5) -> None:
        self._groups = groups
        self._interval_s = interval_s
        self._seen: Readings = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)

    def start(self) -> CpuMeter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def read(self) -> Readings:
        self.sample()
        with self._lock:
            return {group: dict(pids) for group, pids in self._seen.items()}

    def sample(self) -> None:
        for group, pids in self._groups().items():
            for pid in pids:
                spent = process_cpu_s(pid)
                if spent is not None:
                    with self._lock:
                        seen = self._seen.setdefault(group, {})
                        seen[pid] = max(seen.get(pid, 0.0), spent)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()


def spent(before: Readings, after: Readings) -> dict[str, float]:
    """CPU-seconds each group spent between two readings."""
    return {
        group: sum(cpu - before.get(group, {}).get(pid, 0.0) for pid, cpu in pids.items())
        for group, pids in after.items()
    }


def process_cpu_s(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:  # gone since it was listed
        return None
    return times.user + times.system


class StoreProcesses:
    """The pids of the benchmark's PostgreSQL backends and Redis server, when they run on this machine."""

    def __init__(self, database_url: str, redis_url: str, app_name: str = "") -> None:
        self._app_name = app_name
        self._db = PostgresDatabase(database_url) if urlsplit(database_url).hostname in LOOPBACK else None
        self._redis_pid: list[int] = []
        if urlsplit(redis_url).hostname in LOOPBACK:
            client = redis.Redis.from_url(redis_url)
            self._redis_pid = [int(client.info("server")["process_id"])]
            client.close()
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, list[int]]:
        with self._lock:  # the meter's thread and a step's reading share the connection
            backends = self._db.run(_BACKENDS, app_name=self._app_name) if self._db is not None else []
        return {
            "postgresql": [row["pid"] for row in backends if not row["app"]],
            "app writes": [row["pid"] for row in backends if row["app"]],
            "redis": self._redis_pid,
            "pollers": [os.getpid()],
        }

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
