"""Idempotency through Powertools (DynamoDB persistence): run a piece of work at most once per key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyKeyError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from shared import deadline
from shared.contracts.errors import BusyError, PermanentError, TransientError
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.time_budget import DEFAULT_AWS_CALL_LIMITS, AwsCallLimits

KEY_PREFIX = "recount"


class IdempotencyGuard:
    """`run_once(key, work)` returns (result, replayed): replayed means the work had already been done."""

    def __init__(
        self,
        table_name: str,
        *,
        expires_after_seconds: int,
        endpoint_url: str | None = None,
        limits: AwsCallLimits = DEFAULT_AWS_CALL_LIMITS,
    ) -> None:
        self._table_name = table_name
        self._limits = limits
        self._endpoint_url = endpoint_url
        self._replayed = threading.local()
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            response_hook=self._on_replay,
        )
        self._persistence: DynamoDBPersistenceLayer | None = None
        self._once: Callable[..., OutcomeRecord] | None = None

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Lets an in-progress record expire with the invocation that wrote it (a timeout frees the key)."""
        self.config.register_lambda_context(context)

    @property
    def persistence(self) -> DynamoDBPersistenceLayer:
        if self._persistence is None:
            # At most AWS_MAX_ATTEMPTS attempts, so that a call's worst case is known (shared.deadline). No check of
            # each request against the API model before it is sent (botocore's parameter_validation): Powertools
            # builds them and DynamoDB checks them again; the check cost about 3% of a request's CPU in the client
            # (~30 of ~975 us of CPU a put_item against moto's server, medians of 7 rounds of 100), two a recompute.
            client = boto3.client(
                "dynamodb",
                endpoint_url=self._endpoint_url,
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": self._limits.attempts},
                    connect_timeout=self._limits.connect_s,
                    read_timeout=self._limits.read_s,
                    parameter_validation=False,
                ),
            )
            self._persistence = DynamoDBPersistenceLayer(table_name=self._table_name, boto3_client=client)
        return self._persistence

    def run_once(self, key: str, work: Callable[[], OutcomeRecord]) -> tuple[OutcomeRecord, bool]:
        if self._once is None:

            def recompute_once(job: dict[str, Any]) -> OutcomeRecord:
                return job["work"]()  # type: ignore[no-any-return]

            self._once = idempotent_function(
                data_keyword_argument="job",
                persistence_store=self.persistence,
                config=self.config,
                # Stored by alias, the keys of the dict it replaced: records written before still replay.
                output_serializer=PydanticSerializer(model=OutcomeRecord),
                key_prefix=KEY_PREFIX,
            )(recompute_once)
        # The in-progress record's write must fit before the deadline; its closing write is in the margin.
        deadline.ensure(self._limits.bound_s, "idempotency record")
        self._replayed.value = False
        try:
            # Only "key" is hashed (event_key_jmespath); the callable rides along unhashed.
            result = self._once(job={"key": key, "work": work})
        except IdempotencyAlreadyInProgressError as error:
            raise BusyError(f"idempotency key {key} is in progress elsewhere") from error
        except (IdempotencyKeyError, IdempotencyValidationError) as error:
            raise PermanentError(f"idempotency: {' '.join(str(error).split())}") from error
        except IdempotencyPersistenceLayerError as error:
            raise TransientError(f"idempotency store: {' '.join(str(error).split())}") from error
        return result, bool(self._replayed.value)

    def _on_replay(self, response: Any, idempotent_data: DataRecord) -> Any:
        self._replayed.value = True
        return response
