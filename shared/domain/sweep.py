"""The sweeps: find due workspaces and enqueue one recompute event each. A sweep never recomputes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.contracts.client_id import CLIENT_ID_SQL, validate_client_id
from shared.contracts.errors import InvalidClientIdError, RecountError
from shared.contracts.events import Envelope, EventName, new_event, to_body
from shared.contracts.keys import JobName, stamp_text
from shared.contracts.metrics import Metric
from shared.domain.routing import queue_url_for
from shared.ports import Clients, OutgoingMessage, Row
from shared.queries import query
from shared.telemetry import count, logger, seconds

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class SweepReport:
    enqueued_dirty: int = 0
    enqueued_changed: int = 0  # workspaces with lead changes recorded and no mark
    enqueued_snoozed: int = 0
    enqueued_audits: int = 0  # workspaces whose lead state a full recompute audits
    enqueued_slo_misses: int = 0
    backlog: int = 0
    oldest_age_s: float = 0.0
    skipped_reason: str | None = None
    invalid_ids: tuple[str, ...] = ()  # ids outside recount's clientId rule found in the app's data (first 20)
    invalid_count: int = 0  # how many there were: skipped, never fatal
    republished: int = 0  # versions Redis had lost, put back

    @property
    def enqueued(self) -> int:
        return (
            self.enqueued_dirty
            + self.enqueued_changed
            + self.enqueued_snoozed
            + self.enqueued_audits
            + self.enqueued_slo_misses
        )


def sweep_inbox(clients: Clients, request_id: str) -> SweepReport:
    """Dirty markers oldest first in bounded pages, then workspaces with lead changes recorded, then those whose
    snoozes expired since computed, then the sampled audits; last, the versions check of every job
    (`reconcile_versions`)."""
    db, settings = clients.db, clients.sweep
    stats = db.run(query("sweep", "dirty_backlog"), **CLIENT_ID_SQL)[0]
    oldest = min((at for at in (stats["oldest_dirty_at"], stats["oldest_change_at"]) if at is not None), default=None)
    oldest_age_s = (stats["now"] - oldest).total_seconds() if oldest is not None else 0.0
    backlog = stats["backlog"] + stats["changed_only"]
    count(Metric.DIRTY_BACKLOG, backlog)
    seconds(Metric.DIRTY_OLDEST_AGE, max(0.0, oldest_age_s))

    enqueued: set[str] = set()
    # Markers whose id predates recount's clientId rule: never paged, named and counted, never fatal.
    invalid: list[str] = list(stats["invalid_sample"] or [])
    invalid_count = int(stats["invalid"])
    after_at, after_id = _EPOCH, ""
    while len(enqueued) < settings.max_workspaces:
        page_size = min(settings.page_size, settings.max_workspaces - len(enqueued))
        rows = db.run(
            query("sweep", "dirty_page"),
            after_at=after_at,
            after_id=after_id,
            min_age_s=settings.min_age_s,
            page_size=page_size,
            **CLIENT_ID_SQL,
        )
        valid, bad = _valid_rows(rows)
        invalid_count += len(bad)  # the SQL rule and the Python rule agree; any that did not is still skipped
        invalid += bad
        events = [
            new_event(
                EventName.INBOX_COUNTS_RECOMPUTE,
                client_id=row["client_id"],
                source="sweep",
                request_id=request_id,
                dirty_generation=row["generation"],
            )
            for row in valid
        ]
        _send(clients, events)
        enqueued.update(row["client_id"] for row in valid)
        if len(rows) < page_size:
            break
        after_at, after_id = rows[-1]["dirty_at"], rows[-1]["client_id"]
    dirty = len(enqueued)

    changed = _enqueue_lead_changes(clients, request_id, enqueued)

    snoozed_events = []
    if len(enqueued) < settings.max_workspaces:
        expired, bad = _valid_rows(
            db.run(
                query("sweep", "snoozes_expired"),
                lookback_hours=settings.snooze_lookback_hours,
                max_workspaces=settings.max_workspaces - len(enqueued),
                **CLIENT_ID_SQL,
            )
        )
        invalid_count += len(bad)
        invalid += bad
        for row in expired:
            if row["client_id"] in enqueued:
                continue
            # A dirty event: the job moves in what the clock changed (incrementally while the capture keeps the
            # lead state). One event id per (workspace, computation it supersedes), so the logs tie the copies of
            # two sweeps together; the job's key follows the data either way.
            event = new_event(
                EventName.INBOX_COUNTS_DIRTY, client_id=row["client_id"], source="sweep", request_id=request_id
            )
            stamp = row["computed_at"].strftime("%Y%m%dT%H%M%S%f")[:-3]
            snoozed_events.append(event.model_copy(update={"id": f"snooze-{row['client_id']}-{stamp}"}))
        _send(clients, snoozed_events)
    _report_invalid("inbox", invalid, invalid_count)
    audited = _enqueue_audits(clients, request_id, enqueued)
    report = SweepReport(
        enqueued_dirty=dirty,
        enqueued_changed=changed,
        enqueued_snoozed=len(snoozed_events),
        enqueued_audits=audited,
        republished=reconcile_versions(clients),
        backlog=backlog,
        oldest_age_s=oldest_age_s,
        invalid_ids=tuple(invalid[:20]),
        invalid_count=invalid_count,
    )
    count(Metric.SWEEP_ENQUEUED, report.enqueued)
    logger.info(
        "inbox sweep",
        extra={
            "enqueuedDirty": report.enqueued_dirty,
            "enqueuedChanged": report.enqueued_changed,
            "enqueuedSnoozed": report.enqueued_snoozed,
            "enqueuedAudits": report.enqueued_audits,
            "backlog": report.backlog,
            "oldestDirtyAgeSeconds": round(report.oldest_age_s, 3),
            "versionsRepublished": report.republished,
        },
    )
    return report


def _enqueue_lead_changes(clients: Clients, request_id: str, enqueued: set[str]) -> int:
    """Workspaces with lead changes recorded and no mark (the capture's, docs/design.md §10): one dirty event
    each, in id-ordered pages, within what SWEEP_MAX_WORKSPACES leaves. A change whose own event was lost is
    served within the sweep's period, as a mark is."""
    settings, sent, after = clients.sweep, 0, ""
    while len(enqueued) < settings.max_workspaces:
        page_size = min(settings.page_size, settings.max_workspaces - len(enqueued))
        rows = clients.db.run(
            query("sweep", "lead_changes_page"), after=after, min_age_s=settings.min_age_s, page_size=page_size
        )
        fresh = [row["client_id"] for row in rows if row["client_id"] not in enqueued]
        _send(
            clients,
            [
                new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="sweep", request_id=request_id)
                for client_id in fresh
            ],
        )
        enqueued.update(fresh)
        sent += len(fresh)
        if len(rows) < page_size:
            break
        after = rows[-1]["client_id"]
    return sent


def _enqueue_audits(clients: Clients, request_id: str, enqueued: set[str]) -> int:
    """A sampled full reconciliation: SWEEP_AUDIT_WORKSPACES workspaces with kept lead state, at random, each an
    explicit recompute (the full pass), which repairs and reports (LeadStateDrift) what the capture missed.
    Workspaces this sweep already enqueued are left out; none when the capture was never on."""
    if clients.sweep.audit_workspaces == 0:
        return 0
    rows = clients.db.run(query("sweep", "audit_sample"), n=clients.sweep.audit_workspaces)
    chosen = [row["client_id"] for row in rows if row["client_id"] not in enqueued]
    _send(
        clients,
        [
            new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id=client_id, source="audit", request_id=request_id)
            for client_id in chosen
        ],
    )
    enqueued.update(chosen)
    return len(chosen)


def sweep_analytics(clients: Clients, request_id: str) -> SweepReport:
    """Workspaces whose analytics reads missed their SLO: enqueue, then remove exactly those members."""
    if not clients.recompute.analytics_aggregates_enabled:
        logger.info("analytics sweep skipped: ANALYTICS_AGGREGATES_ENABLED is false")
        return SweepReport(skipped_reason="disabled: ANALYTICS_AGGREGATES_ENABLED is false")
    misses = clients.versions.slo_misses(clients.sweep.max_workspaces)
    valid, invalid = [], []
    for miss in misses:
        try:
            valid.append(validate_client_id(miss.member))
        except InvalidClientIdError:
            invalid.append(miss.member)
    _report_invalid("analytics", invalid, len(invalid))
    events = [
        new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id=client_id, source="sweep", request_id=request_id)
        for client_id in valid
    ]
    _send(clients, events)
    # Only after the sends (a failed send leaves them due), and only those not reported again meanwhile.
    clients.versions.remove_slo_misses(misses)
    count(Metric.SWEEP_ENQUEUED, len(events))
    logger.info("analytics sweep", extra={"enqueued": len(events)})
    return SweepReport(enqueued_slo_misses=len(events), invalid_ids=tuple(invalid[:20]), invalid_count=len(invalid))


_STAMPS_PAGE = {JobName.INBOX_COUNTS: "inbox_stamps_page", JobName.ANALYTICS_AGGREGATES: "analytics_stamps_page"}


def reconcile_versions(clients: Clients) -> int:
    """Check the next page of workspaces' published versions against their committed change stamps, and put back
    each one Redis lost (a failover that lost the last writes, a restore from a snapshot, an eviction), so a quiet
    workspace does not wait for its next change. Pages go round the workspaces in id order: each is checked within
    ceil(workspaces / SWEEP_RECONCILE_PAGE_SIZE) inbox sweeps. Best effort: a store that fails is logged and the
    next sweep tries again; the sweep's own work is already done."""
    jobs = [JobName.INBOX_COUNTS]
    if clients.recompute.analytics_aggregates_enabled:
        jobs.append(JobName.ANALYTICS_AGGREGATES)
    page_size, republished = clients.sweep.reconcile_page_size, 0
    for job in jobs:
        try:
            after = clients.versions.reconcile_cursor(job)
            window = (
                {"window_days": clients.recompute.analytics_window_days} if job is JobName.ANALYTICS_AGGREGATES else {}
            )
            rows = clients.db.run(
                query("sweep", _STAMPS_PAGE[job]), after=after, page_size=page_size, **window, **CLIENT_ID_SQL
            )
            stamps = {row["client_id"]: stamp_text(row["change_stamp"]) for row in rows if row["change_stamp"]}
            behind = clients.versions.republish(job, stamps)
            clients.versions.set_reconcile_cursor(job, rows[-1]["client_id"] if len(rows) == page_size else "")
        except RecountError as error:
            logger.warning(f"{job.value} versions not checked: {error}")
            continue
        republished += len(behind)
        if behind:
            logger.warning(
                f"{len(behind)} {job.value} version(s) lost by Redis put back", extra={"clientIds": behind[:20]}
            )
    count(Metric.VERSIONS_REPUBLISHED, republished)
    return republished


def _valid_rows(rows: list[Row]) -> tuple[list[Row], list[str]]:
    """The rows whose client_id recount may use, and the ids of the others."""
    valid, invalid = [], []
    for row in rows:
        try:
            validate_client_id(row["client_id"])
        except InvalidClientIdError:
            invalid.append(str(row["client_id"]))
        else:
            valid.append(row)
    return valid, invalid


def _report_invalid(sweep: str, sample: list[str], total: int) -> None:
    """One WARNING a sweep, naming at most 20 (a sweep runs every minute: that is the rate limit), and the
    InvalidWorkspaceIds metric with how many there were."""
    if total:
        count(Metric.INVALID_WORKSPACE_IDS, total)
        logger.warning(
            f"{sweep} sweep skipped {total} workspace id(s) outside the clientId rule",
            extra={"invalidIds": sample[:20]},
        )


def _send(clients: Clients, events: list[Envelope]) -> None:
    by_queue: dict[str, list[OutgoingMessage]] = {}
    for event in events:
        by_queue.setdefault(queue_url_for(event, clients.queues), []).append(OutgoingMessage(to_body(event)))
    for url, messages in by_queue.items():
        clients.sqs.send_batch(url, messages)
