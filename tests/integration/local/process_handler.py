"""A handler for the environment-process tests: it notes which process took each record, then hangs on "hang"
records the first time they come (so the test can kill it or let it time out), answers what cannot be sent
back for "unsendable" ones and succeeds otherwise."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for record in event["Records"]:
        attempt = int(record["attributes"]["ApproximateReceiveCount"])
        with Path(os.environ["SEEN_FILE"]).open("a", encoding="utf-8") as seen:
            seen.write(json.dumps({"pid": os.getpid(), "body": record["body"], "attempt": attempt}) + "\n")
        if record["body"] == "hang" and attempt == 1:
            time.sleep(600)
        if record["body"] == "unsendable":
            return {"batchItemFailures": [], "at": datetime.now(UTC)}
    return {"batchItemFailures": []}
