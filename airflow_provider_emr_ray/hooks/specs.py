"""The keyword arguments of the hook's long calls, each field typed and described once.

``EmrRayHook.create_ray_cluster(name=..., **spec)`` and ``update_ray_cluster`` take the
fields of :class:`ClusterSpec`; ``submit_ray_job(entrypoint=..., **spec)`` those of
:class:`JobSpec`. The methods are annotated ``**spec: Unpack[ClusterSpec]``, so an IDE or a
type checker shows and checks every keyword. At run time :func:`check_keywords` rejects a
keyword that is not a field (with the nearest valid name) before anything is sent; the values
are validated by the request models (:class:`~airflow_provider_emr_ray.models.RayClusterConfig`,
:class:`~airflow_provider_emr_ray.models.RayJobConfig`).

Dicts may be given in snake_case or camelCase. ``extra_fields`` is the escape hatch for a field
the service added after this release: wire-named (camelCase) keys sent verbatim, on purpose.

Standard library only (the model types are named for type checkers alone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_emr_ray.suggest import did_you_mean

if TYPE_CHECKING:
    from airflow_provider_emr_ray.models import HeadSpec, Tag, WorkerSpec

__all__ = ["ClusterSpec", "JobSpec", "check_keywords"]


class ClusterSpec(TypedDict, total=False):
    """Optional fields of CreateRayCluster / UpdateRayCluster (``name`` is a parameter of its own)."""

    #: The head node: a dict (``cpu``, ``memory``, ``replica``, ``gpu_spec``, ``env``, ...) or a
    #: :class:`~airflow_provider_emr_ray.models.HeadSpec`.
    head_spec: Mapping[str, Any] | HeadSpec | None
    #: Worker groups, up to :data:`~airflow_provider_emr_ray.limits.MAX_WORKER_GROUPS`: dicts or
    #: :class:`~airflow_provider_emr_ray.models.WorkerSpec`.
    worker_spec: Sequence[Mapping[str, Any] | WorkerSpec] | None
    #: The engine version, e.g. ``ray-1.0.0 (Ray 2.47.1, Python 3.12)``.
    display_release_version: str | None
    #: Free text.
    description: str | None
    #: The network connection to use (VPC access).
    network_service_name: str | None
    #: Volumes to mount.
    volume_ids: Sequence[str] | None
    #: Extra parameters (a dict or a JSON object string).
    extra_param: str | Mapping[str, Any] | None
    #: Wire-named fields sent verbatim (a field this release does not model).
    extra_fields: Mapping[str, Any] | None


class JobSpec(TypedDict, total=False):
    """Optional fields of SubmitRayJob (``entrypoint`` is a parameter of its own).

    Give ``cluster_id`` to run on an existing cluster, or ``head_spec``/``worker_spec`` for a
    cluster that lives only for this job.
    """

    #: The job name, 1 to :data:`~airflow_provider_emr_ray.limits.MAX_JOB_NAME_LENGTH` characters.
    name: str | None
    #: The existing cluster to run on (not with ``head_spec``/``worker_spec``).
    cluster_id: str | None
    #: The engine version of a job-scoped cluster.
    display_release_version: str | None
    #: The network connection to use (VPC access).
    network_service_name: str | None
    #: A ``{key: value}`` dict or a list of ``{"key": ..., "value": ...}``.
    tags: Mapping[str, str] | Sequence[Mapping[str, str] | Tag] | None
    #: The Ray runtime environment (a dict or a JSON object string).
    runtime_env_json: str | Mapping[str, Any] | None
    #: The working directory of the entrypoint.
    working_dir: str | None
    #: Job metadata (a dict or a JSON object string).
    metadata_json: str | Mapping[str, Any] | None
    #: How the entrypoint is submitted (the service's ``submissionMode``).
    submission_mode: str | None
    #: CPUs reserved for the entrypoint (a positive number, sent as a string).
    entrypoint_num_cpus: str | float | None
    #: GPUs reserved for the entrypoint (0 or a positive number, sent as a string).
    entrypoint_num_gpus: str | float | None
    #: Memory reserved for the entrypoint, like ``"4Gi"``.
    entrypoint_memory: str | None
    #: Custom resources of the entrypoint (a dict or a JSON object string).
    entrypoint_resources: str | Mapping[str, Any] | None
    #: Whether the job-scoped cluster is deleted when the job ends.
    shutdown_after_job_finishes: bool | None
    #: Seconds (>= 0) the finished job's cluster is kept.
    ttl_seconds_after_finished: int | None
    #: Seconds (>= 0) after which the service stops the job.
    active_deadline_seconds: int | None
    #: The head node of a job-scoped cluster (as in :class:`ClusterSpec`).
    head_spec: Mapping[str, Any] | HeadSpec | None
    #: The worker groups of a job-scoped cluster (as in :class:`ClusterSpec`).
    worker_spec: Sequence[Mapping[str, Any] | WorkerSpec] | None
    #: Volumes to mount.
    volume_ids: Sequence[str] | None
    #: Extra parameters (a dict or a JSON object string).
    extra_param: str | Mapping[str, Any] | None
    #: Wire-named fields sent verbatim (a field this release does not model).
    extra_fields: Mapping[str, Any] | None


def check_keywords(method: str, given: Mapping[str, Any], spec: type) -> None:
    """Raise ``TypeError`` naming the first keyword of ``given`` that ``spec`` (a TypedDict)
    does not declare, with the nearest declared name, as Python does for a plain signature."""
    known = spec.__annotations__
    for key in given:
        if key not in known:
            raise TypeError(f"{method}() got an unexpected keyword argument {key!r}{did_you_mean(key, known)}")
