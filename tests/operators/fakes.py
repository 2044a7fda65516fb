"""Test doubles shared by the unit tests of operators, sensors, triggers and utils.

``ScriptedHook`` stands in for EmrRayHook: integration tests use the real hook against the
emulator; this one only lets a test script exact answers (a sequence of states, a transient
error at step N) without timing. ``FakeTI`` / ``ctx`` stand in for the task instance and the
context; ``with_hook`` gives an operator, sensor or trigger a scripted hook. The ``ray_*``
methods stand in for Ray's Jobs API at a cluster's ``jobUrl`` (a store of jobs by submission
id that refuses a duplicate id, a script of submit outcomes and of polled statuses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from airflow_provider_emr_ray.models import RayCluster, RayJob


class ScriptedHook:
    """Answers get/aget calls from scripted sequences; records every mutating call."""

    def __init__(self, *, clusters: Iterable[Any] = (), jobs: Iterable[Any] = ()) -> None:
        self.cluster_answers = list(clusters)
        self.job_answers = list(jobs)
        self.calls: list[tuple[str, tuple, dict]] = []
        self.log_reads: list[tuple[str, tuple, dict]] = []
        self.listed_clusters: list[dict] = []
        self.listed_jobs: list[dict] = []
        self.job_details: dict[str, dict] = {}
        self.create_result: Any = "ray-new"
        self.submit_result: Any = "sub-new"

    def _next(self, answers: list, model: type) -> Any:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return model.model_validate(answer)

    # sync
    def get_ray_cluster(self, cluster_id: str) -> RayCluster:
        self.calls.append(("get_ray_cluster", (cluster_id,), {}))
        return self._next(self.cluster_answers, RayCluster)

    def get_ray_job(self, submission_id: str) -> RayJob:
        self.calls.append(("get_ray_job", (submission_id,), {}))
        if submission_id in self.job_details:
            return RayJob.model_validate(self.job_details[submission_id])
        return self._next(self.job_answers, RayJob)

    def list_ray_clusters(self, **kw: Any) -> list[RayCluster]:
        self.calls.append(("list_ray_clusters", (), kw))
        return [RayCluster.model_validate(c) for c in self.listed_clusters]

    def list_ray_jobs(self, **kw: Any) -> list[RayJob]:
        self.calls.append(("list_ray_jobs", (), kw))
        return [RayJob.model_validate(j) for j in self.listed_jobs if kw.get("name") in (None, j.get("name"))]

    def _result(self, value: Any) -> Any:
        if isinstance(value, BaseException):
            raise value
        return value

    def create_ray_cluster(self, **kw: Any) -> str:
        self.calls.append(("create_ray_cluster", (), kw))
        return self._result(self.create_result)

    def submit_ray_job(self, **kw: Any) -> str:
        self.calls.append(("submit_ray_job", (), kw))
        return self._result(self.submit_result)

    def start_ray_cluster(self, cluster_id: str, **kw: Any) -> None:
        self.calls.append(("start_ray_cluster", (cluster_id,), kw))

    def stop_ray_cluster(self, cluster_id: str, **kw: Any) -> None:
        self.calls.append(("stop_ray_cluster", (cluster_id,), kw))

    def delete_ray_cluster(self, cluster_id: str) -> None:
        self.calls.append(("delete_ray_cluster", (cluster_id,), {}))

    def cancel_ray_job(self, submission_id: str) -> bool:
        self.calls.append(("cancel_ray_job", (submission_id,), {}))
        return True

    # async
    async def aget_ray_cluster(self, cluster_id: str) -> RayCluster:
        return self.get_ray_cluster(cluster_id)

    async def aget_ray_job(self, submission_id: str) -> RayJob:
        return self.get_ray_job(submission_id)

    async def acancel_ray_job(self, submission_id: str) -> bool:
        return self.cancel_ray_job(submission_id)

    # Ray's Jobs API (submission_api="ray"): a store of jobs by submission id
    def _ray_store(self) -> dict[str, dict]:
        return self.__dict__.setdefault("ray_jobs", {})

    def ray_script(self) -> list[Any]:
        """What the next ``ray_submit_job`` calls do, in order: ``None`` (accepted), an exception
        (raised, nothing stored) or ``"lost"`` (stored, then the answer is lost: outcome unknown)."""
        return self.__dict__.setdefault("ray_submit_script", [])

    def ray_statuses(self) -> list[str]:
        """Statuses the next ``ray_get_job`` calls move the polled job to (the last one stays)."""
        return self.__dict__.setdefault("ray_status_script", [])

    def ray_submit_job(self, cluster_id: str, *, entrypoint: str, submission_id: str | None = None, **kw: Any) -> str:
        from airflow_provider_emr_ray.exceptions import EmrRayJobAlreadyExistsError, EmrRayOutcomeUnknownError

        self.calls.append(("ray_submit_job", (cluster_id,), {"entrypoint": entrypoint, "submission_id": submission_id, **kw}))
        store = self._ray_store()
        if submission_id in store:
            raise EmrRayJobAlreadyExistsError(
                f"Job with submission_id {submission_id} already exists.", submission_id=submission_id, status=400
            )
        script = self.ray_script()
        step = script.pop(0) if script else None
        if isinstance(step, BaseException):
            raise step
        store[submission_id] = {
            "submission_id": submission_id,
            "job_id": f"0{len(store) + 1}000000",
            "status": "PENDING",
            "entrypoint": entrypoint,
            "metadata": dict(kw.get("metadata") or {}),
            "runtime_env": kw.get("runtime_env"),
            "start_time": 1_700_000_000_000,
        }
        if step == "lost":
            raise EmrRayOutcomeUnknownError("read timeout after sending", action="RaySubmitJob")
        return submission_id

    def ray_get_job(self, cluster_id: str, submission_id: str, **kw: Any) -> Any:
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError
        from airflow_provider_emr_ray.models import RayJobDetails

        self.calls.append(("ray_get_job", (cluster_id, submission_id), kw))
        store = self._ray_store()
        if submission_id not in store:
            raise EmrRayNotFoundError(f"Job {submission_id} does not exist", status=404)
        statuses = self.ray_statuses()
        if statuses:
            answer = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            if isinstance(answer, BaseException):
                raise answer
            store[submission_id]["status"] = answer
            if answer in ("SUCCEEDED", "FAILED", "STOPPED"):
                store[submission_id]["end_time"] = 1_700_000_042_000
        return RayJobDetails.model_validate(store[submission_id])

    def ray_stop_job(self, cluster_id: str, submission_id: str, **kw: Any) -> bool:
        self.calls.append(("ray_stop_job", (cluster_id, submission_id), kw))
        job = self._ray_store().get(submission_id)
        if job is not None:
            job["status"] = "STOPPED"
        return True

    def ray_get_job_logs(self, cluster_id: str, submission_id: str, **kw: Any) -> str:
        self.calls.append(("ray_get_job_logs", (cluster_id, submission_id), kw))
        return self.__dict__.get("ray_logs", "")

    def ray_open_log_tail(self, cluster_id: str, submission_id: str, **kw: Any) -> Any:
        """No websocket here: the log is read with ``ray_get_job_logs`` (``ray_logs``)."""
        from airflow_provider_emr_ray.client.ray_log_tail import LogTailUnavailable

        self.log_reads.append(("ray_open_log_tail", (cluster_id, submission_id), kw))
        raise LogTailUnavailable("no websocket in the scripted hook")

    # SubmitRayJob logs: none unless a test sets ``log_objects`` (reads are in ``log_reads``)
    def list_ray_logs(self, instance_id: str, **kw: Any) -> dict[str, Any]:
        self.log_reads.append(("list_ray_logs", (instance_id,), kw))
        return {"objectList": list(self.__dict__.get("log_objects", []))}

    def get_ray_log(self, instance_id: str, **kw: Any) -> str:
        self.log_reads.append(("get_ray_log", (instance_id,), kw))
        return self.__dict__.get("log_url", "")

    async def aray_get_job(self, cluster_id: str, submission_id: str, **kw: Any) -> Any:
        return self.ray_get_job(cluster_id, submission_id, **kw)

    async def aray_stop_job(self, cluster_id: str, submission_id: str, **kw: Any) -> bool:
        return self.ray_stop_job(cluster_id, submission_id, **kw)

    async def aray_get_job_logs(self, cluster_id: str, submission_id: str, **kw: Any) -> str:
        return self.ray_get_job_logs(cluster_id, submission_id, **kw)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeTI:
    """The parts of a task instance the operators and sensors use."""

    def __init__(self, try_number: int = 1, run_id: str = "manual__2026-01-01T00:00:00+00:00", map_index: int = -1) -> None:
        self.dag_id = "dag"
        self.run_id = run_id
        self.task_id = "task"
        self.map_index = map_index
        self.try_number = try_number
        self.start_date = datetime.now(timezone.utc)
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get(key)


def ctx(ti: FakeTI | None = None) -> dict[str, Any]:
    return {"ti": ti or FakeTI()}


def with_hook(obj: Any, hook: ScriptedHook) -> Any:
    """``obj`` (operator, sensor or trigger) with ``hook`` as its cached ``hook``."""
    obj.__dict__["hook"] = hook
    return obj


def signal_polls(hook: Any) -> asyncio.Event:
    """An event set once ``hook`` (scripted or real) answered a job poll (``aget_ray_job``):
    the trigger is then really waiting. Call it inside the event loop that polls."""
    polled = asyncio.Event()
    original = hook.aget_ray_job

    async def aget_ray_job(submission_id: str) -> Any:
        try:
            return await original(submission_id)
        finally:
            polled.set()

    hook.aget_ray_job = aget_ray_job
    return polled


class RecordedLog:
    """A task logger keeping the rendered messages (``lines``), to assert what a task logged."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, msg: str, *args: Any, **_: Any) -> None:
        self.lines.append(msg % args if args else msg)

    info = warning = error = debug = exception = _add

    def ray(self) -> list[str]:
        """The job's log lines the task copied (``[ray]`` lines, prefix removed)."""
        return [m.removeprefix("[ray] ") for m in self.lines if m.startswith("[ray] ")]


def record_log(task: Any) -> RecordedLog:
    """Make ``task`` (operator or sensor) log into a :class:`RecordedLog`. Airflow caches a
    task's logger in ``_cached_logger`` (3.3) or ``_log`` (3.0-3.2): both are set."""
    rec = RecordedLog()
    task._log = rec
    task._cached_logger = rec
    return rec
