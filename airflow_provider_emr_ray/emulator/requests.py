"""Request normalisation: the bodies and query parameters of the API calls, validated as the
service does and filled with its defaults.

A rejection is an ``InvalidParameter`` :class:`~.errors.ApiError` naming the field. Bounds
(name lengths, worker groups, tag lengths, page size) come from :mod:`airflow_provider_emr_ray.limits`.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from airflow_provider_emr_ray import limits
from airflow_provider_emr_ray.emulator import errors
from airflow_provider_emr_ray.emulator.config import DEFAULT_RELEASE

_DEFAULT_QUEUE = "root_queue"
_DEFAULT_CPU = "2"
_DEFAULT_MEMORY = "8Gi"


# --------------------------------------------------------------------------- bodies and queries
def json_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``)."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise errors.invalid_parameter("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise errors.invalid_parameter("The request body must be a JSON object.")
    return data


def int_query(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """Query parameter ``name`` as an integer in ``low..high`` (``default`` when absent)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_parameter(f"{name} must be an integer.") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise errors.invalid_parameter(f"{name} must be {bound}.")
    return value


def page(query: dict[str, str], items: list[Any]) -> tuple[list[Any], int]:
    """The page ``pageNum``/``pageSize`` (1 to :data:`~airflow_provider_emr_ray.limits.MAX_PAGE_SIZE`,
    default 20) of ``items``, and the total count."""
    page_num = int_query(query, "pageNum", 1, 1, None)
    page_size = int_query(query, "pageSize", 20, 1, limits.MAX_PAGE_SIZE)
    start = (page_num - 1) * page_size
    return items[start : start + page_size], len(items)


def submit_time_range(raw: str | None) -> tuple[int | None, int | None]:
    """ListRayJob's ``submitTime`` filter: ``{"startTime": ms, "endTime": ms}`` (either may be absent)."""
    if not raw:
        return None, None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        start = data.get("startTime")
        end = data.get("endTime")
        return (int(start) if start is not None else None, int(end) if end is not None else None)
    except (ValueError, TypeError):
        raise errors.invalid_parameter('submitTime must be a JSON object {"startTime": ms, "endTime": ms}.') from None


# --------------------------------------------------------------------------- field checks
def _check_json_string(field: str, value: Any) -> None:
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise errors.invalid_parameter(f"{field} must be a JSON string.")
    try:
        json.loads(value)
    except ValueError:
        raise errors.invalid_parameter(f"{field} is not valid JSON.") from None


def _int_field(field: str, value: Any, *, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise errors.invalid_parameter(f"{field} must be an integer.")
    try:
        number = int(value)
    except ValueError:
        raise errors.invalid_parameter(f"{field} must be an integer.") from None
    if minimum is not None and number < minimum:
        raise errors.invalid_parameter(f"{field} must be at least {minimum}.")
    return number


def _str_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.invalid_parameter(f"{field} must be an array of strings.")
    return list(value)


def _json_text(value: Any) -> str:
    """A JSON-string field given as a string (kept) or as an object (serialised)."""
    if isinstance(value, str):
        return value
    return json.dumps(value) if value else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- specs
def head_spec(raw: Any, release: str) -> dict[str, Any]:
    """``headSpec`` with every field the service fills in."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise errors.invalid_parameter("headSpec must be an object.")
    gft = raw.get("gftConfig") or {}
    if not isinstance(gft, dict):
        raise errors.invalid_parameter("headSpec.gftConfig must be an object.")
    idle = raw.get("idleTimeoutSeconds")
    return {
        "queueName": str(raw.get("queueName") or _DEFAULT_QUEUE),
        "cpu": str(raw.get("cpu") or _DEFAULT_CPU),
        "memory": str(raw.get("memory") or _DEFAULT_MEMORY),
        "replica": _int_field("headSpec.replica", raw.get("replica"), minimum=1) or 1,
        "gpuSpec": str(raw.get("gpuSpec") or ""),
        "enableAutoScaling": bool(raw.get("enableAutoScaling", False)),
        "idleTimeoutSeconds": 60 if idle is None else _int_field("headSpec.idleTimeoutSeconds", idle, minimum=0),
        "displayReleaseVersion": str(raw.get("displayReleaseVersion") or release),
        "env": _json_text(raw.get("env")),
        "rayStartParams": _json_text(raw.get("rayStartParams")),
        "gftEnabled": bool(raw.get("gftEnabled", False)),
        "gftConfig": {
            "redisUrl": str(gft.get("redisUrl") or ""),
            "redisUsername": str(gft.get("redisUsername") or ""),
            "redisPassword": str(gft.get("redisPassword") or ""),
        },
    }


def worker_specs(raw: Any, release: str) -> list[dict[str, Any]]:
    """``workerSpec`` (at most :data:`~airflow_provider_emr_ray.limits.MAX_WORKER_GROUPS` groups),
    each group with every field the service fills in."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.invalid_parameter("workerSpec must be an array.")
    if len(raw) > limits.MAX_WORKER_GROUPS:
        raise errors.invalid_parameter(f"workerSpec accepts at most {limits.MAX_WORKER_GROUPS} groups.")
    out = []
    for i, group in enumerate(raw):
        if not isinstance(group, dict):
            raise errors.invalid_parameter(f"workerSpec[{i}] must be an object.")
        replica = _int_field(f"workerSpec[{i}].replica", group.get("replica"), minimum=1) or 1
        min_replica = _int_field(f"workerSpec[{i}].minReplica", group.get("minReplica"), minimum=1)
        max_replica = _int_field(f"workerSpec[{i}].maxReplica", group.get("maxReplica"), minimum=1)
        min_replica = replica if min_replica is None else min_replica
        max_replica = max(replica, min_replica) if max_replica is None else max_replica
        if min_replica > max_replica:
            raise errors.invalid_parameter(f"workerSpec[{i}].minReplica must be less than or equal to maxReplica.")
        out.append(
            {
                "groupName": str(group.get("groupName") or f"WorkerGroup{i + 1}"),
                "workerType": str(group.get("workerType") or "CPU"),
                "replica": replica,
                "minReplica": min_replica,
                "maxReplica": max_replica,
                "queueName": str(group.get("queueName") or _DEFAULT_QUEUE),
                "cpu": str(group.get("cpu") or _DEFAULT_CPU),
                "memory": str(group.get("memory") or _DEFAULT_MEMORY),
                "gpuSpec": str(group.get("gpuSpec") or ""),
                "displayReleaseVersion": str(group.get("displayReleaseVersion") or release),
                "env": _text(group.get("env")),
                "rayStartParams": _text(group.get("rayStartParams")),
            }
        )
    return out


# --------------------------------------------------------------------------- CreateRayCluster / UpdateRayCluster
def cluster_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The fields of a CreateRayCluster body (all, with defaults) or of an UpdateRayCluster body
    (only those given)."""
    out: dict[str, Any] = {}
    if "name" in body or creating:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= limits.MAX_CLUSTER_NAME_LENGTH:
            raise errors.invalid_parameter(f"name must be 1 to {limits.MAX_CLUSTER_NAME_LENGTH} characters in length.")
        out["name"] = name
    release = body.get("displayReleaseVersion")
    if release is not None or creating:
        out["displayReleaseVersion"] = str(release or DEFAULT_RELEASE)
    rel = out.get("displayReleaseVersion") or DEFAULT_RELEASE
    for key in ("description", "networkServiceName"):
        if key in body or creating:
            out[key] = str(body.get(key) or "")
    if "extraParam" in body or creating:
        _check_json_string("extraParam", body.get("extraParam"))
        out["extraParam"] = body.get("extraParam") or "{}"
    if "headSpec" in body or creating:
        out["headSpec"] = head_spec(body.get("headSpec"), rel)
    if "workerSpec" in body or creating:
        out["workerSpec"] = worker_specs(body.get("workerSpec"), rel)
    if "volumeIds" in body or creating:
        out["volumeIds"] = _str_list("volumeIds", body.get("volumeIds"))
    return out


# --------------------------------------------------------------------------- SubmitRayJob
def tags(value: Any) -> list[dict[str, str]]:
    """``tags``: ``[{key, value}]``, keys and values within the
    :data:`~airflow_provider_emr_ray.limits.MAX_TAG_KEY_LENGTH` / ``MAX_TAG_VALUE_LENGTH`` bounds."""
    items = value or []
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise errors.invalid_parameter("tags must be an array of {key, value}.")
    out = []
    for i, item in enumerate(items):
        tag = {"key": str(item.get("key", "")), "value": str(item.get("value", ""))}
        for part, bound in (("key", limits.MAX_TAG_KEY_LENGTH), ("value", limits.MAX_TAG_VALUE_LENGTH)):
            if len(tag[part]) > bound:
                raise errors.invalid_parameter(f"tags[{i}].{part} must be at most {bound} characters in length.")
        out.append(tag)
    return out


def _task_biz_id(body: dict[str, Any]) -> str | None:
    """``taskBizId`` given in ``metadataJson`` or ``extraParam`` (the first found)."""
    for key in ("metadataJson", "extraParam"):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            found = json.loads(body.get(key) or "{}").get("taskBizId")
            if found:
                return str(found)
    return None


def job_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The user-given fields of a SubmitRayJob body, validated and with defaults.

    A job on an existing cluster (``clusterId``) gets ``headSpec``/``workerSpecs`` (and the
    default release) from that cluster, so they are None here; a job with its own cluster gets
    them from the body.
    """
    entrypoint = body.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint.strip():
        raise errors.invalid_parameter("entrypoint is required.")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > limits.MAX_JOB_NAME_LENGTH):
        raise errors.invalid_parameter(f"name must be a string of at most {limits.MAX_JOB_NAME_LENGTH} characters.")
    for key in ("runtimeEnvJson", "metadataJson", "entrypointResources", "extraParam"):
        _check_json_string(key, body.get(key))
    job_tags = tags(body.get("tags"))
    ads = _int_field("activeDeadlineSeconds", body.get("activeDeadlineSeconds"), minimum=0) or 0
    ttl = _int_field("ttlSecondsAfterFinished", body.get("ttlSecondsAfterFinished"), minimum=0) or 0
    cluster_id = body.get("clusterId") or None
    release = body.get("displayReleaseVersion")
    own_release = str(release or DEFAULT_RELEASE)
    return {
        "_clusterId": cluster_id,
        "name": name or None,
        "entrypoint": entrypoint,
        "tags": job_tags,
        "displayReleaseVersion": str(release) if release else None,
        "networkServiceName": str(body.get("networkServiceName") or ""),
        "runtimeEnvJson": body.get("runtimeEnvJson") or "",
        "workingDir": str(body.get("workingDir") or ""),
        "submissionMode": str(body.get("submissionMode") or "HTTPMode"),
        "metadataJson": body.get("metadataJson") or "",
        "entrypointNumCpus": str(body.get("entrypointNumCpus") or ""),
        "entrypointNumGpus": str(body.get("entrypointNumGpus") or ""),
        "entrypointMemory": str(body.get("entrypointMemory") or ""),
        "entrypointResources": body.get("entrypointResources") or "",
        "shutdownAfterJobFinishes": bool(body.get("shutdownAfterJobFinishes", True)),
        "ttlSecondsAfterFinished": ttl,
        "activeDeadlineSeconds": ads,
        "volumeIds": _str_list("volumeIds", body.get("volumeIds")),
        "headSpec": None if cluster_id else head_spec(body.get("headSpec"), own_release),
        "workerSpecs": None if cluster_id else worker_specs(body.get("workerSpec"), own_release),
        "extraParam": body.get("extraParam") or "{}",
        "taskBizId": _task_biz_id(body),
    }
