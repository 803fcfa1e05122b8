"""cdk-nag 3 acknowledgements: every one names its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on a construct and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
