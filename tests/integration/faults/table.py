"""The fault table: one row per scenario, collected during the session and printed at its end (conftest.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FaultRow:
    scenario: str
    fault: str  # how it was injected
    injected: int  # messages sent for the scenario
    survived: int  # ended where they should, with the workspace (or the dead-letter reason) correct
    lost: int  # neither done nor in a dead-letter queue: must be 0
    where: Counter[str] = field(default_factory=Counter)  # path of a message -> how many took it

    def where_text(self) -> list[str]:
        return [f"{count}x {path}" for path, count in sorted(self.where.items(), key=lambda item: (-item[1], item[0]))]


ROWS: list[FaultRow] = []


def record(row: FaultRow) -> FaultRow:
    ROWS.append(row)
    return row


def render(rows: list[FaultRow]) -> list[str]:
    headers = ("scenario", "injected", "survived", "lost", "where each message ended up")
    width = max(len(headers[0]), *(len(row.scenario) for row in rows))
    lines = [f"{headers[0]:<{width}}  {headers[1]:>8}  {headers[2]:>8}  {headers[3]:>4}  {headers[4]}"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        where = row.where_text() or ["-"]
        lines.append(f"{row.scenario:<{width}}  {row.injected:>8}  {row.survived:>8}  {row.lost:>4}  {where[0]}")
        lines.extend(f"{'':<{width}}  {'':>8}  {'':>8}  {'':>4}  {path}" for path in where[1:])
        lines.append(f"{'':<{width}}  {'':>8}  {'':>8}  {'':>4}  (fault: {row.fault})")
    total = (sum(row.injected for row in rows), sum(row.survived for row in rows), sum(row.lost for row in rows))
    lines.append("-" * len(lines[0]))
    lines.append(f"{'total':<{width}}  {total[0]:>8}  {total[1]:>8}  {total[2]:>4}")
    return lines
