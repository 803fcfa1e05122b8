"""B3's section of the report: a handler's import and first batch against the floor's, traced and with tracing off,
beside a usual Powertools handler module's import."""

from __future__ import annotations

from recount.bench.b3_cold_start import FLOOR, JUDGED, MODULES, PAUSED_FLOOR, B3Result, B3Row, B3Setting, usual_module
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B3_TITLE = "B3 — cold start"
B3_GOAL_RATIO = 1.15  # the judged handler's import and first batch over the floor's, in each tracing setting
SETTING_NAMES = {True: "traced", False: "tracing off"}
_IN_PROSE = {True: "traced", False: "with tracing off"}
_NAMES = {FLOOR: "the floor", PAUSED_FLOOR: "the floor, collector paused"}
FLOOR_PATH = f"{MODULES[FLOOR].replace('.', '/')}.py"


def b3(outcome: B3Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B3_TITLE, outcome)
    return [
        f"## {B3_TITLE}",
        "",
        f"Fresh interpreters, {outcome.runs} rounds; each round starts `python -c pass` once, then in each setting "
        f"({', then '.join(_setting_name(s) for s in outcome.settings)}) the usual handler module, the floor, "
        "every handler and the floor paused once each, in that order; medians. Imports and first batches are timed "
        "inside the interpreter and the bare start (`python -c pass`, wall time) added. Every side loads "
        "bytecode: recount's modules and the floor's are compiled ahead, as pip compiled the packages at install. "
        "*first batch* is import plus one one-message batch against local PostgreSQL, Redis and moto's server "
        "(connections and clients made on the way), each with work of its own: a new dirty workspace to "
        "recompute, a new analytics event, a sweep. Every side runs with what Lambda sets that changes what a side "
        "does: its task root and a function's name (given a name, recount's handlers check their time budget and "
        "make their PostgreSQL and Redis adapters while they load, as in Lambda's init phase; they connect on the "
        "first batch). The stages give the stores as secrets, which Lambda's init phase reads; here every side "
        "gets plain URLs, so no side reads a secret. *traced* is how the stages deploy the "
        "functions unless a stage sets `tracing: false`: with a sampled request, where recount's "
        "handlers, the floor and the usual module all make Powertools' Tracer (the X-Ray SDK loaded, its patches "
        "applied, the batch's segments sent); *tracing off* is `tracing: false` "
        "(`POWERTOOLS_TRACE_DISABLED=true`), where none of them makes one.",
        "",
        f"*The floor* (`{FLOOR_PATH}`) is a plain handler on the mechanisms recount is built on, loading, making "
        "and doing no more than they need, with no recount code: Powertools' Logger, Metrics and batch utility, "
        "idempotency on DynamoDB with its boto3 client, redis, pg8000 and pydantic. Its first batch does the I/O of "
        f"`{JUDGED}`'s, in the same order, on an event of its own for a dirty workspace of its own: the record "
        "parsed by a pydantic model; a PostgreSQL connection with recount's session settings, then the inbox job's "
        "own statements with the same parameters, "
        "read from `shared/queries/inbox_counts.sql` and prepared with pg8000 as recount prepares them (the dirty "
        "job's BEGIN, the lock query, the full recompute its row calls for, COMMIT), so the server plans the same "
        "statements on a fresh backend on both sides; a Redis command after the lock and one after the commit; the "
        "idempotency record written and closed in moto's DynamoDB around the recompute. The *usual handler module* "
        "is the top of a usual Powertools SQS handler with DynamoDB "
        "idempotency, Redis and PostgreSQL, for reading beside recount's imports: these imports and the objects such "
        "a module makes at import, clients excepted; with tracing off, the same without `Tracer`:",
        "",
        "```python",
        *usual_module(True),
        "```",
        "",
        *_table(outcome),
        "",
        *_skipped(outcome),
        *_sentences(outcome),
    ]


def _setting_name(setting: B3Setting) -> str:
    return SETTING_NAMES[setting.traced]


def _table(outcome: B3Result) -> list[str]:
    settings = outcome.settings
    names = [_setting_name(s) for s in settings]
    header = "".join(f" {n}: import (ms) | {n}: import + first batch (ms) | {n}: ÷ floor |" for n in names)

    def line(what: str, cells: list[tuple[float | None, float | None, float | None]]) -> str:
        shown = "".join(
            f" {_ms(imported)} | {_ms(first)} | {'' if ratio is None else f'{ratio:.2f}'} |"
            for imported, first, ratio in cells
        )
        return f"| {what} |{shown}"

    return [
        f"| what |{header}",
        f"|---|{'---:|---:|---:|' * len(settings)}",
        line("`python -c pass`", [(outcome.bare_ms, None, None)] * len(settings)),
        line("the usual handler module", [(s.usual_ms, None, None) for s in settings]),
        line("the floor", [(s.floor.import_ms, s.floor.first_batch_ms, None) for s in settings]),
        *(
            [line("the floor, collector paused", [_cells(outcome, s, s.paused_floor) for s in settings])]
            if any(s.paused_floor for s in settings)
            else []
        ),
        *[
            line(
                f"`import {MODULES[handler.name]}`",
                [_cells(outcome, s, s.row(handler.name)) for s in settings],
            )
            for handler in settings[0].handlers
        ],
    ]


def _cells(outcome: B3Result, setting: B3Setting, row: B3Row | None) -> tuple[float | None, float | None, float | None]:
    if row is None:
        return None, None, None
    return row.import_ms, row.first_batch_ms, outcome.ratio(setting, row)


def _ms(value: float | None) -> str:
    """To a tenth of a millisecond: a ratio the goal judges near its bound must come out of the table's figures."""
    return "" if value is None else f"{value:.1f}"


def _skipped(outcome: B3Result) -> list[str]:
    """How many first batches failed their record or did not log their work."""
    rows = outcome.rows()
    total = outcome.runs * len(rows)
    failed = sum(r.failed_batches for r in rows)
    idle = sum(r.idle_batches for r in rows)
    return [
        *(
            [f"{failed} of the {total} first batches reported their record failed ({_which(outcome, 'failed')}).", ""]
            if failed
            else []
        ),
        *(
            [
                f"{idle} of the {total} first batches did not log their work (a skip: "
                f"{_which(outcome, 'idle')}): the first-batch column includes them.",
                "",
            ]
            if idle
            else []
        ),
    ]


def _which(outcome: B3Result, kind: str) -> str:
    """Which rows the failed or skipped first batches fell in, and how many each: the ratios they touch."""
    return ", ".join(
        f"{_NAMES.get(row.name, f'`{row.name}`')} {_setting_name(setting)} {count}"
        for setting in outcome.settings
        for row in (setting.floor, *setting.handlers, *([setting.paused_floor] if setting.paused_floor else []))
        if (count := row.failed_batches if kind == "failed" else row.idle_batches)
    )


def _sentences(outcome: B3Result) -> list[str]:
    """What the imports alone and the tracing cost, then the goal."""
    imports = "; ".join(
        f"{_span([r.import_ms for r in s.handlers])} ms against the usual module's {s.usual_ms:.0f} ms "
        f"{_IN_PROSE[s.traced]}"
        for s in outcome.settings
    )
    made = "making their store adapters too, unconnected"
    lines = [f"Imports alone: recount's handlers, {made}, take {imports}.", ""]
    by_tracing = {s.traced: s for s in outcome.settings}
    if True in by_tracing and False in by_tracing:
        on, off = by_tracing[True], by_tracing[False]
        judged = on.row(JUDGED), off.row(JUDGED)
        lines += [
            f"Tracing adds {_added(on.usual_ms, off.usual_ms)} ms to the usual module's import, "
            f"{_added(on.floor.first_batch_ms, off.floor.first_batch_ms)} ms to the floor's import and first batch"
            + (
                f" and {_added(judged[0].first_batch_ms, judged[1].first_batch_ms)} ms to `{JUDGED}`'s."
                if judged[0] and judged[1]
                else "."
            ),
            "",
        ]
    judged_ratios = outcome.judged()
    if judged_ratios:
        met = all(ratio <= B3_GOAL_RATIO for _, ratio in judged_ratios)
        figures = ", ".join(f"{_IN_PROSE[s.traced]} **{ratio:.2f}x**" for s, ratio in judged_ratios)
        lines += [
            "Ratios subtract the bare interpreter start from both sides. Goal: "
            f"`{JUDGED}`'s import and first batch at most {B3_GOAL_RATIO}x the floor's, traced and with tracing off "
            "(the floor does its first batch's I/O; the other handlers' work is not the floor's, their ratios are for "
            f"reading) — {figures} ({verdict(met)}).",
            "",
        ]
    return lines + _paused(outcome)


def _paused(outcome: B3Result) -> list[str]:
    """The judged handler against the floor loaded as recount's handlers load, for reading beside the goal."""
    pairs = [
        (s, paused, row) for s in outcome.settings if (paused := s.paused_floor) and (row := s.row(JUDGED)) is not None
    ]
    if not pairs:
        return []
    floors = ", ".join(f"{outcome.ratio(s, paused):.2f}x the floor's {_IN_PROSE[s.traced]}" for s, paused, _ in pairs)
    against = ", ".join(f"{_IN_PROSE[s.traced]} {outcome.ratio(s, row, paused):.2f}x" for s, paused, row in pairs)
    return [
        "recount's handlers load with Python's cyclic garbage collector paused and what they loaded frozen after "
        "(`shared/coldstart.py`). *The floor, collector paused* is the floor loaded the same way (the pause is "
        f"recount's code, so the goal's floor is the one without it): its import and first batch take {floors}; "
        f"against it, `{JUDGED}`'s take {against}.",
        "",
    ]


def _added(traced_ms: float, untraced_ms: float) -> str:
    """The difference of the two figures as the table shows them, so a reader gets the same from it."""
    return f"{round(traced_ms, 1) - round(untraced_ms, 1):.1f}"


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.0f}" if round(low) == round(high) else f"{low:.0f} to {high:.0f}"
