"""Analytics daily aggregates (docs/design.md §3) materialized by the real recompute against PostgreSQL and Redis."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any, cast

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName, stamp_text, version_for_stamp
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute, RecomputeOutcome
from tests import oracle
from tests.builders import Workspace, new_id

TODAY = date(2026, 3, 1)
DAY = timedelta(days=1)
FIRST = TODAY - 29 * DAY  # 30-day window, today included
D = TODAY - 3 * DAY  # the busy day of the scenario
LAST_MS = time(23, 59, 59, 999_000)


def at(day: date, clock: time = time(12)) -> datetime:
    return datetime.combine(day, clock)


def expect(**counts: int) -> dict[str, int]:
    return {**dict.fromkeys(oracle.AGGREGATE_KEYS, 0), **counts}


def recompute(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str, today: date = TODAY
) -> RecomputeOutcome:
    return Recompute(JobName.ANALYTICS_AGGREGATES, db, cache, settings, today=today).run(
        client_id, JobContext("req-1", "test")
    )


def stored(db: PostgresDatabase, client_id: str, *, with_computed_at: bool = False) -> dict[date, dict[str, Any]]:
    columns = ", ".join(f'"{key}"' for key in (*oracle.AGGREGATE_KEYS, *(("computedAt",) if with_computed_at else ())))
    rows = db.run(
        f'SELECT day, {columns} FROM "AnalyticsDailyAggregates" WHERE "clientId" = :id ORDER BY day', id=client_id
    )
    return {row.pop("day"): row for row in rows}


def committed_version(db: PostgresDatabase, client_id: str) -> int:
    """The version the committed change stamp (the window's newest computedAt) stands for. Every row here lies in
    TODAY's window, which Workspace.analytics_version (counted back from the database's own today) does not see."""
    rows = stored(db, client_id, with_computed_at=True).values()
    return version_for_stamp(stamp_text(max(row["computedAt"] for row in rows)))


class Scenario:
    """Writes leads and messages through the builders and remembers them as oracle records."""

    leads: list[dict[str, Any]]
    messages: list[dict[str, Any]]

    def __init__(self, ws: Workspace) -> None:
        self.ws, self.leads, self.messages = ws, [], []

    def lead(self, created: datetime, booked: datetime | None = None) -> str:
        lead_id = self.ws.lead(createdAt=created, appointmentBookedAt=booked)
        self.leads.append({"id": lead_id, "createdAt": created, "appointmentBookedAt": booked})
        return lead_id

    def message(self, lead_id: str, direction: str, sent_at: datetime, sent_by: str | None = None) -> None:
        self.ws.message(lead_id, direction=direction, sent_by=sent_by, sent_at=sent_at)
        self.messages.append({"leadId": lead_id, "direction": direction, "sentAt": sent_at, "sentBy": sent_by})

    def oracle(self, today: date = TODAY) -> dict[date, dict[str, int]]:
        return oracle.analytics_aggregates(self.leads, self.messages, today, 30)


def busy_scenario(ws: Workspace) -> Scenario:
    s = Scenario(ws)
    a = s.lead(at(D, time(0)), booked=at(D, time(10)))
    b = s.lead(at(D, LAST_MS))
    c = s.lead(at(D - DAY, LAST_MS), booked=at(D + DAY, time(9)))
    s.message(a, "inbound", at(D, time(8)))
    s.message(a, "inbound", at(D, time(9)))
    s.message(b, "inbound", at(D, time(0)), sent_by="ai")  # inbound: never an AI-sent message
    s.message(a, "outbound", at(D, time(10)), sent_by="ai")
    s.message(a, "outbound", at(D, time(11)), sent_by="ai")
    s.message(c, "outbound", at(D, time(12)), sent_by="setter")
    s.message(c, "outbound", at(D, LAST_MS))
    s.message(c, "inbound", at(D - DAY, LAST_MS))
    s.message(b, "outbound", at(D + DAY, time(0)), sent_by="ai")
    return s


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(
            D,
            expect(
                leadsCreated=2,
                inboundMessages=3,
                outboundMessages=4,
                respondedLeads=2,
                contactedLeads=2,
                meetingsBooked=1,
                aiSentMessages=2,
            ),
            id="busy_day_every_aggregate",
        ),
        pytest.param(D - DAY, expect(leadsCreated=1, inboundMessages=1, respondedLeads=1), id="day_before_last_ms"),
        pytest.param(
            D + DAY,
            expect(outboundMessages=1, contactedLeads=1, meetingsBooked=1, aiSentMessages=1),
            id="day_after_midnight",
        ),
        pytest.param(D - 2 * DAY, expect(), id="day_without_activity_is_a_row_of_zeros"),
        pytest.param(TODAY, expect(), id="today_without_activity_is_a_row_of_zeros"),
    ],
)
def test_given_activity_when_recomputed_then_each_day_has_exact_aggregates(
    db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
    day: date,
    expected: dict[str, int],
) -> None:
    scenario = busy_scenario(workspace)
    assert scenario.oracle()[day] == expected  # the oracle agrees with the hand count

    outcome = recompute(db, cache, settings, workspace.id)

    assert outcome.workspace_exists
    assert outcome.rows_written == 30
    assert stored(db, workspace.id)[day] == expected


def test_given_activity_then_the_whole_window_equals_the_oracle(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    scenario = busy_scenario(workspace)
    recompute(db, cache, settings, workspace.id)
    assert stored(db, workspace.id) == scenario.oracle()


@pytest.mark.parametrize(
    ("when", "counted"),
    [
        pytest.param(at(FIRST, time(0)), True, id="first_day_midnight_counted"),
        pytest.param(at(FIRST - DAY, LAST_MS), False, id="day_before_window_not_counted"),
        pytest.param(at(TODAY, LAST_MS), True, id="today_last_ms_counted"),
        pytest.param(at(TODAY + DAY, time(0)), False, id="tomorrow_not_counted"),
    ],
)
def test_window_boundary(
    db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
    when: datetime,
    counted: bool,
) -> None:
    # Given one lead created, booked and messaging at `when`
    scenario = Scenario(workspace)
    lead = scenario.lead(when, booked=when)
    scenario.message(lead, "inbound", when)
    scenario.message(lead, "outbound", when, sent_by="ai")
    # When the window ending TODAY is recomputed
    recompute(db, cache, settings, workspace.id)
    # Then exactly the 30 days FIRST..TODAY have rows, and the activity is in them only if inside the window
    rows = stored(db, workspace.id)
    assert list(rows) == [FIRST + offset * DAY for offset in range(30)]
    one = expect(
        leadsCreated=1,
        inboundMessages=1,
        outboundMessages=1,
        respondedLeads=1,
        contactedLeads=1,
        meetingsBooked=1,
        aiSentMessages=1,
    )
    assert [day for day, row in rows.items() if row != expect()] == ([when.date()] if counted else [])
    if counted:
        assert rows[when.date()] == one
    assert rows == scenario.oracle()


def test_given_no_activity_then_exactly_window_days_rows_of_zeros(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    outcome = recompute(db, cache, settings, workspace.id)
    assert outcome.rows_written == settings.analytics_window_days == 30
    assert stored(db, workspace.id) == {FIRST + offset * DAY: expect() for offset in range(30)}


def test_version_bumps_once_per_change_and_never_on_an_unchanged_rerun(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace, raw_redis: redis.Redis
) -> None:
    version_key = f"analytics:v1:ver:{workspace.id}"
    scenario = Scenario(workspace)
    lead = scenario.lead(at(D))

    first = recompute(db, cache, settings, workspace.id)
    v1 = committed_version(db, workspace.id)
    assert (first.changed, first.version, raw_redis.get(version_key)) == (True, v1, str(v1))

    rerun = recompute(db, cache, settings, workspace.id)  # nothing changed
    assert committed_version(db, workspace.id) == v1
    assert (rerun.changed, rerun.version, raw_redis.get(version_key)) == (False, v1, str(v1))

    scenario.message(lead, "inbound", at(FIRST - DAY))  # outside the window: no change to the rows
    outside = recompute(db, cache, settings, workspace.id)
    assert committed_version(db, workspace.id) == v1
    assert (outside.changed, outside.version, raw_redis.get(version_key)) == (False, v1, str(v1))

    scenario.message(lead, "inbound", at(TODAY))
    changed = recompute(db, cache, settings, workspace.id)
    v2 = committed_version(db, workspace.id)
    assert v2 > v1
    assert (changed.changed, changed.version, raw_redis.get(version_key)) == (True, v2, str(v2))
    assert stored(db, workspace.id) == scenario.oracle()

    blob = json.loads(cast(str, raw_redis.get(f"job:v1:{workspace.id}:analytics_aggregates")))
    assert (blob["status"], blob["version"], blob["changed"]) == ("succeeded", v2, True)
    assert raw_redis.get(f"inbox:v1:ver:{workspace.id}") is None  # the inbox version is another key


def test_rows_of_other_workspaces_are_not_touched(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace, raw_redis: redis.Redis
) -> None:
    # Given another workspace already recomputed, then changed without being recomputed
    other = Workspace.create(db)
    Scenario(other).lead(at(D))
    recompute(db, cache, settings, other.id)
    before = stored(db, other.id, with_computed_at=True)
    version_before = committed_version(db, other.id)
    assert raw_redis.get(f"analytics:v1:ver:{other.id}") == str(version_before)
    Scenario(other).lead(at(TODAY))
    # When this workspace is recomputed (with a change)
    Scenario(workspace).lead(at(D))
    assert recompute(db, cache, settings, workspace.id).changed
    # Then the other workspace's rows and version are as they were
    assert stored(db, other.id, with_computed_at=True) == before
    assert raw_redis.get(f"analytics:v1:ver:{other.id}") == str(version_before)


def test_given_unknown_workspace_then_nothing_is_written(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, raw_redis: redis.Redis
) -> None:
    unknown = new_id()
    outcome = recompute(db, cache, settings, unknown)
    assert outcome.workspace_exists is False
    assert db.run('SELECT count(*) AS n FROM "AnalyticsDailyAggregates"')[0]["n"] == 0
    assert raw_redis.get(f"analytics:v1:ver:{unknown}") is None


SANTIAGO_DST_START = date(2026, 9, 6)  # America/Santiago: clocks go from 00:00 to 01:00 that Sunday


def test_given_a_session_zone_with_a_midnight_dst_change_in_the_window_then_every_day_and_today_are_there(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    # Given a session whose zone changes to daylight time at midnight inside the 30-day window
    today = SANTIAGO_DST_START + 14 * DAY
    workspace.lead(createdAt=at(today))
    db.run("SET TIME ZONE 'America/Santiago'")
    try:
        recompute(db, cache, settings, workspace.id, today=today)
    finally:
        db.run("SET TIME ZONE 'UTC'")
    # Then the window is the 30 dates ending today, today's lead counted on today
    rows = stored(db, workspace.id)
    assert sorted(rows) == [today - n * DAY for n in range(29, -1, -1)]
    assert rows[today]["leadsCreated"] == 1


def test_every_session_is_pinned_to_utc_whatever_the_database_default(database_url: str) -> None:
    admin = PostgresDatabase(database_url)
    name = admin.run("SELECT current_database() AS name")[0]["name"]
    admin.run(f"ALTER DATABASE \"{name}\" SET timezone = 'America/Santiago'")
    try:
        fresh = PostgresDatabase(database_url)
        assert fresh.run("SHOW TimeZone")[0]["TimeZone"] == "UTC"
        fresh.close()
    finally:
        admin.run(f'ALTER DATABASE "{name}" RESET timezone')
        admin.close()
