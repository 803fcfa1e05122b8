"""`python -m recount demo`: the local pipeline, realistic workspaces and simulated app traffic, then a
summary and a drift check of every workspace against a fresh computation (non-zero exit on drift)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from recount.commands.dataset import WorkspaceShape, generate_workspace
from recount.local.pipeline import LocalPipeline
from recount.local.provision import ROOT
from recount.local.traffic import MARK_DIRTY, App, Plan, Tally
from recount.local.view import render
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, Priority
from shared.contracts.metrics import Metric

DRAIN_TIMEOUT_S = 180.0


@dataclass
class DemoReport:
    workspaces: int = 0
    writes: int = 0
    events_sent: int = 0
    duplicates_sent: int = 0
    high_priority: int = 0
    outages: list[str] = field(default_factory=list)
    drained: bool = False
    drift: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


@dataclass
class Demo:
    pipeline: LocalPipeline
    workspaces: int = 8
    leads: int = 2_000
    rate: float = 20.0
    duration_s: float = 60.0
    seed: int = 7
    verify: Callable[[PostgresDatabase, list[str]], tuple[list[str], list[str]]] | None = None
    report: DemoReport = field(default_factory=DemoReport)

    def run(self, console: Console, live_view: bool = True) -> DemoReport:
        rng = random.Random(self.seed)
        assert self.pipeline.database_url
        db = PostgresDatabase(self.pipeline.database_url, statement_timeout_ms=120_000)
        console.print(f"generating {self.workspaces} workspaces of up to {self.leads} leads…")
        smallest = min(self.leads, max(50, self.leads // 10))  # --leads may be under 50
        client_ids = [
            generate_workspace(db, WorkspaceShape(leads=rng.randint(smallest, self.leads)))
            for _ in range(self.workspaces)
        ]
        self.report.workspaces = len(client_ids)
        target = self.pipeline.target
        plan = Plan(
            self.pipeline.database_url,
            target.endpoint_url or "",
            {queue: target.queue_urls[queue] for queue in ("counts", "counts_high")},
            client_ids,
            self.rate,
            self.duration_s,
            self.seed,
        )
        first = App(plan)
        for client_id in client_ids:  # the first computation of every workspace, as a backfill would do
            first.db.run(MARK_DIRTY, client_id=client_id)
            first.send(client_id, Priority.NORMAL)
        first.db.close()
        self._count(first.tally)
        stop = threading.Event()
        chaos = threading.Thread(target=self._chaos, args=(stop, rng), daemon=True)
        if self.pipeline.chaos:
            chaos.start()
        with (
            Live(render(self.pipeline, "recount demo"), console=console, refresh_per_second=2, transient=False)
            if live_view
            else _NoLive() as live
        ):
            app = self._start_app(plan)
            try:
                while app.poll() is None:
                    live.update(render(self.pipeline, "recount demo: traffic"))
                    time.sleep(0.5)
                self._count(self._tally(app))
            finally:
                app.kill()  # only if Ctrl-C or a failure left it running
            stop.set()
            for proxy in self.pipeline.proxies.values():
                proxy.up()
            self.report.drained = self._drain(db, live)
        if self.verify is not None:
            self.report.drift, self.report.pending = self.verify(db, client_ids)
        db.close()
        return self.report

    @staticmethod
    def _start_app(plan: Plan) -> subprocess.Popen[str]:
        """The simulated app, in a process of its own."""
        app = subprocess.Popen(
            [sys.executable, "-m", "recount.local.traffic"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C is the demo's, which stops it
        )
        assert app.stdin is not None
        app.stdin.write(json.dumps(asdict(plan)))
        app.stdin.close()
        return app

    @staticmethod
    def _tally(app: subprocess.Popen[str]) -> Tally:
        assert app.stdout is not None
        output = app.stdout.read()
        if app.wait() != 0:
            raise RuntimeError(f"the simulated app failed (exit status {app.returncode}); its error is above")
        return Tally(**json.loads(output))

    def _count(self, tally: Tally) -> None:
        self.report.writes += tally.writes
        self.report.events_sent += tally.events_sent
        self.report.duplicates_sent += tally.duplicates_sent
        self.report.high_priority += tally.high_priority

    def _chaos(self, stop: threading.Event, rng: random.Random) -> None:
        """Every 8-12 s, cut PostgreSQL or Redis for 1.5-3 s: transient faults the retries must absorb."""
        while not stop.wait(rng.uniform(8, 12)):
            name = rng.choice(sorted(self.pipeline.proxies))
            outage = rng.uniform(1.5, 3.0)
            self.report.outages.append(f"{name} down {outage:.1f} s")
            self.pipeline.proxies[name].down()
            stop.wait(outage)
            self.pipeline.proxies[name].up()

    def _drain(self, db: PostgresDatabase, live: Live | _NoLive) -> bool:
        """Wait until every queue is empty and no dirty mark is left; sweep for marks whose events were lost."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        swept_at = 0.0
        while time.monotonic() < deadline:
            live.update(render(self.pipeline, "recount demo: draining"))
            markers = db.run('SELECT count(*)::int AS n FROM "InboxCountsDirty"')[0]["n"]
            if self.pipeline.idle():
                if markers == 0:
                    return True
                if time.monotonic() - swept_at > 5:
                    self.pipeline.send_sweep(EventName.INBOX_COUNTS_SWEEP)
                    swept_at = time.monotonic()
            time.sleep(0.5)
        return False


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object) -> None:
        return None


def summary_table(pipeline: LocalPipeline, report: DemoReport) -> Table:
    stats = pipeline.stats
    freshness = stats.freshness()
    table = Table(title="recount demo: summary", title_justify="left", show_header=False)
    rows = [
        ("workspaces", report.workspaces),
        ("app writes (each with a dirty mark)", report.writes),
        (
            "events sent (high priority, duplicates)",
            f"{report.events_sent} ({report.high_priority} high, {report.duplicates_sent} duplicated)",
        ),
        ("recomputes run", stats.total(Metric.JOBS_SUCCEEDED)),
        ("coalesced in a batch", stats.total(Metric.JOBS_SKIPPED_COALESCED)),
        (
            "skipped: already fresh (clean) / duplicate",
            f"{stats.total(Metric.JOBS_SKIPPED_CLEAN)} / {stats.total(Metric.JOBS_SKIPPED_DUPLICATE)}",
        ),
        ("busy, re-sent with a delay", stats.total(Metric.JOBS_BUSY)),
        ("retries after a failure", stats.total(Metric.JOBS_RETRIED)),
        ("dead-lettered", stats.total(Metric.JOBS_DEAD_LETTERED)),
        ("outages injected", ", ".join(report.outages) or "none"),
        (
            "freshness p50 / p95 / max",
            f"{freshness['p50'] / 1000:.2f} s / {freshness['p95'] / 1000:.2f} s / {freshness['max'] / 1000:.2f} s",
        ),
        ("drained (queues empty, no dirty mark)", "yes" if report.drained else "[red]no[/red]"),
        (
            "drift against a fresh computation",
            "[green]none[/green]" if not report.drift else f"[red]{len(report.drift)}: {', '.join(report.drift)}[/red]",
        ),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    return table
