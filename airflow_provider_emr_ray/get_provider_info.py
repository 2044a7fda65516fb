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

# (name, label, json type, secret,
#  description,
#  placeholder)
_EXTRAS: tuple[tuple[str, str, str, bool, str, str | None], ...] = (
    ("region_id", "Region ID", "string", False,
     "Alibaba Cloud region of the workspace.",
     "cn-hangzhou"),
    ("workspace_id", "Workspace ID", "string", False,
     "EMR Serverless Spark workspace ID.",
     "w-d2d82aa09155"),
    ("endpoint", "Endpoint URL", "string", False,
     "Full URL replacing the regional endpoint: a VPC endpoint, or the local emulator. Empty: the public endpoint.",
     "https://emr-serverless-spark-vpc.cn-hangzhou.aliyuncs.com"),
    ("credential_type", "Credential type", "string", False,
     "How to authenticate. Empty: inferred (AccessKey pair, STS when a token is given, the default chain when nothing is given).",
     None),
    ("security_token", "STS security token", "string", True,
     "Security token of temporary (STS) credentials.",
     "CAIS..."),
    ("role_arn", "RAM role ARN", "string", False,
     "Role to assume (ram_role_arn, oidc_role_arn).",
     "acs:ram::123456789012:role/airflow"),
    ("role_session_name", "Role session name", "string", False,
     "Session name when assuming the role.",
     "airflow-emr-ray"),
    ("external_id", "External ID", "string", True,
     "External ID required by the role's trust policy, if any.",
     "abcd1234"),
    ("policy", "Session policy", "string", False,
     "JSON policy narrowing the assumed role's permissions.",
     '{"Version": "1", "Statement": [...]}'),
    ("duration_seconds", "Session duration (s)", "integer", False,
     "Lifetime of assumed-role credentials, at least 900.",
     "3600"),
    ("role_name", "ECS RAM role name", "string", False,
     "Instance RAM role (ecs_ram_role); empty to discover it.",
     "AirflowEcsRole"),
    ("oidc_provider_arn", "OIDC provider ARN", "string", False,
     "RRSA OIDC provider (oidc_role_arn).",
     "acs:ram::123456789012:oidc-provider/ack-rrsa-c123"),
    ("oidc_token_file_path", "OIDC token file", "string", False,
     "Path of the service-account token file (oidc_role_arn).",
     "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token"),
    ("sts_endpoint", "STS endpoint", "string", False,
     "STS host for the assume-role modes (e.g. a VPC STS endpoint).",
     "sts-vpc.cn-hangzhou.aliyuncs.com"),
    ("timeout", "Request timeout (s)", "number", False,
     "Per-request timeout in seconds (default 30).",
     "30"),
    ("max_retries", "Max retries", "integer", False,
     "Retries of throttled, 5xx and connection failures (default 5).",
     "5"),
    ("ray_jobs_endpoint", "Ray Jobs endpoint", "string", False,
     "Which URL of a cluster the Ray Jobs API calls (ray_submit_job, ...) use: public (jobUrl, https; the default) or internal (jobUrlInner, VPC http).",
     "public"),
)  # fmt: skip


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
    if name == "ray_jobs_endpoint":
        schema["enum"] = [None, "public", "internal"]
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
    for name, label, kind, secret, description, placeholder in _EXTRAS
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port"],
    "relabeling": {"login": "AccessKey ID", "password": "AccessKey secret"},
    "placeholders": {
        "login": "LTAI5t...",
        "password": "AccessKey secret",
        **{name: placeholder for name, _l, _k, _s, _d, placeholder in _EXTRAS if placeholder},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (``airflow providers list``, the connection form, ...)."""
    from airflow_provider_emr_ray import CONN_TYPE, __version__

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
        "task-decorators": [{"name": "emr_ray", "class-name": f"{_PKG}.decorators.emr_ray.emr_ray_task"}],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook",
                "connection-type": CONN_TYPE,
                "hook-name": "Alibaba Cloud EMR Serverless Ray",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
