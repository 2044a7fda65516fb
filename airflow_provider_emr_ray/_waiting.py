"""Shared, internal helpers of the operators, sensors and triggers.

One place for: the state-change log line (one per change, with the elapsed time), the
synchronous polling loop, deadlines, the dictionaries pushed to XCom / carried by trigger
events, the Airflow tags of a Ray job and token masking.

Only the standard library is imported at module level: DAG files import the operator modules
constantly, and those import this one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: Transient errors (throttling, 5xx, connection) tolerated in a row while waiting, on top of
#: the hook's own retries, before a wait gives up.
DEFAULT_MAX_TRANSIENT_ERRORS = 5

#: The keys pushed to XCom for a cluster (create operator and cluster sensor).
CLUSTER_XCOM_KEYS = ("clusterId", "jobUrl", "jobUrlInner", "grpcEndpoint", "dashboardUrl")

#: Fields of a job carried by trigger events and used by ``execute_complete``.
JOB_EVENT_KEYS = (
    "submissionId",
    "name",
    "status",
    "message",
    "tags",
    "duration",
    "cuHours",
    "dashboardUrl",
    "logBucketName",
    "logPath",
    "submitTime",
    "startTime",
    "endTime",
    "clusterState",
)

CLUSTER_STATES = ("Starting", "Running", "Stopping", "Stopped", "Error")
JOB_STATUSES = ("Submitted", "Pending", "Running", "Succeeded", "Failed", "Cancelling", "Cancelled", "Timeout")
JOB_TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled", "Timeout"})

# Tag values are limited in length by the service (Kubernetes label values: 63 characters).
TAG_VALUE_MAX = 63
AIRFLOW_TAG_KEYS = ("airflow_dag_id", "airflow_run_id", "airflow_task_id", "airflow_map_index")


# --------------------------------------------------------------------------------------------
# Generic helpers
# --------------------------------------------------------------------------------------------


def is_templated(value: Any) -> bool:
    """True when ``value`` (or anything inside it) is a string still holding a Jinja template,
    or an object Airflow resolves at run time (an XComArg)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_templated(k) or is_templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return any(is_templated(v) for v in value)
    if value is None or isinstance(value, (int, float, bool)):
        return False
    # XComArg, pydantic models, ... : models are concrete, everything else resolves later.
    return not hasattr(value, "model_dump")


def to_plain(value: Any) -> Any:
    """A pydantic model (or list of models) as its wire dictionary; other values unchanged."""
    if hasattr(value, "public_dict"):  # RayCluster / RayJob: never the submit token
        return value.public_dict()
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, mode="json", exclude_none=True)
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def format_elapsed(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s"


def deadline_from(max_wait: float | None, *, now: float | None = None) -> float | None:
    """Epoch seconds at which a wait of ``max_wait`` seconds started now ends (None: never)."""
    if max_wait is None:
        return None
    return (now if now is not None else time.time()) + float(max_wait)


def earliest(*deadlines: float | None) -> float | None:
    present = [d for d in deadlines if d is not None]
    return min(present) if present else None


def execution_deadline(context: Mapping[str, Any], execution_timeout: Any) -> float | None:
    """Epoch seconds at which the task's ``execution_timeout`` runs out (None without one).

    Airflow 3.3 does not apply ``execution_timeout`` to a deferred task that deferred from
    ``execute`` (only to tasks that start in the triggerer), so the operators carry this
    deadline into their triggers themselves.
    """
    if execution_timeout is None:
        return None
    start = None
    ti = context.get("ti") if context else None
    if ti is not None:
        start = getattr(ti, "start_date", None)
    start_ts = start.timestamp() if start is not None else time.time()
    return start_ts + execution_timeout.total_seconds()


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def url_token(url: str | None) -> str | None:
    """The ``token`` query value of a URL (the Ray dashboard carries one), if any."""
    if not url:
        return None
    try:
        for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=False):
            if key.lower() == "token" and value:
                return value
    except ValueError:
        return None
    return None


def mask_url(url: str | None) -> str | None:
    """The URL with its token replaced, for log lines."""
    if not url:
        return url
    from airflow_provider_emr_ray.models import mask_url_token

    return mask_url_token(url)


def _storable_url(url: str | None) -> str | None:
    from airflow_provider_emr_ray.models import strip_url_token

    return strip_url_token(url)


# --------------------------------------------------------------------------------------------
# Resource dictionaries
# --------------------------------------------------------------------------------------------


_WIRE_NAMES: dict[type, dict[str, str]] = {}


def _wire_fields(model: Any, keys: Iterable[str]) -> dict[str, Any]:
    """``keys`` (wire names) read from a response model's attributes, as ``public_dict()`` would
    give them (enums as their values, unmodelled fields from the extras), without dumping the
    whole model: triggers do this on every poll."""
    from enum import Enum

    cls = type(model)
    names = _WIRE_NAMES.get(cls)
    if names is None:
        names = _WIRE_NAMES[cls] = {(f.alias or n): n for n, f in cls.model_fields.items()}
    extra = model.model_extra or {}
    out: dict[str, Any] = {}
    for key in keys:
        name = names.get(key)
        value = getattr(model, name) if name is not None else extra.get(key)
        out[key] = value.value if isinstance(value, Enum) else value
    return out


def cluster_info(cluster: Any) -> dict[str, Any]:
    """What XCom and events may carry about a cluster: never ``submitToken`` or a password."""
    if not isinstance(cluster, Mapping) and hasattr(type(cluster), "model_fields"):
        data = _wire_fields(cluster, (*CLUSTER_XCOM_KEYS, "state", "message", "name"))
    else:
        data = to_plain(cluster) if not isinstance(cluster, Mapping) else dict(cluster)
    info = {k: data.get(k) for k in CLUSTER_XCOM_KEYS}
    info["dashboardUrl"] = _storable_url(info["dashboardUrl"])
    info["state"] = data.get("state")
    info["message"] = data.get("message")
    info["name"] = data.get("name")
    return info


def tags_as_dict(tags: Any) -> dict[str, str]:
    """Tags given as a dict, a list of ``{key, value}`` dicts or a list of Tag models."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    for tag in tags:
        tag = to_plain(tag)
        if isinstance(tag, Mapping):
            out[str(tag.get("key"))] = "" if tag.get("value") is None else str(tag.get("value"))
        elif isinstance(tag, (list, tuple)) and len(tag) == 2:
            out[str(tag[0])] = str(tag[1])
        else:
            raise ValueError(f"tags: cannot read tag {tag!r}: expected a dict or {{key, value}} items")
    return out


def job_info(job: Any) -> dict[str, Any]:
    """A Ray job as a small JSON-able dict (tags as key→value)."""
    if not isinstance(job, Mapping) and hasattr(type(job), "model_fields"):
        data = _wire_fields(job, JOB_EVENT_KEYS)
        data["tags"] = [{"key": t.key, "value": t.value} for t in (job.tags or [])]
    else:
        data = to_plain(job) if not isinstance(job, Mapping) else dict(job)
    info = {k: data.get(k) for k in JOB_EVENT_KEYS}
    info["dashboardUrl"] = _storable_url(info.get("dashboardUrl"))
    info["tags"] = tags_as_dict(data.get("tags"))
    return info


def fit_tag_value(value: str, limit: int = TAG_VALUE_MAX) -> str:
    """``value`` cut to ``limit`` characters; a cut value ends with a hash of the whole, so
    two long values sharing a prefix stay distinct and the result is deterministic."""
    value = str(value)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: limit - 11]}-{digest}"


def workflow_id(dag_id: str, run_id: str) -> str:
    """A stable id of one DAG run (same on every try of every task of the run)."""
    return "af-" + hashlib.sha256(f"{dag_id}\x00{run_id}".encode()).hexdigest()[:24]


def airflow_tags(context: Mapping[str, Any]) -> dict[str, str]:
    """The tags naming the Airflow task instance that submits a job."""
    ti = context["ti"]
    dag_id, run_id, task_id = ti.dag_id, ti.run_id, ti.task_id
    tags = {
        "airflow_dag_id": fit_tag_value(dag_id),
        "airflow_run_id": fit_tag_value(run_id),
        "airflow_task_id": fit_tag_value(task_id),
        "workflowId": workflow_id(dag_id, run_id),
    }
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        tags["airflow_map_index"] = str(map_index)
    return tags


def default_job_name(context: Mapping[str, Any]) -> str:
    """A deterministic job name for a task instance (the same on every try)."""
    ti = context["ti"]
    base = f"airflow-{ti.dag_id}-{ti.task_id}"
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        base += f"-{map_index}"
    return fit_tag_value(base, 128)


# --------------------------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------------------------


class StateLog:
    """Logs one line per observed state change, with the time elapsed since ``started_at``."""

    def __init__(
        self,
        logger: logging.Logger | Any,
        what: str,
        *,
        started_at: float | None = None,
        known: Collection[str] = (),
    ) -> None:
        self.log = logger
        self.what = what
        self.started_at = started_at if started_at is not None else time.time()
        self.known = frozenset(known)
        self.last: str | None = None
        self._seen_any = False

    def elapsed(self) -> float:
        return time.time() - self.started_at

    def observe(self, state: str | None, message: str | None = None) -> bool:
        """Log ``state`` if it differs from the last one seen. True when it changed."""
        if self._seen_any and state == self.last:
            return False
        self._seen_any = True
        previous, self.last = self.last, state
        note = "" if not self.known or state in self.known else " (state not known to this provider; still waiting)"
        detail = f": {message}" if message else ""
        if previous is None:
            self.log.info("%s is %s after %s%s%s", self.what, state, format_elapsed(self.elapsed()), note, detail)
        else:
            self.log.info(
                "%s changed %s -> %s after %s%s%s",
                self.what,
                previous,
                state,
                format_elapsed(self.elapsed()),
                note,
                detail,
            )
        return True


def is_transient(exc: BaseException) -> bool:
    from airflow_provider_emr_ray.exceptions import (
        EmrRayConnectionError,
        EmrRayServerError,
        EmrRayThrottlingError,
    )

    return isinstance(exc, (EmrRayThrottlingError, EmrRayServerError, EmrRayConnectionError))


class WaitResult:
    """How a wait ended: ``outcome`` is success, failure or timeout; ``resource`` the last
    dictionary seen (wire field names)."""

    __slots__ = ("outcome", "resource", "state")

    def __init__(self, outcome: str, resource: dict[str, Any], state: str | None) -> None:
        self.outcome = outcome
        self.resource = resource
        self.state = state

    def __repr__(self) -> str:
        return f"WaitResult({self.outcome!r}, state={self.state!r})"


def wait_until(
    *,
    fetch: Callable[[], dict[str, Any]],
    state_key: str,
    targets: Iterable[str],
    failures: Iterable[str],
    poll_interval: float,
    deadline: float | None,
    state_log: StateLog,
    max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    sleep: Callable[[float], Any] = time.sleep,
) -> WaitResult:
    """Poll ``fetch`` until its ``state_key`` is a target or failure state, or ``deadline``.

    Transient errors (throttling, 5xx, connection) that escape the hook's retries are tolerated
    ``max_transient_errors`` times in a row.
    """
    targets, failures = frozenset(targets), frozenset(failures)
    errors_in_a_row = 0
    last: dict[str, Any] = {}
    while True:
        try:
            last = fetch()
            errors_in_a_row = 0
        except Exception as exc:
            if not is_transient(exc) or errors_in_a_row >= max_transient_errors:
                raise
            errors_in_a_row += 1
            state_log.log.warning(
                "Transient error while waiting (%d/%d): %s", errors_in_a_row, max_transient_errors, exc
            )
        else:
            state = last.get(state_key)
            state_log.observe(state, last.get("message") if state in failures else None)
            if state in targets:
                return WaitResult("success", last, state)
            if state in failures:
                return WaitResult("failure", last, state)
        if deadline is not None and time.time() >= deadline:
            return WaitResult("timeout", last, last.get(state_key))
        pause = poll_interval
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.time()))
        sleep(pause)
