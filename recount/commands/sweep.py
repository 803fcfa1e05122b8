"""sweep: one sweep now, exactly as the scheduled one runs (shared.domain.sweep)."""

from __future__ import annotations

import logging
import sys
import uuid
from typing import TYPE_CHECKING

from recount.commands.connections import clients_for
from recount.commands.targets import Target
from recount.commands.usage import UsageError
from shared.contracts.errors import PermanentError
from shared.contracts.settings import SweepSettings

if TYPE_CHECKING:
    from shared.domain.sweep import SweepReport


def sweep_kind(kind: str) -> str:
    if kind not in ("inbox", "analytics"):
        raise UsageError(f"unknown sweep {kind!r}: choose inbox or analytics")
    return kind


def run_sweep(target: Target, kind: str, *, min_age_s: float | None = None) -> SweepReport:
    """One sweep now, exactly as the scheduled one runs (shared.domain.sweep)."""
    from shared.domain.sweep import sweep_analytics, sweep_inbox  # with Powertools' tracer: slow to import

    sweep_kind(kind)
    sweep = SweepSettings() if min_age_s is None else SweepSettings(min_age_s=min_age_s)
    clients = clients_for(target, sweep=sweep)
    _quiet_telemetry()
    request_id = f"manual-sweep-{uuid.uuid4()}"
    try:
        report = sweep_inbox(clients, request_id) if kind == "inbox" else sweep_analytics(clients, request_id)
    finally:
        clients.close()
    if report.skipped_reason:
        raise PermanentError(f"{kind} sweep skipped: {report.skipped_reason}")
    return report


def _quiet_telemetry() -> None:
    """The sweep's structured logs are for CloudWatch: here, only warnings, and on stderr, not stdout."""
    from shared.telemetry import logger

    logger.setLevel(logging.WARNING)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
