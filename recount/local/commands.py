"""The `local` and `demo` commands (registered on the CLI's typer app)."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:  # the local runtime (moto, the handlers) is imported only when a command runs it
    from recount.local.pipeline import LocalPipeline

Stage = Annotated[str, typer.Option(help="The cdk.json stage whose settings the local runtime uses.")]
Chaos = Annotated[bool, typer.Option(help="Cut PostgreSQL or Redis for a few seconds now and then.")]


def _pipeline(stage: str, chaos: bool, schedules: bool = True) -> LocalPipeline:
    from recount.cli.app import guarded
    from recount.local.pipeline import LocalPipeline
    from recount.local.provision import stage_config
    from shared.adapters.postgres_url import parse_database_url
    from shared.adapters.redis_url import check_redis_url
    from shared.contracts.settings import EnvVar

    name, config = stage_config(stage)
    database_url = os.environ.get(EnvVar.DATABASE_URL) or None
    redis_url = os.environ.get(EnvVar.REDIS_URL) or None
    # A malformed URL is one line before anything starts (not a traceback from the stores' start, or the functions').
    guarded(lambda: (database_url and parse_database_url(database_url), redis_url and check_redis_url(redis_url)))
    return LocalPipeline(
        name,
        config,
        database_url=database_url,
        redis_url=redis_url,
        chaos=chaos,
        schedules=schedules,
    )


def register(app: typer.Typer, console: Console) -> None:
    @app.command()
    def local(stage: Stage = "dev", chaos: Chaos = False) -> None:
        """Run the whole pipeline on this machine until Ctrl-C (which drains what is in flight)."""
        from rich.live import Live

        from recount.local.view import render

        pipeline = _pipeline(stage, chaos).start()
        console.print(
            f"recount local: PostgreSQL {pipeline.database_url}, Redis {pipeline.redis_url}, "
            f"SQS and DynamoDB {pipeline.target.endpoint_url}; logs in {pipeline.log_path}. "
            "Operator commands in another terminal act on it. Ctrl-C stops."
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            with Live(render(pipeline), console=console, refresh_per_second=2) as live:
                while not stop.wait(0.5):
                    live.update(render(pipeline))
        except KeyboardInterrupt:
            pass
        finally:
            console.print("draining what is in flight, then stopping…")
            pipeline.stop(drain=True)

    @app.command()
    def demo(
        duration: Annotated[float, typer.Option(help="Seconds of simulated app traffic.")] = 60.0,
        workspaces: Annotated[int, typer.Option(min=1, max=500)] = 8,
        leads: Annotated[int, typer.Option(min=10, max=200_000, help="Leads in the largest workspace.")] = 2000,
        rate: Annotated[float, typer.Option(min=0.1, max=2000, help="App writes per second.")] = 20.0,
        chaos: Chaos = False,
        stage: Stage = "dev",
        view: Annotated[bool, typer.Option(help="Show the live view while it runs.")] = True,
    ) -> None:
        """Local pipeline + generated workspaces + simulated traffic, then a summary and a drift check."""
        from recount.commands.verify import verify_drift
        from recount.local.demo import Demo, summary_table

        pipeline = _pipeline(stage, chaos).start()
        try:
            report = Demo(
                pipeline, workspaces=workspaces, leads=leads, rate=rate, duration_s=duration, verify=verify_drift
            ).run(console, live_view=view)
            console.print(summary_table(pipeline, report))
        finally:
            pipeline.stop(drain=True)
        if report.drift or not report.drained:
            raise typer.Exit(1)


_BENCH_REPORT = "docs/benchmarks.md"


def register_bench(app: typer.Typer, console: Console) -> None:
    @app.command()
    def bench(
        quick: Annotated[bool, typer.Option(help="A small run (under a minute) for CI.")] = False,
        output: Annotated[str, typer.Option(help="Where the report goes.")] = _BENCH_REPORT,
    ) -> None:
        """Run the benchmarks B1-B9, price what they measured (B10) and write the report (figures and plots) to
        docs/benchmarks.md."""
        from pathlib import Path

        from recount.bench.runner import FULL, QUICK, run

        command = "python -m recount bench" + (" --quick" if quick else "")
        command += "" if output == _BENCH_REPORT else f" --output {output}"
        path = run(QUICK if quick else FULL, Path(output), console, quick=quick, command=command)
        console.print(f"report written to {path}")
