"""The demo's simulated app, in a process of its own (as the app is not in recount's processes): writes to
leads at a rate, each with the app's dirty upsert in the same transaction, then the dirty event, a tenth of
them high priority and one in twenty sent twice (the app retried its send).

`python -m recount.local.traffic` reads its plan (JSON) on stdin and prints its tally (JSON) when done.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from recount.local.provision import aws_client
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, Priority, new_event, to_body

# One app write: a change to a lead that the counts depend on, and the app's dirty upsert, in one transaction.
_WRITES = [
    'UPDATE "Lead" SET "lastInboundAt" = now() AT TIME ZONE \'UTC\', "updatedAt" = now() WHERE id = :lead_id',
    'UPDATE "Lead" SET "lastZrgOutboundAt" = now() AT TIME ZONE \'UTC\', "updatedAt" = now() WHERE id = :lead_id',
    "UPDATE \"Lead\" SET status = (ARRAY['new', 'qualified', 'needs_repair', 'blacklisted'])"
    '[1 + floor(random() * 4)::int], "updatedAt" = now() WHERE id = :lead_id',
    "UPDATE \"Lead\" SET \"sentimentTag\" = (ARRAY['Interested', 'Positive', 'Not Interested', NULL])"
    '[1 + floor(random() * 4)::int], "updatedAt" = now() WHERE id = :lead_id',
    'UPDATE "Lead" SET "snoozedUntil" = now() AT TIME ZONE \'UTC\' + interval \'20 seconds\', "updatedAt" = now() '
    "WHERE id = :lead_id",
    'UPDATE "Lead" SET "assignedToUserId" = \'setter-\' || floor(random() * 6)::int, "updatedAt" = now() '
    "WHERE id = :lead_id",
]
MARK_DIRTY = (
    'INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") VALUES (:client_id, now() AT TIME ZONE \'UTC\') '
    'ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = excluded."dirtyAt"'
)


@dataclass(frozen=True)
class Plan:
    database_url: str
    endpoint_url: str
    queue_urls: dict[str, str]  # "counts" and "counts_high"
    client_ids: list[str]
    rate: float
    duration_s: float
    seed: int


@dataclass
class Tally:
    writes: int = 0
    events_sent: int = 0
    duplicates_sent: int = 0
    high_priority: int = 0


class App:
    """The app's side of the contract: write, mark in the same transaction, send after commit."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tally = Tally()
        self.db = PostgresDatabase(plan.database_url, statement_timeout_ms=120_000)
        self.sqs: Any = aws_client("sqs", plan.endpoint_url)
        self.rng = random.Random(plan.seed)

    def run(self) -> Tally:
        next_at = time.monotonic()
        deadline = next_at + self.plan.duration_s
        parent = os.getppid()
        while time.monotonic() < deadline and os.getppid() == parent:  # the demo that started it may be gone
            self.write()
            next_at += 1.0 / self.plan.rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.db.close()
        return self.tally

    def write(self) -> None:
        ids = self.plan.client_ids
        hot = ids[: max(1, len(ids) // 4)]
        client_id = self.rng.choice(hot) if self.rng.random() < 0.6 else self.rng.choice(ids)
        with self.db.transaction():
            lead = self.db.run(
                'SELECT id FROM "Lead" WHERE "clientId" = :client_id OFFSET floor(random() * 50) LIMIT 1',
                client_id=client_id,
            )
            if lead:
                self.db.run(self.rng.choice(_WRITES), lead_id=lead[0]["id"])
            self.db.run(MARK_DIRTY, client_id=client_id)
        self.tally.writes += 1
        priority = Priority.HIGH if self.rng.random() < 0.1 else Priority.NORMAL
        body = self.send(client_id, priority)
        if self.rng.random() < 0.05:  # the app retried its send: the same body twice
            self.send_body(body, priority)
            self.tally.duplicates_sent += 1

    def send(self, client_id: str, priority: Priority) -> str:
        body = to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="app", priority=priority))
        self.send_body(body, priority)
        return body

    def send_body(self, body: str, priority: Priority) -> None:
        queue = "counts_high" if priority is Priority.HIGH else "counts"
        self.sqs.send_message(QueueUrl=self.plan.queue_urls[queue], MessageBody=body)
        self.tally.events_sent += 1
        self.tally.high_priority += priority is Priority.HIGH


def main() -> None:
    tally = App(Plan(**json.load(sys.stdin))).run()
    print(json.dumps(asdict(tally)))


if __name__ == "__main__":
    main()
