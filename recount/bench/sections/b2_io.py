"""B2's section of the report: round trips per job, counted on the wire."""

from __future__ import annotations

from recount.bench.b2_io import B2Result
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B2_TITLE = "B2 — round trips per job, on the wire"


def b2(outcome: B2Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B2_TITLE, outcome)
    goals = {store: goal for store, _, _, _, goal in outcome.rows()}
    misses = [store for store, warm, _, _, goal in outcome.rows() if goal is not None and warm > goal]
    return [
        f"## {B2_TITLE}",
        "",
        f"{1 + len(outcome.timed)} dirty events for as many dirty workspaces, one batch each, through the real "
        "inbox handler loaded fresh; PostgreSQL, Redis and moto's server reached through counting loopback proxies. "
        "A round trip is the client speaking after the server answered, whatever the protocol; *sent* is what the "
        "adapters sent (statements, commands, AWS requests). The first job pays for connections and prepared "
        f"statements; the second is the warm job counted here. It and the {len(outcome.timed) - 1} after it are "
        "timed for B10.",
        "",
        "| store | warm job: round trips | warm job: sent | first job: round trips | goal (warm) |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {store} | {warm} | {sent} | {cold} | {'' if goal is None else f'≤ {goal}'} |"
            for store, warm, sent, cold, goal in outcome.rows()
        ],
        "",
        "DynamoDB and SQS share moto's endpoint, so their rows count the clients' HTTP requests (one round trip "
        "each, each on a connection of its own: moto's server closes every connection after its answer, where "
        f"Lambda's clients keep theirs to AWS); the endpoint itself saw {outcome.warm.trips['AWS']} round trips in the "
        f"warm job, for {outcome.warm.sent['DynamoDB'] + outcome.warm.sent['SQS']} requests. The first job's figures "
        "count the turns that open each connection (PostgreSQL's startup message among them) but not TCP's "
        "handshake, and hold no TLS or password exchange, which a hosted store adds: these stores are local, "
        "without TLS, with trust authentication.",
        "",
        f"Goal: ≤ {goals['PostgreSQL']} / {goals['Redis']} / {goals['DynamoDB']} round trips to PostgreSQL / "
        f"Redis / DynamoDB per warm job — **{verdict(not misses)}**"
        + (f" (over: {', '.join(misses)})." if misses else "."),
        "",
        *_b2_pooled(outcome),
    ]


def _b2_pooled(outcome: B2Result) -> list[str]:
    if outcome.pooled is None:
        return []
    pooled, direct = outcome.pooled, outcome
    return [
        "In pooled mode (`DATABASE_POOLED=true`, what an RDS Proxy endpoint turns on), recount keeps none of the "
        "session state a proxy documents as pinning (tests/integration/test_postgres_pooled.py checks it after a "
        "recompute): the settings travel as `SET LOCAL` in the BEGIN's message (no extra trip), and no statement "
        "is prepared by name, so each statement with parameters takes pg8000's unnamed path (parse, describe, "
        "execute), as the round trips below show.",
        "",
        "| PostgreSQL | warm job: round trips | warm job: statements | first job: round trips |",
        "|---|---:|---:|---:|",
        f"| direct | {direct.warm.trips['PostgreSQL']} | {direct.warm.sent['PostgreSQL']} | "
        f"{direct.cold.trips['PostgreSQL']} |",
        f"| pooled | {pooled.warm.trips['PostgreSQL']} | {pooled.warm.sent['PostgreSQL']} | "
        f"{pooled.cold.trips['PostgreSQL']} |",
        "",
    ]
