"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Airflow 3's React UI builds the connection form from ``conn-fields`` (one JSON schema per extra,
``"format": "password"`` for secrets) and ``ui-field-behaviour`` (hidden fields, relabelling,
placeholders). Nothing here imports anything heavy.
"""

from __future__ import annotations

from typing import Any

_PKG = "airflow_provider_emr_ray"
_INTEGRATION = "Alibaba Cloud EMR Serverless Ray"
CREDENTIAL_TYPES = ("access_key", "sts", "ram_role_arn", "ecs_ram_role", "oidc_role_arn", "default")

# name: (label, description, placeholder, json type, secret)
_EXTRAS: tuple[tuple[str, str, str, str | None, str, bool], ...] = (
    ("region_id", "Region ID", "Alibaba Cloud region of the workspace.", "cn-hangzhou", "string", False),
    ("workspace_id", "Workspace ID", "EMR Serverless Spark workspace ID.", "w-d2d82aa09155", "string", False),
    (
        "endpoint",
        "Endpoint URL",
        "Full URL replacing the regional endpoint: a VPC endpoint, or the local emulator. Empty: the public endpoint.",
        "https://emr-serverless-spark-vpc.cn-hangzhou.aliyuncs.com",
        "string",
        False,
    ),
    (
        "credential_type",
        "Credential type",
        "How to authenticate. Empty: inferred (AccessKey pair, STS when a token is given, the default chain when nothing is given).",
        None,
        "string",
        False,
    ),
    ("security_token", "STS security token", "Security token of temporary (STS) credentials.", "CAIS...", "string", True),
    ("role_arn", "RAM role ARN", "Role to assume (ram_role_arn, oidc_role_arn).", "acs:ram::123456789012:role/airflow", "string", False),
    ("role_session_name", "Role session name", "Session name when assuming the role.", "airflow-emr-ray", "string", False),
    ("external_id", "External ID", "External ID required by the role's trust policy, if any.", "abcd1234", "string", True),
    ("policy", "Session policy", "JSON policy narrowing the assumed role's permissions.", '{"Version": "1", "Statement": [...]}', "string", False),
    ("duration_seconds", "Session duration (s)", "Lifetime of assumed-role credentials, at least 900.", "3600", "integer", False),
    ("role_name", "ECS RAM role name", "Instance RAM role (ecs_ram_role); empty to discover it.", "AirflowEcsRole", "string", False),
    (
        "oidc_provider_arn",
        "OIDC provider ARN",
        "RRSA OIDC provider (oidc_role_arn).",
        "acs:ram::123456789012:oidc-provider/ack-rrsa-c123",
        "string",
        False,
    ),
    (
        "oidc_token_file_path",
        "OIDC token file",
        "Path of the service-account token file (oidc_role_arn).",
        "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
        "string",
        False,
    ),
    ("sts_endpoint", "STS endpoint", "STS host for the assume-role modes (e.g. a VPC STS endpoint).", "sts-vpc.cn-hangzhou.aliyuncs.com", "string", False),
    ("timeout", "Request timeout (s)", "Per-request timeout in seconds (default 30).", "30", "number", False),
    ("max_retries", "Max retries", "Retries of throttled, 5xx and connection failures (default 5).", "5", "integer", False),
)


_CREDENTIAL_TYPE_LABELS = {
    "null": "(inferred from the fields given)",
    "access_key": "AccessKey pair",
    "sts": "STS token (AccessKey + security token)",
    "ram_role_arn": "Assume a RAM role",
    "ecs_ram_role": "ECS instance RAM role",
    "oidc_role_arn": "OIDC role (RRSA on ACK)",
    "default": "Default credential chain",
}


def _schema(name: str, kind: str, secret: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [kind, "null"]}
    if secret:
        schema["format"] = "password"
    if name == "credential_type":
        schema["enum"] = [None, *CREDENTIAL_TYPES]
        schema["values_display"] = _CREDENTIAL_TYPE_LABELS
    if name == "endpoint":
        schema["format"] = "url"
    return schema


CONN_FIELDS: dict[str, dict[str, Any]] = {
    name: {
        "label": label,
        # Airflow 3.3's form shows no placeholder for extras, so the description carries the example.
        "description": f"{description} Example: {placeholder}" if placeholder and not secret else description,
        "schema": _schema(name, kind, secret),
    }
    for name, label, description, placeholder, kind, secret in _EXTRAS
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port"],
    "relabeling": {"login": "AccessKey ID", "password": "AccessKey secret"},
    "placeholders": {
        "login": "LTAI5t...",
        "password": "AccessKey secret",
        **{name: placeholder for name, _l, _d, placeholder, _k, _s in _EXTRAS if placeholder},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (``airflow providers list``, the connection form, ...)."""
    from airflow_provider_emr_ray import __version__

    return {
        "package-name": "airflow-provider-emr-ray",
        "name": "Alibaba Cloud EMR Serverless Ray",
        "description": "Run Ray clusters and Ray jobs on Alibaba Cloud EMR Serverless Spark from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://www.alibabacloud.com/help/en/emr/emr-serverless-spark/",
                "tags": ["alibaba"],
            }
        ],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PKG}.operators.emr_ray"]}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PKG}.sensors.emr_ray"]}],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PKG}.hooks.emr_ray"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PKG}.triggers.emr_ray"]}],
        "extra-links": [f"{_PKG}.links.emr_ray.RayDashboardLink", f"{_PKG}.links.emr_ray.EmrServerlessConsoleLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook",
                "connection-type": "emr_ray",
                "hook-name": "Alibaba Cloud EMR Serverless Ray",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
