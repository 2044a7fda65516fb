"""Every state of a Ray cluster and a Ray job, and every set of them the package uses.

The one home of this knowledge: the response models, the operators, sensors and triggers, and
the emulator all read it from here. Standard library only (DAG files import it via the
operators on every parse).

The values are those of the EMR Serverless Spark API pages (GetRayCluster ``state``, GetRayJob
``status`` and ``clusterState``). Members are ``str`` subclasses, so ``ClusterState.Running ==
"Running"`` and a set of members matches plain strings read from JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

__all__ = [
    "CLUSTER_FAILURE_STATES",
    "CLUSTER_LIVE_STATES",
    "CLUSTER_STATES",
    "CLUSTER_TERMINAL_STATES",
    "ClusterState",
    "JOB_ACTIVE_STATUSES",
    "JOB_FAILURE_STATUSES",
    "JOB_STATUSES",
    "JOB_SUCCESS_STATUSES",
    "JOB_TERMINAL_STATUSES",
    "JobClusterState",
    "RAY_JOBS_STATUSES",
    "RAY_JOBS_TERMINAL_STATUSES",
    "RAY_JOBS_TO_JOB_STATUS",
    "RayJobStatus",
    "RayJobsStatus",
    "WaitOutcome",
    "ray_job_states",
    "ray_to_job_status",
]


class _StrEnum(str, Enum):
    """A ``str`` enum whose members equal (and hash like) their wire values."""

    def __str__(self) -> str:
        return self.value

    __hash__ = str.__hash__


class ClusterState(_StrEnum):
    """``state`` of a Ray cluster."""

    Starting = "Starting"
    Running = "Running"
    Stopping = "Stopping"
    Stopped = "Stopped"
    Error = "Error"


class RayJobStatus(_StrEnum):
    """``status`` of a Ray job."""

    Submitted = "Submitted"
    Pending = "Pending"
    Running = "Running"
    Succeeded = "Succeeded"
    Failed = "Failed"
    Cancelling = "Cancelling"
    Cancelled = "Cancelled"
    Timeout = "Timeout"


class RayJobsStatus(_StrEnum):
    """``status`` of a job in Ray's own Jobs API (``/api/jobs/`` at a cluster's ``jobUrl``)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class JobClusterState(_StrEnum):
    """``clusterState`` of a Ray job (the state of the cluster that runs it)."""

    Submitted = "Submitted"
    Pending = "Pending"
    Running = "Running"
    Deleted = "Deleted"


class WaitOutcome(_StrEnum):
    """How a wait ended (the ``outcome`` of a trigger event; never a resource's own state)."""

    success = "success"
    failure = "failure"
    timeout = "timeout"
    error = "error"


#: Every cluster state, in lifecycle order (what the provider knows; others are kept as strings).
CLUSTER_STATES: tuple[str, ...] = tuple(s.value for s in ClusterState)
#: States a cluster does not leave on its own (as documented: only ``Error``).
CLUSTER_TERMINAL_STATES: frozenset[str] = frozenset({ClusterState.Error})
#: Cluster states that mean failure (the default ``failure_states`` of cluster waits).
CLUSTER_FAILURE_STATES: frozenset[str] = frozenset({ClusterState.Error})
#: States of a cluster that exists and can be used again (reused by name, started if Stopped).
CLUSTER_LIVE_STATES: frozenset[str] = frozenset(
    {ClusterState.Starting, ClusterState.Running, ClusterState.Stopping, ClusterState.Stopped}
)

#: Every job status, in lifecycle order.
JOB_STATUSES: tuple[str, ...] = tuple(s.value for s in RayJobStatus)
#: Statuses a job never leaves.
JOB_TERMINAL_STATUSES: frozenset[str] = frozenset(
    {RayJobStatus.Succeeded, RayJobStatus.Failed, RayJobStatus.Cancelled, RayJobStatus.Timeout}
)
#: The terminal status that means success (the default ``target_states`` of job waits).
JOB_SUCCESS_STATUSES: frozenset[str] = frozenset({RayJobStatus.Succeeded})
#: Terminal statuses that mean failure (the default ``failure_states`` of job waits).
JOB_FAILURE_STATUSES: frozenset[str] = JOB_TERMINAL_STATUSES - JOB_SUCCESS_STATUSES
#: Statuses of a job that has not ended.
JOB_ACTIVE_STATUSES: frozenset[str] = frozenset(JOB_STATUSES) - JOB_TERMINAL_STATUSES
#: Statuses of a previous try's job that a retry reattaches to: not ended and not being
#: cancelled (a job cancelled because its task was cleared or killed is not waited on again).
JOB_REATTACH_STATUSES: frozenset[str] = JOB_ACTIVE_STATUSES - {RayJobStatus.Cancelling}

#: Every Ray Jobs API status, in lifecycle order.
RAY_JOBS_STATUSES: tuple[str, ...] = tuple(s.value for s in RayJobsStatus)
#: Ray Jobs API statuses a job never leaves.
RAY_JOBS_TERMINAL_STATUSES: frozenset[str] = frozenset(
    {RayJobsStatus.STOPPED, RayJobsStatus.SUCCEEDED, RayJobsStatus.FAILED}
)
#: A Ray Jobs API status as the provider's job status (the one vocabulary of the waits).
RAY_JOBS_TO_JOB_STATUS: dict[str, RayJobStatus] = {
    RayJobsStatus.PENDING: RayJobStatus.Pending,
    RayJobsStatus.RUNNING: RayJobStatus.Running,
    RayJobsStatus.STOPPED: RayJobStatus.Cancelled,
    RayJobsStatus.SUCCEEDED: RayJobStatus.Succeeded,
    RayJobsStatus.FAILED: RayJobStatus.Failed,
}


def ray_to_job_status(status: object) -> str | None:
    """A Ray Jobs status (``SUCCEEDED``...) as the provider's job status (``Succeeded``...);
    a provider status, or one unknown to both, is returned as it is."""
    if status is None:
        return None
    value = str(getattr(status, "value", status))
    mapped = RAY_JOBS_TO_JOB_STATUS.get(value)  # type: ignore[call-overload]
    return str(mapped) if mapped is not None else value


def ray_job_states(states: Iterable[object]) -> tuple[str, ...]:
    """Job statuses given in either vocabulary, in the provider's (deduplicated, in order)."""
    out: list[str] = []
    for state in states:
        mapped = ray_to_job_status(state)
        if mapped is not None and mapped not in out:
            out.append(mapped)
    return tuple(out)


def ordered(states: frozenset[str] | set[str], order: tuple[str, ...]) -> tuple[str, ...]:
    """``states`` as plain strings in lifecycle ``order`` (stable defaults for arguments and docs)."""
    return tuple(s for s in order if s in states)
