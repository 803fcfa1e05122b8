"""Where the operator commands act: a deployed stack (its outputs), the local runtime, or the environment.

`python -m recount local` writes `.recount/local.json` while it runs; commands find it there. `--stack NAME`
reads the queue URLs and the table from the stack's CloudFormation outputs instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.contracts.errors import PermanentError, TransientError
from shared.contracts.settings import EnvVar
from shared.topology import IDEMPOTENCY_TABLE_OUTPUT, QUEUES

LOCAL_STATE_FILE = Path(os.environ.get("RECOUNT_LOCAL_STATE", ".recount/local.json"))
# CloudFormation output names for each queue and its dead-letter queue.
_OUTPUTS = {key: (queue.url_output, queue.dead_letter_output) for key, queue in QUEUES.items()}


@dataclass(frozen=True)
class Target:
    """Everything a command may touch; URLs of stores are None when the command does not need them."""

    name: str
    queue_urls: dict[str, str]
    dead_letter_urls: dict[str, str]
    idempotency_table: str | None = None
    endpoint_url: str | None = None  # moto's server locally; None for AWS
    region: str | None = None
    database_url: str | None = None
    redis_url: str | None = None

    def queue_environment(self) -> dict[str, str]:
        """The environment contract's queue variables, for shared.contracts.settings.QueueSettings."""
        environment = {
            **{queue.url_variable: self.queue_urls.get(key) for key, queue in QUEUES.items()},
            EnvVar.AWS_ENDPOINT_URL: self.endpoint_url,
        }
        return {str(k): v for k, v in environment.items() if v}

    def dead_letter_url(self, queue: str) -> str:
        if queue not in self.dead_letter_urls:
            raise PermanentError(f"unknown queue {queue!r}: choose one of {', '.join(sorted(self.dead_letter_urls))}")
        return self.dead_letter_urls[queue]

    def save(self, path: Path = LOCAL_STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))


def resolve_target(stack: str | None = None, *, region: str | None = None) -> Target:
    """--stack NAME: the deployed stack. Otherwise the running local runtime, else the environment."""
    if stack:
        return _from_stack(stack, region)
    if LOCAL_STATE_FILE.exists():
        data = json.loads(LOCAL_STATE_FILE.read_text())
        target = Target(**data)
        return Target(
            **{
                **data,
                "database_url": os.environ.get(EnvVar.DATABASE_URL, target.database_url),
                "redis_url": os.environ.get(EnvVar.REDIS_URL, target.redis_url),
            }
        )
    urls = {key.value: os.environ.get(queue.url_variable, "") for key, queue in QUEUES.items()}
    return Target(
        name="environment",
        queue_urls={k: v for k, v in urls.items() if v},
        dead_letter_urls={},
        idempotency_table=os.environ.get(EnvVar.IDEMPOTENCY_TABLE_NAME),
        endpoint_url=os.environ.get(EnvVar.AWS_ENDPOINT_URL),
        region=region,
        database_url=os.environ.get(EnvVar.DATABASE_URL),
        redis_url=os.environ.get(EnvVar.REDIS_URL),
    )


def _from_stack(stack: str, region: str | None) -> Target:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    except ClientError as error:
        raise PermanentError(f"stack {stack}: {error.response.get('Error', {}).get('Message', error)}") from None
    except BotoCoreError as error:
        raise TransientError(f"stack {stack}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    missing = [name for pair in _OUTPUTS.values() for name in pair if name not in outputs]
    if missing:
        raise PermanentError(f"stack {stack} has no outputs {', '.join(missing)}: is it a recount stack?")
    return Target(
        name=stack,
        queue_urls={k.value: outputs[q] for k, (q, _) in _OUTPUTS.items()},
        dead_letter_urls={k.value: outputs[d] for k, (_, d) in _OUTPUTS.items()},
        idempotency_table=outputs.get(IDEMPOTENCY_TABLE_OUTPUT),
        region=region,
        database_url=os.environ.get(EnvVar.DATABASE_URL),
        redis_url=os.environ.get(EnvVar.REDIS_URL),
    )
