"""What a Ray cluster or a Ray job looks like once it leaves the hook: in XCom and in trigger events.

The hook returns response models. The few fields a wait, an event or an XCom needs are read
from a model's attributes once (:func:`cluster_info`, :func:`job_info`) into a small dict with
the API's field names; that dict is what events carry and what the XCom pushes read. No
secret is in it: no submit token, and the dashboard URL without its token.

Trigger events (:func:`wait_event`)::

    {"outcome": "success" | "failure" | "timeout" | "error",   # how the wait ended
     "state": <the resource's last state (cluster) or status (job)>,
     "message": <the service's or the wait's message>,
     "elapsed": <seconds since the wait started>,
     "cluster_id" | "submission_id": <the resource's id>,
     "cluster" | "job": <cluster_info / job_info>}
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from enum import Enum
from typing import Any

# Loaded at DAG parse (the sensors' kinds): the standard library and the state sets only; the
# readers and pushes import what they need on first use.
from airflow_provider_emr_ray.states import (
    CLUSTER_FAILURE_STATES,
    CLUSTER_STATES,
    JOB_FAILURE_STATUSES,
    JOB_STATUSES,
    JOB_SUCCESS_STATUSES,
    ClusterState,
    ordered,
)

#: The XCom keys of a cluster (create, update and start operators, the cluster sensor).
CLUSTER_XCOM_KEYS = ("clusterId", "jobUrl", "jobUrlInner", "grpcEndpoint", "dashboardUrl")
#: The XCom keys the job sensor pushes.
JOB_SENSOR_XCOM_KEYS = ("status", "tags", "duration", "cuHours", "dashboardUrl")
#: The XCom keys the submit operator pushes once the job ended (``submissionId`` at submit).
JOB_SUBMIT_XCOM_KEYS = ("dashboardUrl", "tags")

# wire name -> model attribute
_CLUSTER_FIELDS = {
    "clusterId": "cluster_id",
    "jobUrl": "job_url",
    "jobUrlInner": "job_url_inner",
    "grpcEndpoint": "grpc_endpoint",
    "dashboardUrl": "dashboard_url",
    "state": "state",
    "message": "message",
    "name": "name",
}
_JOB_FIELDS = {
    "submissionId": "submission_id",
    "name": "name",
    "status": "status",
    "message": "message",
    "duration": "duration",
    "cuHours": "cu_hours",
    "dashboardUrl": "dashboard_url",
    "logBucketName": "log_bucket_name",
    "logPath": "log_path",
    "submitTime": "submit_time",
    "startTime": "start_time",
    "endTime": "end_time",
    "clusterState": "cluster_state",
}


def _read(model: Any, fields: Mapping[str, str]) -> dict[str, Any]:
    from airflow_provider_emr_ray.redaction import strip_url_secrets

    info: dict[str, Any] = {}
    for wire, attr in fields.items():
        value = getattr(model, attr, None)
        info[wire] = value.value if isinstance(value, Enum) else value
    info["dashboardUrl"] = strip_url_secrets(info["dashboardUrl"])
    return info


def cluster_info(cluster: Any) -> dict[str, Any]:
    """A cluster (a ``RayCluster``) as events and XCom carry it: ids, endpoints, the dashboard
    URL without its token, state, message, name. Never the submit token."""
    return _read(cluster, _CLUSTER_FIELDS)


def job_info(job: Any) -> dict[str, Any]:
    """A job (a ``RayJob``) as events and XCom carry it: status, message, tags (key→value),
    duration, cuHours, the dashboard URL without its token, the log location and times."""
    from airflow_provider_emr_ray.tags import from_wire

    info = _read(job, _JOB_FIELDS)
    info["tags"] = from_wire(getattr(job, "tags", None))
    return info


class ResourceKind:
    """What differs between waiting on a cluster and waiting on a job.

    :param label: ``Ray cluster`` / ``Ray job``: how log lines and messages name it.
    :param state_key: The key of its state in :func:`cluster_info` / :func:`job_info`.
    :param id_key: The key of its id in events and trigger kwargs, and the argument naming it.
    :param event_key: The key of the resource dict in events.
    :param known: The states the provider knows (others are logged as unknown, and waited on).
    :param targets: The default target states of a wait, a sensor or a trigger.
    :param failures: The default failure states.
    :param fetch: ``fetch(hook, id)``: the response model, with the sync hook.
    :param afetch: ``afetch(hook, id)``: a coroutine giving the response model.
    :param info: The model as the dict events carry.
    """

    __slots__ = ("label", "state_key", "id_key", "event_key", "known", "targets", "failures", "fetch", "afetch", "info")

    def __init__(
        self,
        label: str,
        state_key: str,
        id_key: str,
        event_key: str,
        known: Collection[str],
        targets: tuple[str, ...],
        failures: tuple[str, ...],
        fetch: Callable[[Any, str], Any],
        afetch: Callable[[Any, str], Any],
        info: Callable[[Any], dict[str, Any]],
    ) -> None:
        self.label, self.state_key, self.id_key, self.event_key = label, state_key, id_key, event_key
        self.known, self.targets, self.failures = known, targets, failures
        self.fetch, self.afetch, self.info = fetch, afetch, info

    def __repr__(self) -> str:
        return f"ResourceKind({self.label!r})"


# fields: label, state_key, id_key, event_key, known, targets, failures, fetch, afetch, info
CLUSTER = ResourceKind(
    "Ray cluster", "state", "cluster_id", "cluster", CLUSTER_STATES,
    (ClusterState.Running.value,), ordered(CLUSTER_FAILURE_STATES, CLUSTER_STATES),
    lambda hook, cluster_id: hook.get_ray_cluster(cluster_id),
    lambda hook, cluster_id: hook.aget_ray_cluster(cluster_id),
    cluster_info,
)  # fmt: skip
JOB = ResourceKind(
    "Ray job", "status", "submission_id", "job", JOB_STATUSES,
    ordered(JOB_SUCCESS_STATUSES, JOB_STATUSES), ordered(JOB_FAILURE_STATUSES, JOB_STATUSES),
    lambda hook, submission_id: hook.get_ray_job(submission_id),
    lambda hook, submission_id: hook.aget_ray_job(submission_id),
    job_info,
)  # fmt: skip


def wait_event(
    kind: ResourceKind,
    resource_id: str,
    outcome: str,
    *,
    state: str | None,
    message: str | None,
    elapsed: float,
    resource: Mapping[str, Any] | None,
    fatal: bool = False,
) -> dict[str, Any]:
    """The payload of a trigger event (also what a synchronous wait hands to ``execute_complete``).

    ``fatal`` (an ``error`` outcome whose error no retry can fix: authentication, validation)
    adds ``"fatal": True``; :func:`wait_error` then fails the task without retry."""
    event = {
        "outcome": str(outcome),
        "state": state,
        "message": message,
        "elapsed": round(elapsed, 3),
        kind.id_key: resource_id,
        kind.event_key: dict(resource or {}),
    }
    if fatal:
        event["fatal"] = True
    return event


def wait_error(event: Mapping[str, Any], text: str) -> Exception:
    """The error of a wait that ended with ``outcome="error"``: ``AirflowFailException`` (no
    retry) when the event is ``fatal``, else ``AirflowException`` (retried as Airflow says)."""
    from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

    return (AirflowFailException if event.get("fatal") else AirflowException)(text)


def read_event(kind: ResourceKind, event: Mapping[str, Any]) -> tuple[str, str | None, str | None, dict[str, Any]]:
    """``(outcome, state, message, resource)`` of an event built by :func:`wait_event`."""
    return event["outcome"], event.get("state"), event.get("message"), dict(event.get(kind.event_key) or {})


def _push_known(ti: Any, values: Mapping[str, Any], *, only_present: bool = False) -> None:
    """Push every value that is known: ``None`` never (pulling a key never pushed gives ``None``
    all the same, and Airflow 3.0's execution API refuses a ``None`` XCom value); with
    ``only_present`` no empty value either."""
    for key, value in values.items():
        if value is not None and (value or not only_present):
            ti.xcom_push(key=key, value=value)


def push_cluster_xcoms(context: Mapping[str, Any], cluster_id: str, cluster: Mapping[str, Any], log: Any) -> None:
    """Push ``clusterId``, ``jobUrl``, ``jobUrlInner``, ``grpcEndpoint`` and ``dashboardUrl``
    (without its token; never the submit token; the unknown ones left out) and log the endpoints."""
    from airflow_provider_emr_ray.redaction import mask_url, strip_url_secrets

    ti = context["ti"]
    values = {key: cluster.get(key) for key in CLUSTER_XCOM_KEYS}
    values["clusterId"] = cluster_id
    values["dashboardUrl"] = strip_url_secrets(values["dashboardUrl"])
    _push_known(ti, values)
    log.info(
        "Ray cluster %s endpoints: jobUrl=%s jobUrlInner=%s grpcEndpoint=%s dashboardUrl=%s",
        cluster_id,
        values["jobUrl"],
        values["jobUrlInner"],
        values["grpcEndpoint"],
        mask_url(values["dashboardUrl"]),
    )


def push_job_xcoms(
    context: Mapping[str, Any],
    submission_id: str,
    job: Mapping[str, Any],
    log: Any,
    *,
    keys: Sequence[str],
    only_present: bool = False,
) -> None:
    """Push ``keys`` of ``job`` (a :func:`job_info` dict; with ``only_present`` the empty ones
    are left out; an unknown one, e.g. ``cuHours`` of a Ray Jobs API job, never) and log what the
    job cost and where its dashboard is."""
    from airflow_provider_emr_ray.redaction import mask_url, strip_url_secrets

    ti = context["ti"]
    values = {key: job.get(key) for key in keys}
    if "tags" in values:
        values["tags"] = values["tags"] or {}
    if "dashboardUrl" in values:
        values["dashboardUrl"] = strip_url_secrets(values["dashboardUrl"])
    _push_known(ti, values, only_present=only_present)
    log.info(
        "Ray job %s: status %s, duration %ss, cuHours %s, dashboard %s",
        submission_id,
        job.get("status"),
        job.get("duration"),
        job.get("cuHours"),
        mask_url(job.get("dashboardUrl")),
    )
