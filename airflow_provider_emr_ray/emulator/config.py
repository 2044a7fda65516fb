"""Configuration of the local EMR Serverless Spark Ray API emulator, its default (local-only)
credentials and the one builder of the ``emr_ray`` connection JSON for it.

:class:`FaultRule` (and the table of fault kinds) lives in :mod:`.faults`. Standard library only,
so tests, the demo and the benchmarks read the defaults and ``conn_json()`` without loading
starlette or httpx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_emr_ray.emulator.faults import FaultRule

__all__ = [
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "DEFAULT_REGION",
    "DEFAULT_RELEASE",
    "DEFAULT_WORKSPACE",
    "EmulatorConfig",
    "FakeClock",
    "RAY_GATEWAY_ACTIONS",
    "RAY_GATEWAY_PREFIX",
    "conn_json",
    "ray_job_url",
]

# Well-known *local development* credentials (never valid against Alibaba Cloud). They equal the
# values the test-suite uses, so an emulator started with defaults accepts the tests' requests.
DEFAULT_ACCESS_KEY_ID = "LTAI5tTestAccessKeyId01"
DEFAULT_ACCESS_KEY_SECRET = "test-secret-0123456789abcdefghij"
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_WORKSPACE = "w-d2d82aa09155"
DEFAULT_RELEASE = "ray-1.0.0 (Ray 2.47.1, Python 3.12)"

#: Where the emulator serves Ray's own Jobs REST API (the ``jobUrl`` gateway of every cluster,
#: which picks the cluster from the ``ray-token`` header). GetRayCluster's ``jobUrl`` and
#: ``jobUrlInner`` are the emulator's base URL followed by this prefix; Ray's
#: ``JobSubmissionClient`` appends ``/api/...`` to it.
RAY_GATEWAY_PREFIX = "/ray-gateway"
#: The calls of Ray's Jobs API the gateway serves (the table is ``ray_jobs.RAY_JOBS_ACTIONS``,
#: checked against these names): fault rules name them ``Ray.<name>``.
RAY_GATEWAY_ACTIONS = ("GetVersion", "GetPackage", "UploadPackage", "SubmitJob", "ListJobs", "GetJob",
                       "StopJob", "DeleteJob", "GetJobLogs", "TailJobLogs")  # fmt: skip


def ray_job_url(endpoint: str) -> str:
    """The Ray Jobs API address (``jobUrl``) of an emulator served at ``endpoint``."""
    return endpoint.rstrip("/") + RAY_GATEWAY_PREFIX


def conn_json(
    endpoint: str,
    *,
    login: str | None = DEFAULT_ACCESS_KEY_ID,
    password: str | None = DEFAULT_ACCESS_KEY_SECRET,
    region_id: str | None = DEFAULT_REGION,
    workspace_id: str | None = DEFAULT_WORKSPACE,
    **extra: Any,
) -> str:
    """The ``emr_ray`` Airflow connection (``AIRFLOW_CONN_…`` JSON) for an API at ``endpoint``.

    The one place that builds this JSON: the emulator's CLI prints it, and the tests, the demo
    and the benchmarks use it. ``extra`` adds extras (``security_token``, ``timeout``, ...);
    extras given as None are left out.
    """
    import json

    extras = {"region_id": region_id, "workspace_id": workspace_id, "endpoint": endpoint, **extra}
    conn: dict[str, Any] = {"conn_type": "emr_ray", "login": login, "password": password}
    conn["extra"] = {k: v for k, v in extras.items() if v is not None}
    return json.dumps({k: v for k, v in conn.items() if v is not None}, separators=(",", ":"))


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told. All delays are in seconds; 0 makes a transition immediate."""

    access_key_id: str = DEFAULT_ACCESS_KEY_ID
    access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET
    #: When set, the key pair above is an STS key: every request must carry this token.
    security_token: str | None = None
    #: Further accepted key pairs (AccessKeyId -> secret).
    extra_access_keys: Mapping[str, str] = field(default_factory=dict)
    region_id: str = DEFAULT_REGION
    workspace_id: str = DEFAULT_WORKSPACE
    #: Further workspaces that exist (requests for any other workspace get ``Workspace.NotFound``).
    extra_workspaces: Sequence[str] = ()

    cluster_start_delay: float = 2.0
    cluster_stop_delay: float = 1.0
    cluster_delete_delay: float = 0.0
    job_submit_delay: float = 0.5
    job_pending_delay: float = 1.0
    #: Only when execution is off: how long a job "runs" before it finishes.
    job_run_duration: float = 2.0
    job_cancel_delay: float = 0.5
    #: Seconds between SIGTERM and SIGKILL of a cancelled job's process group.
    kill_grace: float = 3.0

    #: Run entrypoints as local subprocesses (False: jobs succeed after ``job_run_duration``).
    execute_jobs: bool = True
    #: With execution off, entrypoints matching this regex fail (exit code 1).
    fail_entrypoint_pattern: str | None = r"EMULATOR_FAIL|\bexit\s+[1-9]"
    #: Clusters (and job clusters) whose name matches this regex go to ``Error`` instead of ``Running``.
    error_name_pattern: str | None = None

    #: JSON file the state is saved to (atomically) and restored from.
    state_file: str | None = None
    #: Where job working directories and logs live (a temporary directory when None).
    data_dir: str | None = None
    faults: Sequence[FaultRule] = ()
    #: Serve ``/__emulator__/faults`` and ``/__emulator__/stats``.
    enable_control: bool = False
    #: Base URL used in GetRayLog access URLs; derived from the request's Host header when None.
    public_endpoint: str | None = None
    #: Seconds a GetRayLog access URL stays valid.
    log_url_ttl: float = 3600.0
    #: Local stand-in for OSS: SubmitRayJob ``workingDir`` ``oss://bucket/key`` is read from
    #: ``<oss_root>/bucket/key`` (a directory, or a zip file that is unpacked). Without it an
    #: ``oss://`` workingDir fails the job, as an object missing from OSS would. A local path as
    #: workingDir always fails the job (the service only reads URLs).
    oss_root: str | None = None

    user_id: str = "1234567890123456"
    creator_name: str = "emulator"
    #: Epoch seconds; injectable for tests. Signature dates/nonces always use the wall clock.
    clock: Callable[[], float] = time.time

    def access_keys(self) -> dict[str, str]:
        keys = dict(self.extra_access_keys)
        keys[self.access_key_id] = self.access_key_secret
        return keys

    def workspaces(self) -> set[str]:
        return {self.workspace_id, *self.extra_workspaces}


class FakeClock:
    """A manually advanced clock for tests: ``EmulatorConfig(clock=FakeClock())``."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
