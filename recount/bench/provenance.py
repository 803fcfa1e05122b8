"""What a report was measured on: the commit checked out when the run began (and any code that differed from it)
and the command that ran it, so a figure can always be traced to the code that produced it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The code a run measures (the report it writes lives in docs/, and is not part of what it measured)
CODE = ("recount", "shared", "functions", "sql", "infra", "app.py", "requirements.lock")


@dataclass(frozen=True)
class Provenance:
    command: str
    commit: str  # the commit checked out when the run began; "unknown" outside a git checkout
    changed: tuple[str, ...] = ()  # code files that differed from it then (uncommitted, or not yet added)

    def describe(self) -> str:
        if self.commit == "unknown":
            return f"`{self.command}`, outside a git checkout (no commit to name)"
        edits = (
            f", with uncommitted changes to {len(self.changed)} file(s) of code ({', '.join(self.changed[:5])}"
            f"{', …' if len(self.changed) > 5 else ''})"
            if self.changed
            else ""
        )
        return f"`{self.command}` at commit `{self.commit[:12]}`{edits}"


def provenance(command: str) -> Provenance:
    try:
        commit = _git("rev-parse", "HEAD").strip()
        status = _git("status", "--porcelain", "--", *CODE)
    except (OSError, subprocess.CalledProcessError):
        return Provenance(command, "unknown")
    return Provenance(command, commit, tuple(line[3:] for line in status.splitlines() if line.strip()))


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
