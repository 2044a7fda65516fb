"""Wire views: how a stored cluster or job is rendered as the API's JSON.

Records are the store's dicts (keys starting with ``_`` are internal and never shown). The
"full" views answer GetRayCluster / GetRayJob; the short ones are the items of ListRayCluster /
ListRayJob. Nothing here changes a record; what depends on the state machines (``now``, a job's
``clusterState``, the cluster it runs on) is passed in by the caller.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_emr_ray.emulator.responses import dumps
from airflow_provider_emr_ray.states import JOB_TERMINAL_STATUSES, ClusterState


def _fields(names: str) -> tuple[str, ...]:
    """Field names written as one space-separated string."""
    return tuple(names.split())


_CLUSTER_LIST_HEAD = _fields("queueName cpu memory replica gpuSpec enableAutoScaling idleTimeoutSeconds")
_CLUSTER_LIST_WORKER = _fields("groupName workerType replica queueName cpu memory gpuSpec minReplica maxReplica")
_JOB_HEAD = _fields("replica enableAutoScaling idleTimeoutSeconds queueName cpu memory gpuSpec displayReleaseVersion")
_JOB_WORKER = _fields("groupName replica minReplica maxReplica queueName cpu memory gpuSpec displayReleaseVersion")
#: Straight copies from a job record into GetRayJob (in the service's order, around the computed ones).
_JOB_FIELDS_1 = _fields("submissionId name displayReleaseVersion")
_JOB_FIELDS_2 = _fields("status message entrypoint submitTime startTime endTime")
_JOB_FIELDS_3 = _fields(
    "networkServiceName runtimeEnvJson workingDir submissionMode metadataJson entrypointNumCpus entrypointNumGpus "
    "entrypointMemory entrypointResources shutdownAfterJobFinishes ttlSecondsAfterFinished activeDeadlineSeconds"
)

#: Pod view of a cluster's nodes per cluster state:
#: (phase, containerState, containerStateReason, containerStateMessage, containerExitCode, message or None: the cluster's).
_INSTANCE_STATES: dict[str, tuple[str, str, str, str, int, str | None]] = {
    ClusterState.Starting: ("Pending", "Waiting", "ContainerCreating", "", 0, "Pod is being created."),
    ClusterState.Running: ("Running", "Running", "", "", 0, "ok"),
    ClusterState.Stopping: ("Running", "Terminated", "Completed", "ContainerExit", 0, "Pod is terminating."),
    ClusterState.Error: ("Failed", "Terminated", "OOMKilled", "ContainerExit", 137, None),
}


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: record[k] for k in keys}


def gateway(region_id: str) -> str:
    return f"emr-ray-gateway-{region_id}.aliyuncs.com"


def job_gateway(region_id: str) -> str:
    return f"emr-spark-ray-gateway-{region_id}"


def cluster_dashboard_url(c: dict[str, Any], region_id: str) -> str:
    return f"https://{gateway(region_id)}/workspace/{c['_ws']}/raycluster/{c['clusterId']}/dashboard?token={c['_dashToken']}"


def instances(c: dict[str, Any]) -> list[dict[str, Any]]:
    """GetRayCluster ``instances``: one pod per node, shaped by the cluster's state."""
    state = c["state"]
    if state == ClusterState.Stopped:
        return []
    phase, container, reason, cmsg, code, msg = _INSTANCE_STATES.get(state, ("Unknown", "Unknown", "", "", 0, ""))
    failed = state == ClusterState.Error
    return [
        {
            "type": node_type,
            "instanceId": node_id,
            "phase": phase,
            "containerState": container,
            "containerStateReason": reason,
            "containerStateMessage": cmsg,
            "containerExitCode": code,
            "reason": "OOMKilled" if failed else "",
            "message": c["message"] if msg is None else msg,
            "createTime": c["_since"] if state == ClusterState.Starting else c["startTime"],
            "startTime": c["startTime"],
        }
        for node_type, node_id in c["_nodes"]
    ]


def cluster_view(c: dict[str, Any], *, full: bool, region_id: str, job_url: str = "") -> dict[str, Any]:
    """GetRayCluster's answer (``full``) or a ListRayCluster item.

    :param job_url: the emulator's Ray Jobs API address (``jobUrl`` and ``jobUrlInner``: the
        emulator has one address for both); the service's host names when empty.
    """
    head = c["headSpec"]
    jobs = job_gateway(region_id)
    view: dict[str, Any] = {
        **_pick(c, ("clusterId", "name", "description", "displayReleaseVersion", "networkServiceName", "state")),
        **_pick(c, ("message", "creator", "creatorName", "modifier", "modifierName", "userId", "instanceId")),
        **_pick(c, ("createTime", "startTime", "modifiedTime", "modified")),
        "dashboardUrl": cluster_dashboard_url(c, region_id),
        "grpcEndpoint": f"ray://{jobs}-internal.emr.aliyuncs.com:80",
    }
    if full:
        view.update(
            {
                "extraParam": c["extraParam"],
                "volumeIds": list(c["volumeIds"]),
                "jobUrl": job_url or f"https://{jobs}.aliyuncs.com",
                "jobUrlInner": job_url or f"http://{jobs}-internal.emr.aliyuncs.com",
                "submitToken": c["submitToken"],
                "headSpec": dict(head, gftConfig=dict(head["gftConfig"])),
                "workerSpec": [dict(w) for w in c["workerSpec"]],
                "instances": instances(c),
            }
        )
    else:
        view["headSpec"] = _pick(head, _CLUSTER_LIST_HEAD)
        view["workerSpec"] = [_pick(w, _CLUSTER_LIST_WORKER) for w in c["workerSpec"]]
    return view


def _cpu(value: Any) -> float:
    try:
        return float(str(value).strip() or 0)
    except ValueError:
        return 0.0


def _compute_units(job: dict[str, Any]) -> float:
    if job["_clusterId"]:
        return _cpu(job["entrypointNumCpus"]) or 1.0
    head = job["headSpec"]
    return _cpu(head["cpu"]) * head["replica"] + sum(_cpu(w["cpu"]) * w["replica"] for w in job["workerSpecs"])


def duration(job: dict[str, Any], now: int) -> int:
    """Seconds the job has run (until its end once terminal); 0 before it started."""
    start = job["startTime"]
    if not start:
        return 0
    terminal = job["status"] in JOB_TERMINAL_STATUSES
    return max(0, ((job["endTime"] if terminal else now) - start) // 1000)


def job_view(
    job: dict[str, Any], *, full: bool, now: int, cluster_state: str, cluster: dict[str, Any] | None, region_id: str
) -> dict[str, Any]:
    """GetRayJob's answer (``full``) or a ListRayJob item.

    :param cluster_state: the job's ``clusterState`` (computed by the store).
    :param cluster: the record of the cluster the job runs on, when it still exists.
    """
    ws, sid = job["_ws"], job["submissionId"]
    seconds = duration(job, now)
    terminal = job["status"] in JOB_TERMINAL_STATUSES
    cu_hours = round(_compute_units(job) * seconds / 3600.0, 4) if terminal else 0.0
    if cluster is not None:
        dashboard = cluster_dashboard_url(cluster, region_id)
    else:
        dashboard = f"https://{gateway(region_id)}/workspace/{ws}/rayjob/{sid}/dashboard?token={job['_dashToken']}"
    head = job["headSpec"]
    if not full:
        return {
            **_pick(job, ("submissionId", "name", "status")),
            "clusterState": cluster_state,
            "creatorName": job["creatorName"],
            "cuHours": cu_hours,
            "dashboardUrl": dashboard,
            "duration": seconds,
            **_pick(job, ("startTime", "endTime", "submitTime")),
            "resourceQueue": head["queueName"],
        }
    return {
        **_pick(job, _JOB_FIELDS_1),
        "tags": [dict(t) for t in job["tags"]],
        **_pick(job, _JOB_FIELDS_2),
        "duration": seconds,
        **_pick(job, _JOB_FIELDS_3),
        "volumeIds": list(job["volumeIds"]),
        "backoffLimit": job["backoffLimit"],
        "headSpec": _pick(head, _JOB_HEAD),
        "workerSpecs": [_pick(w, _JOB_WORKER) for w in job["workerSpecs"]],
        "extraParam": job["extraParam"],
        "creatorName": job["creatorName"],
        "dashboardUrl": dashboard,
        "logBucketName": f"ss-ray-{region_id}",
        "logPath": f"{ws}/ray/logs/{sid}/",
        "cuHours": cu_hours,
        "guHours": {"gpuSpec": head["gpuSpec"], "gpuHours": 0.0},
        "dashboardUrlExtra": [],
        "clusterState": cluster_state,
        "taskBizId": job["taskBizId"],
    }


class JobJsonCache:
    """GetRayJob's answer as JSON bytes, cached per job until anything it shows changes
    (the hot path of every poll)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple, bytes]] = {}

    def render(
        self, job: dict[str, Any], *, now: int, cluster_state: str, cluster: dict[str, Any] | None, region_id: str
    ) -> bytes:
        key = (
            job["status"],
            job["_since"],
            job["startTime"],
            job["endTime"],
            duration(job, now),
            cluster_state,
            cluster is not None,
        )
        cached = self._cache.get(job["submissionId"])
        if cached is not None and cached[0] == key:
            return cached[1]
        view = job_view(job, full=True, now=now, cluster_state=cluster_state, cluster=cluster, region_id=region_id)
        data = dumps(view)
        self._cache[job["submissionId"]] = (key, data)
        return data
