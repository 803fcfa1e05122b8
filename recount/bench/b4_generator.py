"""B4's load generator, in a process of its own: the app's dirty marks and dirty events at a rate.

`python -m recount.bench.b4_generator` reads its plan (one JSON line) on stdin, then one step per line
(`RATE SECONDS`); for each it marks and sends ten workspaces per tick, spread over all of them, and prints
what it sent (one JSON line). It ends at the end of its input. Ticks run on a few threads, as an app sends
from many requests at once, so one slow send does not hold back the rest.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from recount.local.provision import aws_client
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body

PER_TICK = 10  # one UPSERT of ten marks and one SendMessageBatch of ten events
SENDERS = 8
# The app's mark, keeping the time of the first change not yet applied (the app's own upsert sets the latest):
# the freshness a recompute reports is then from the first change it applied, not from the last.
MARK = (
    'INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") '
    "SELECT unnest(CAST(:ids AS text[])), now() AT TIME ZONE 'UTC' "
    'ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = least("InboxCountsDirty"."dirtyAt", excluded."dirtyAt")'
)
APPLICATION_NAME = "recount-b4-generator"  # its sessions are the app's writes, apart from recount's own


class Generator:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.database_url: str = plan["database_url"]
        self.sqs: Any = aws_client("sqs", plan["endpoint_url"])
        self.queue_url: str = plan["queue_url"]
        self.ids: list[str] = plan["client_ids"]
        self.index = 0
        self.pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="sender")
        self.local = threading.local()  # a database connection per sender thread

    def step(self, rate: float, seconds: float) -> dict[str, float]:
        """Ticks at the rate for `seconds`; the step ends when every tick it started is done."""
        started = time.monotonic()
        next_at = started
        ticks = []
        while next_at - started < seconds:
            batch = [self.ids[(self.index + k * 7) % len(self.ids)] for k in range(PER_TICK)]
            self.index += 1
            ticks.append(self.pool.submit(self.tick, batch))
            next_at += PER_TICK / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        wait(ticks)
        for tick in ticks:
            tick.result()  # a failed tick fails the step, loudly
        return {"sent": PER_TICK * len(ticks), "started": started, "ended": time.monotonic()}

    def tick(self, batch: list[str]) -> None:
        if not hasattr(self.local, "db"):
            separator = "&" if "?" in self.database_url else "?"
            url = f"{self.database_url}{separator}application_name={APPLICATION_NAME}"
            self.local.db = PostgresDatabase(url, statement_timeout_ms=120_000)
        self.local.db.run(MARK, ids=batch)
        self.sqs.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {
                    "Id": str(k),
                    "MessageBody": to_body(
                        new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="bench")
                    ),
                }
                for k, client_id in enumerate(batch)
            ],
        )


def main() -> None:
    generator = Generator(json.loads(sys.stdin.readline()))
    for line in sys.stdin:
        rate, seconds = (float(part) for part in line.split())
        print(json.dumps(generator.step(rate, seconds)), flush=True)
    generator.pool.shutdown()


if __name__ == "__main__":
    main()
