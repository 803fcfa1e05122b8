"""How `verify --explain` prints: the verdict, every count that differs with what feeds it, and what the app
changed since the last computation."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recount.commands.explain import Difference, Explanation
from recount.render.verify import render_verify_result


def render_explanation(console: Console, explanation: Explanation, as_json: bool) -> None:
    if as_json:
        console.print_json(data=explanation.as_dict(), default=str)
        return
    render_verify_result(console, explanation.result)
    if not explanation.compared:
        return
    if explanation.computed_at is None:
        console.print("no materialized counts yet: the workspace was never computed")
        return
    console.print(f"counts last computed at {explanation.computed_at}")
    if explanation.differences:
        console.print(_differences_table(explanation.differences))
    changed = explanation.changed
    console.print(
        f"changed since then: {_at_most(changed.get('leads_changed', 0))} lead(s), "
        f"{_at_most(changed.get('messages_created', 0))} message(s) created, "
        f"{_at_most(changed.get('drafts_changed', 0))} AI draft(s) created or updated "
        "(deleted rows, and writes that left updatedAt as it was, do not show here)"
    )
    for lead in changed.get("leads", []):
        console.print(f"  lead {escape(str(lead['id']))} updated at {lead['updatedAt']}")
    if explanation.result.verdict.value == "drift":
        console.print(
            "No dirty mark covers this: a write path changed the workspace without marking it dirty. Look for the "
            "writes above in the app; `recount send inbox.counts.recompute --client-id …` repairs the counts."
        )


def _differences_table(differences: list[Difference]) -> Table:
    table = Table("scope", "count", "materialized", "fresh", "difference", "fed by (the app's writes)")
    for difference in differences:
        if not difference.count:
            table.add_row(
                escape(difference.scope), "(the whole row)", "", "", f"would be {difference.row}", difference.fed_by
            )
            continue
        table.add_row(
            escape(difference.scope),
            difference.count,
            str(difference.materialized),
            str(difference.fresh),
            f"{difference.delta:+d}",
            difference.fed_by,
        )
    return table


def _at_most(count: int) -> str:
    return "over 1,000" if count > 1000 else str(count)
