"""The thirteen Ray calls of the EMR Serverless Spark API and the one request builder.

This table is shared by the hook (sync and async) and by the emulator's router, so a path,
method or idempotency flag is written exactly once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_emr_ray.client.signing import canonical_query, percent_encode

_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class ApiAction:
    """One API call: its action name, HTTP method, path template and retry safety.

    ``idempotent`` is False for calls that would create a second resource (or apply a change
    twice) if re-sent after the service may already have received them.
    """

    name: str
    method: str
    path: str
    idempotent: bool = True

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    def render_path(self, params: Mapping[str, str]) -> str:
        """The percent-encoded path with every ``{param}`` filled in."""

        def _fill(match: re.Match[str]) -> str:
            value = params.get(match.group(1))
            if value is None or value == "":
                raise ValueError(f"{match.group(1)} is required for {self.name}")
            return percent_encode(str(value))

        return _PARAM.sub(_fill, self.path)


_WS = "/api/v1/workspaces/{workspaceId}"
_LOGS = "/api/interactive/v1/workspace/{workspaceId}/ray/{instanceId}"

ACTIONS: dict[str, ApiAction] = {
    a.name: a
    for a in (
        ApiAction("CreateRayCluster", "POST", f"{_WS}/rayCluster", idempotent=False),
        ApiAction("UpdateRayCluster", "POST", f"{_WS}/rayCluster/{{clusterId}}", idempotent=False),
        ApiAction("GetRayCluster", "GET", f"{_WS}/rayCluster/{{clusterId}}"),
        ApiAction("ListRayCluster", "GET", f"{_WS}/rayCluster"),
        ApiAction("StartRayCluster", "POST", f"{_WS}/rayCluster/{{clusterId}}/start"),
        ApiAction("StopRayCluster", "POST", f"{_WS}/rayCluster/{{clusterId}}/stop"),
        ApiAction("DeleteRayCluster", "DELETE", f"{_WS}/rayCluster/{{clusterId}}"),
        ApiAction("SubmitRayJob", "POST", f"{_WS}/rayJob", idempotent=False),
        ApiAction("GetRayJob", "GET", f"{_WS}/rayJob/{{submissionId}}"),
        ApiAction("ListRayJob", "GET", f"{_WS}/rayJob"),
        ApiAction("CancelRayJob", "POST", f"{_WS}/rayJob/{{submissionId}}/cancel"),
        ApiAction("ListRayLogs", "GET", f"{_LOGS}/logs"),
        ApiAction("GetRayLog", "GET", f"{_LOGS}/log"),
    )
}


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request ready to sign and send: everything but host, date, nonce and credentials."""

    action: ApiAction
    path: str
    query: dict[str, str]
    body: bytes | None

    @property
    def target(self) -> str:
        """Path plus query string exactly as sent (the query encoded as it is signed)."""
        qs = canonical_query(self.query)
        return f"{self.path}?{qs}" if qs else self.path


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def build_request(
    action: str,
    path_params: Mapping[str, str],
    query: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> PreparedRequest:
    """Build the request of one call. ``None`` query values and body fields are left out."""
    api = ACTIONS[action]
    q = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
    payload = None
    if body is not None:
        clean = {k: v for k, v in body.items() if v is not None}
        payload = json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return PreparedRequest(action=api, path=api.render_path(path_params), query=q, body=payload)


def regional_endpoint(region_id: str) -> str:
    """The public HTTPS endpoint of a region."""
    return f"https://emr-serverless-spark.{region_id}.aliyuncs.com"
