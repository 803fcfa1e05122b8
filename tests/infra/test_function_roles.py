"""Each function's role writes its own log group and no other: no AWSLambdaBasicExecutionRole (logs on *)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Capture, Match, Template

from tests.infra.conftest import of_type

LOG_WRITES = ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_each_function_writes_only_its_own_log_group_without_a_managed_policy(
    template: Template, resources: dict[str, dict[str, Any]]
) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    assert len(functions) == 3
    for function in functions.values():
        # Given the function's role and its log group
        (role_id, _) = function["Properties"]["Role"]["Fn::GetAtt"]
        log_group_name = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        role = resources[role_id]["Properties"]
        # Then the role holds no managed policy (AWSLambdaBasicExecutionRole writes logs:* on *)
        assert "ManagedPolicyArns" not in role, role["ManagedPolicyArns"]
        # And its one log statement writes streams and events of this function's group only
        writes = Capture()
        template.has_resource_properties(
            "AWS::IAM::Policy",
            {
                "Roles": [{"Ref": role_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [{"Effect": "Allow", "Action": LOG_WRITES, "Resource": writes}],
                    )
                },
            },
        )
        assert writes.as_object() == {"Fn::GetAtt": [log_group_name, "Arn"]}
    # And no statement anywhere creates log groups or writes logs on another resource
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            logs = [a for a in actions if a.startswith("logs:")]
            assert not logs or (logs == LOG_WRITES and "Fn::GetAtt" in statement["Resource"]), statement
