"""The fault table's row for a password rotation: the inbox function reads its database URL from a moto Secrets
Manager secret, for a PostgreSQL that checks passwords (SCRAM); the role's password changes while the function is
warm, its session is terminated, and the secret is updated only after a delivery has met the old password
(Secrets Manager's rotation sets the password in the database before it makes the new value current)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from shared.contracts.settings import EnvVar
from shared.wiring.clients import EnvironmentClients, Given
from tests.integration.credentials import PasswordDatabase, create_secret, put_secret
from tests.integration.faults.conftest import MAX_RECEIVE_COUNT
from tests.integration.faults.ledger import FunctionLogs, Ledger
from tests.integration.faults.test_fault_table import dirty_workspaces, untouched
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import REGION, Rig, backend_pid, open_rig


@pytest.fixture
def secret_rig(
    monkeypatch: pytest.MonkeyPatch, password_database: PasswordDatabase, redis_url: str
) -> Iterator[tuple[Rig, str]]:
    """The rig on the password database (its own connections as the superuser); the function's database URL
    from a secret holding the role's URL. Yields the rig and the secret's ARN."""
    with open_rig(monkeypatch, password_database.admin_url, redis_url, max_receive_count=MAX_RECEIVE_COUNT) as rig:
        rig.reset()
        arn = create_secret(boto3.client("secretsmanager", region_name=REGION), password_database.url())
        monkeypatch.delenv(str(EnvVar.DATABASE_URL))
        monkeypatch.setenv(str(EnvVar.DATABASE_SECRET_ARN), arn)
        rig.function.module.consumer.clients.close()
        rig.function.module.consumer.clients = EnvironmentClients(given=Given(sqs=rig.function.sqs))
        yield rig, arn


def test_password_rotated_with_the_secret_updated_late(
    secret_rig: tuple[Rig, str], password_database: PasswordDatabase, function_logs: FunctionLogs
) -> None:
    rig, arn = secret_rig
    ledger = Ledger(rig, function_logs)
    workspaces = dirty_workspaces(rig, 3)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    backend_pid(rig.function)  # warm: the function's session is open, on the first password
    password_database.rotate("second-password")
    assert password_database.end_sessions() == 1
    # A delivery while the secret still holds the old password: the ended session, then the refused password
    assert len(ledger.deliver()["Records"]) == 3
    assert all(journey.stations == ["retry"] for journey in ledger.journeys.values()), ledger.journeys
    assert all(untouched(rig, workspace) for workspace in workspaces)
    put_secret(boto3.client("secretsmanager", region_name=REGION), arn, password_database.url())
    ledger.settle()
    row = ledger.row(
        "database password rotated, secret late",
        "ALTER ROLE ... PASSWORD on a SCRAM PostgreSQL and the warm function's session terminated; the secret "
        "updated after one delivery",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row
