"""B4: the pipeline's capacity on the local runtime. The dirty-event rate over many workspaces steps up, step
after step with no pause, until freshness p95 over a step passes the limit; the highest rate held for a whole
step is the capacity. On a machine too slow for the first rate, the rate steps down instead, by the same step,
each step after the queues drained, until one holds. From the same run, the CPU-seconds each process group spent
per event, recount's own parts (the execution environments, the benchmark database's backends serving them, Redis)
apart from the emulation around them (moto, the pollers, the load generator and its writes), show what recount
costs per event and what bounds the pipeline here."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from recount.bench.b4_floor import LEADS, LEADS_SQL, WORKSPACES_SQL, B4Floor
from recount.bench.b4_generator import APPLICATION_NAME
from recount.bench.cpu_meter import CpuMeter, StoreProcesses, spent
from recount.bench.outcome import NotRun
from recount.local.pipeline import LocalPipeline
from recount.local.provision import ROOT
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.metrics import Metric
from shared.topology import FunctionKey

# recount's own parts, and the emulation around them: AWS (moto, the event-source pollers) and the app (the load
# generator, its writes' PostgreSQL sessions).
OWN = ("environments", "postgresql", "redis")
EMULATION = ("generator", "app writes", "moto", "pollers")
GROUPS = (*EMULATION, *OWN)
SETTLE_S = 5.0  # freshness samples from a step's first seconds belong to the step before
DRAIN_LIMIT_S = 600.0
MIN_RATE = 1.0  # dirty events/s: the lowest step tried when the rates step down


@dataclass(frozen=True)
class Step:
    rate: float  # asked for
    sent: int
    seconds: float
    freshness_p50_ms: float
    freshness_p95_ms: float
    samples: int  # recomputes that reported their freshness in the step
    cpu_s: dict[str, float]  # process group -> CPU-seconds spent in the step
    recomputes: int = 0  # the inbox function's, while the step ran
    skipped_clean: int = 0

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def held(self, p95_limit_ms: float) -> bool:
        """Sent at the rate asked (within 5 %) and fresh within the limit at p95."""
        return self.samples > 0 and self.freshness_p95_ms <= p95_limit_ms and self.achieved_rate >= 0.95 * self.rate

    def cpu_per_event(self, group: str | None = None) -> float:
        spent = self.cpu_s[group] if group else sum(self.cpu_s.values())
        return spent / self.sent if self.sent else 0.0

    def own_cpu_per_event(self) -> float:
        """recount's own parts' CPU-seconds per event: the execution environments, the benchmark database's
        backends serving them, Redis."""
        return sum(self.cpu_per_event(group) for group in OWN)

    @property
    def busy_cores(self) -> float:
        return sum(self.cpu_s.values()) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class B4Result:
    workspaces: int
    step_s: float
    p95_limit_ms: float
    cores: int
    steps: tuple[Step, ...]
    recomputes: int
    coalesced: int
    skipped_clean: int
    busy: int
    cold_starts: int
    drain_s: float
    invocations: int = 0  # of the inbox function
    records: int = 0  # handed to those invocations
    floor: B4Floor | NotRun | None = None  # measured after the steps (recount.bench.b4_floor)

    @property
    def capacity(self) -> Step | None:
        """The highest step held (steps rise and stop at the first one not held; or, when the first was not
        held, fall until one is)."""
        held = [step for step in self.steps if step.held(self.p95_limit_ms)]
        return max(held, key=lambda step: step.rate) if held else None

    @property
    def stepped_down(self) -> bool:
        return len(self.steps) > 1 and self.steps[1].rate < self.steps[0].rate

    def own_limit(self, step: Step) -> float:
        """Events/s recount's own parts would hold on these cores with nothing else running (no emulation)."""
        per_event = step.own_cpu_per_event()
        return self.cores / per_event if per_event else 0.0

    @property
    def sent(self) -> int:
        return sum(step.sent for step in self.steps)

    @property
    def recomputes_per_event(self) -> float:
        return self.recomputes / self.sent if self.sent else 0.0

    @property
    def batch(self) -> int:
        """The inbox function's records per invocation over the run, rounded up (a larger batch spreads an
        invocation's cost over more events: up is the floor's safe side), 1 to 10 (Lambda's SQS batch)."""
        return min(10, max(1, math.ceil(self.records / self.invocations))) if self.invocations else 1

    @property
    def clean_per_event(self) -> float:
        return self.skipped_clean / self.sent if self.sent else 0.0

    @property
    def mix(self) -> tuple[float, float]:
        """Recomputes and clean skips per event sent, at the capacity step (where the own figure is judged: the
        run's whole holds the backlog of a step not held, whose late events find their workspace clean), else
        over the run."""
        step = self.capacity
        if step is None:
            return self.recomputes_per_event, self.clean_per_event
        return (step.recomputes / step.sent, step.skipped_clean / step.sent) if step.sent else (0.0, 0.0)

    def floor_ms(self, handler: str = "floor") -> float | None:
        """CPU-ms per event at the mix of recomputes and clean skips (`mix`), warm (B4Floor), for the floor or
        recount's handler; None when the floor was not measured."""
        if not isinstance(self.floor, B4Floor):
            return None
        return self.floor.at_mix(handler, *self.mix)

    def floor_in_steps_ms(self) -> float | None:
        """The floor in the steps' terms: recount's own CPU per event at the capacity step, times the floor's
        share of recount's handler measured side by side (same process, same events, interleaved). The two
        measurements differ in what they hold (processes, backends, load), so only the ratio carries over. None
        when there is no such ratio below 1: the floor not measured, no step held, or a floor that did not come
        out below recount's handler (then it bounds nothing)."""
        floor_ms, recount_ms = self.floor_ms(), self.floor_ms("recount")
        if floor_ms is None or recount_ms is None or self.capacity is None or not 0 < floor_ms < recount_ms:
            return None
        return self.capacity.own_cpu_per_event() * 1000 * floor_ms / recount_ms


def measure(
    pipeline: LocalPipeline, workspaces: int, rates: tuple[float, ...], step_s: float, p95_limit_ms: float
) -> B4Result:
    assert pipeline.database_url
    db = PostgresDatabase(pipeline.database_url, statement_timeout_ms=120_000)
    db.run(WORKSPACES_SQL, prefix="b4-", n=workspaces)
    db.run(LEADS_SQL, prefix="b4-", n=workspaces, leads=LEADS)
    db.run('VACUUM (ANALYZE) "Client", "Lead"')  # at rest, as autovacuum leaves them: the steps write no lead
    generator = _start_generator(pipeline, [f"b4-{i}" for i in range(1, workspaces + 1)])
    assert pipeline.redis_url
    stores = StoreProcesses(pipeline.database_url, pipeline.redis_url, app_name=APPLICATION_NAME)
    meter = CpuMeter(lambda: {**pipeline.process_ids(), **stores(), "generator": [generator.pid]}).start()
    steps: list[Step] = []
    try:
        for rate in rates:
            step = _step(pipeline, generator, meter, rate, step_s)
            steps.append(step)
            if not step.held(p95_limit_ms):
                break
        # The first rate was too much for this machine: fall by the steps' own size (by half once that would
        # reach zero), each step starting drained (a backlog left by the step before would count against it),
        # until one holds.
        down = rates[1] - rates[0] if len(rates) > 1 else rates[0] / 2
        rate = _lower(rates[0], down)
        while rate >= MIN_RATE and not any(step.held(p95_limit_ms) for step in steps):
            _drain(pipeline, db)
            steps.append(_step(pipeline, generator, meter, rate, step_s))
            rate = _lower(rate, down)
    finally:
        meter.stop()
        stores.close()
        assert generator.stdin is not None
        generator.stdin.close()
        generator.wait(timeout=60)
    drain_s = _drain(pipeline, db)
    db.close()
    stats = pipeline.stats
    inbox = pipeline.environments[FunctionKey.INBOX.value]
    return B4Result(
        workspaces,
        step_s,
        p95_limit_ms,
        os.cpu_count() or 1,
        tuple(steps),
        stats.total(Metric.JOBS_SUCCEEDED),
        stats.total(Metric.JOBS_SKIPPED_COALESCED),
        stats.total(Metric.JOBS_SKIPPED_CLEAN),
        stats.total(Metric.JOBS_BUSY),
        len(stats.cold_starts),
        drain_s,
        inbox.invocations,
        inbox.records,
    )


def _lower(rate: float, down: float) -> float:
    return rate - down if rate - down >= rate / 2 else rate / 2


def _drain(pipeline: LocalPipeline, db: PostgresDatabase) -> float:
    """Wait until the queues are empty and no dirty mark is left; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_LIMIT_S:
        markers = db.run('SELECT count(*)::int AS n FROM "InboxCountsDirty"')[0]["n"]
        if pipeline.idle() and markers == 0:
            break
        time.sleep(0.25)
    return time.monotonic() - started


def _start_generator(pipeline: LocalPipeline, client_ids: list[str]) -> subprocess.Popen[str]:
    generator = subprocess.Popen(
        [sys.executable, "-m", "recount.bench.b4_generator"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    plan = {
        "database_url": pipeline.database_url,
        "endpoint_url": pipeline.target.endpoint_url,
        "queue_url": pipeline.target.queue_urls["counts"],
        "client_ids": client_ids,
    }
    assert generator.stdin is not None
    generator.stdin.write(json.dumps(plan) + "\n")
    generator.stdin.flush()
    return generator


def _step(
    pipeline: LocalPipeline, generator: subprocess.Popen[str], meter: CpuMeter, rate: float, step_s: float
) -> Step:
    assert generator.stdin is not None and generator.stdout is not None
    jobs = (Metric.JOBS_SUCCEEDED, Metric.JOBS_SKIPPED_CLEAN)
    jobs_before = [pipeline.stats.total(metric) for metric in jobs]
    before = meter.read()
    generator.stdin.write(f"{rate} {step_s}\n")
    generator.stdin.flush()
    line = generator.stdout.readline()
    if not line:
        raise RuntimeError(f"B4's load generator exited (status {generator.wait()}); its error is above")
    used = spent(before, meter.read())
    recomputes, clean = (pipeline.stats.total(metric) - done for metric, done in zip(jobs, jobs_before, strict=True))
    sent = json.loads(line)
    with pipeline.stats.lock:
        samples = sorted(
            value
            for value, at in zip(pipeline.stats.freshness_ms, pipeline.stats.freshness_at, strict=True)
            if sent["started"] + min(SETTLE_S, step_s / 4) <= at <= sent["ended"]
        )
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))] if samples else 0.0
    return Step(
        rate,
        int(sent["sent"]),
        sent["ended"] - sent["started"],
        statistics.median(samples) if samples else 0.0,
        p95,
        len(samples),
        {group: used.get(group, 0.0) for group in GROUPS},
        recomputes,
        clean,
    )
