"""A Target's clients: its SQS queues and their settings, and the clients of its stores."""

from __future__ import annotations

import os

from pydantic import SecretStr

from recount.commands.targets import LOCAL_STATE_FILE, Target, resolve_target
from shared.adapters.sqs import QueueClient
from shared.contracts.errors import PermanentError
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, SweepSettings
from shared.contracts.store_settings import StoreSettings
from shared.wiring.clients import EnvironmentClients, Given

# The sweep never touches the idempotency table, but FunctionSettings requires a name.
_NO_IDEMPOTENCY_TABLE = "unused-by-operator-commands"


def target(stack: str | None, region: str | None) -> Target:
    """resolve_target, with an unreadable local state file as a one-line error."""
    try:
        return resolve_target(stack, region=region)
    except (OSError, ValueError, TypeError) as error:
        raise PermanentError(f"cannot read {LOCAL_STATE_FILE}: {' '.join(str(error).split())}") from None


def prepare_aws(target: Target) -> None:
    """moto's server accepts any credentials, but boto3 signs every request and needs some: give the local
    endpoint placeholders (never overriding what the environment has), and its region."""
    if target.endpoint_url:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        if target.region:
            os.environ.setdefault("AWS_DEFAULT_REGION", target.region)


def queue_client(target: Target) -> QueueClient:
    prepare_aws(target)
    return QueueClient(endpoint_url=target.endpoint_url, region_name=target.region)


def queue_settings(target: Target) -> QueueSettings:
    return QueueSettings.model_validate(target.queue_environment())


def queue_name(target: Target, url: str) -> str:
    """The queue key (counts, counts_high, analytics, sweep) of a URL of the target."""
    return next((key for key, value in target.queue_urls.items() if value == url), url)


def clients_for(target: Target, *, sweep: SweepSettings | None = None) -> EnvironmentClients:
    """Clients on the target's stores and queues (its own SQS client: the target's region); the rest of the
    settings from the environment."""
    prepare_aws(target)
    urls = {"database_url": target.database_url, "redis_url": target.redis_url}
    stores = StoreSettings().model_copy(update={name: SecretStr(url) for name, url in urls.items() if url})
    function = FunctionSettings(idempotency_table_name=target.idempotency_table or _NO_IDEMPOTENCY_TABLE)
    return EnvironmentClients(
        stores=stores,
        recompute=RecomputeSettings(),
        queues=queue_settings(target),
        function=function,
        sweep=sweep or SweepSettings(),
        given=Given(sqs=queue_client(target)),
    )


def environment_clients(*, redis: bool, recompute: RecomputeSettings | None = None) -> EnvironmentClients:
    """Clients on the stores the environment names by URL (DATABASE_URL, and REDIS_URL when `redis`), for the
    commands that act on stores alone (migrate, recompute): only the store settings (and `recompute`, when
    given) are read from the environment, so an unrelated bad setting cannot stop them."""
    stores = StoreSettings()
    required = {"DATABASE_URL": stores.database_url, **({"REDIS_URL": stores.redis_url} if redis else {})}
    for name, value in required.items():
        if value is None or not value.get_secret_value():
            raise PermanentError(f"{name} is not set")
    return EnvironmentClients(
        stores=stores,
        recompute=recompute or RecomputeSettings.model_construct(),
        queues=QueueSettings.model_construct(),
        function=FunctionSettings.model_construct(idempotency_table_name=_NO_IDEMPOTENCY_TABLE),
        sweep=SweepSettings.model_construct(),
    )
