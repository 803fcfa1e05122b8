"""The fault table: one row per scenario, collected during the session and printed at its end (conftest.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FaultRow:
    scenario: str
    fault: str  # how it was injected
    injected: int  # messages sent for the scenario
    survived: int  # found once, where they should be, with the workspace (or the dead-letter reason) correct
    lost: int  # found nowhere (no outcome logged for it, in no queue, in no dead-letter queue): must be 0
    duplicated: int  # found more than once (two outcomes, or an outcome and a dead-letter queue): must be 0
    where: Counter[str] = field(default_factory=Counter)  # path of a message -> how many took it
    problems: dict[str, list[str]] = field(default_factory=dict)  # workspace -> what is wrong with it

    def where_text(self) -> list[str]:
        return [f"{count}x {path}" for path, count in sorted(self.where.items(), key=lambda item: (-item[1], item[0]))]


ROWS: list[FaultRow] = []


def record(row: FaultRow) -> FaultRow:
    ROWS.append(row)
    return row


def render(rows: list[FaultRow]) -> list[str]:
    headers = ("scenario", "injected", "survived", "lost", "twice", "where each message went, and where it was found")
    width = max(len(headers[0]), *(len(row.scenario) for row in rows))
    blank = f"{'':<{width}}  {'':>8}  {'':>8}  {'':>4}  {'':>5}"
    lines = [f"{headers[0]:<{width}}  {headers[1]:>8}  {headers[2]:>8}  {headers[3]:>4}  {headers[4]:>5}  {headers[5]}"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        where = row.where_text() or ["-"]
        lines.append(
            f"{row.scenario:<{width}}  {row.injected:>8}  {row.survived:>8}  {row.lost:>4}  "
            f"{row.duplicated:>5}  {where[0]}"
        )
        lines.extend(f"{blank}  {path}" for path in where[1:])
        lines.append(f"{blank}  (fault: {row.fault})")
    total = (
        sum(row.injected for row in rows),
        sum(row.survived for row in rows),
        sum(row.lost for row in rows),
        sum(row.duplicated for row in rows),
    )
    lines.append("-" * len(lines[0]))
    lines.append(f"{'total':<{width}}  {total[0]:>8}  {total[1]:>8}  {total[2]:>4}  {total[3]:>5}")
    lines.append(
        "lost and twice come from finding each message afterwards (an outcome the function logged for it, "
        "borne out by its workspace's data; the queues; the dead-letter queues), not from the handler's "
        "replies."
    )
    return lines
