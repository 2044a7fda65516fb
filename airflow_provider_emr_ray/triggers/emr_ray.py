"""Triggers that wait, in the triggerer's event loop, for a Ray cluster state or a Ray job status.

All polling, serialising, deadline and transient-error handling lives in
:class:`EmrRayBaseTrigger`; the concrete triggers declare only what they poll and which fields
they carry. Every call goes through the hook's ``a*`` coroutines: no synchronous I/O runs in the
event loop.

Events are dictionaries::

    {"status": "success" | "failure" | "timeout" | "error",
     "state": <the resource's last state>, "message": <service or trigger message>,
     "elapsed": <seconds since the wait started>,
     "cluster" | "job": <what ``execute_complete`` needs, no secret but the dashboard token>}

so the resume step needs no further API call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_emr_ray._waiting import (
    CLUSTER_STATES,
    DEFAULT_MAX_TRANSIENT_ERRORS,
    JOB_STATUSES,
    StateLog,
    cluster_info,
    is_transient,
    job_info,
)

DEFAULT_JOB_FAILURE_STATES = ("Failed", "Cancelled", "Timeout")


class EmrRayBaseTrigger(BaseTrigger):
    """Polls one EMR Serverless Ray resource until it reaches a target or failure state.

    Subclasses set :attr:`state_key`, :attr:`event_key`, :attr:`known_states` and implement
    :meth:`_fetch`, :meth:`_resource_id_kwargs` and :meth:`_describe`.

    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region; overrides the connection's.
    :param workspace_id: Workspace; overrides the connection's.
    :param target_states: States that end the wait with ``status="success"``.
    :param failure_states: States that end the wait with ``status="failure"``.
    :param poll_interval: Seconds between two polls.
    :param deadline: Epoch seconds after which the wait ends with ``status="timeout"``
        (None: no limit besides Airflow's own trigger timeout).
    :param max_transient_errors: Throttling / 5xx / connection errors tolerated in a row (on top
        of the hook's retries) before the trigger ends with ``status="error"``.
    :param started_at: Epoch seconds at which the wait started (in the task), so the elapsed
        times in the log count from there.
    """

    state_key: str = "state"
    event_key: str = "resource"
    known_states: Sequence[str] = ()

    def __init__(
        self,
        *,
        emr_ray_conn_id: str = "emr_ray_default",
        region_id: str | None = None,
        workspace_id: str | None = None,
        target_states: Sequence[str],
        failure_states: Sequence[str] = (),
        poll_interval: float = 30.0,
        deadline: float | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        started_at: float | None = None,
    ) -> None:
        super().__init__()
        self.emr_ray_conn_id = emr_ray_conn_id
        self.region_id = region_id
        self.workspace_id = workspace_id
        self.target_states = list(target_states)
        self.failure_states = list(failure_states)
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.max_transient_errors = int(max_transient_errors)
        self.started_at = started_at if started_at is not None else time.time()

    # ---- what subclasses declare -------------------------------------------------------------

    def _resource_id_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _fetch(self, hook: Any) -> dict[str, Any]:
        """The resource as a dict of wire fields (only what the event may carry)."""
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _extra_kwargs(self) -> dict[str, Any]:
        return {}

    async def _on_deadline(self, hook: Any) -> str | None:
        """Called once when the deadline passes; may act and return a note for the event."""
        return None

    # ---- the machinery -----------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._resource_id_kwargs(),
                "emr_ray_conn_id": self.emr_ray_conn_id,
                "region_id": self.region_id,
                "workspace_id": self.workspace_id,
                "target_states": list(self.target_states),
                "failure_states": list(self.failure_states),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "max_transient_errors": self.max_transient_errors,
                "started_at": self.started_at,
                **self._extra_kwargs(),
            },
        )

    def _make_hook(self) -> Any:
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        return EmrRayHook(
            emr_ray_conn_id=self.emr_ray_conn_id, region_id=self.region_id, workspace_id=self.workspace_id
        )

    @staticmethod
    async def _close(hook: Any) -> None:
        aclose = getattr(hook, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # closing must never mask the outcome
                pass

    def _event(self, status: str, state: str | None, message: str | None, resource: dict | None) -> TriggerEvent:
        payload: dict[str, Any] = {
            "status": status,
            "state": state,
            "message": message,
            "elapsed": round(time.time() - self.started_at, 3),
            **self._resource_id_kwargs(),
        }
        payload[self.event_key] = resource or {}
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        state_log = StateLog(self.log, self._describe(), started_at=self.started_at, known=self.known_states)
        targets, failures = set(self.target_states), set(self.failure_states)
        hook = self._make_hook()
        errors_in_a_row = 0
        resource: dict[str, Any] = {}
        try:
            while True:
                try:
                    resource = await self._fetch(hook)
                    errors_in_a_row = 0
                except Exception as exc:
                    if not is_transient(exc):
                        self.log.error("%s: giving up on error: %s", self._describe(), exc)
                        yield self._event("error", resource.get(self.state_key), str(exc), resource)
                        return
                    errors_in_a_row += 1
                    if errors_in_a_row > self.max_transient_errors:
                        self.log.error(
                            "%s: %d transient errors in a row, giving up: %s",
                            self._describe(),
                            errors_in_a_row,
                            exc,
                        )
                        yield self._event("error", resource.get(self.state_key), str(exc), resource)
                        return
                    self.log.warning(
                        "%s: transient error %d/%d, still waiting: %s",
                        self._describe(),
                        errors_in_a_row,
                        self.max_transient_errors,
                        exc,
                    )
                else:
                    state = resource.get(self.state_key)
                    state_log.observe(state, resource.get("message") if state in failures else None)
                    if state in targets or state in failures:
                        status = "success" if state in targets else "failure"
                        yield self._event(status, state, resource.get("message"), resource)
                        return
                if self.deadline is not None and time.time() >= self.deadline:
                    note = await self._on_deadline(hook)
                    message = f"{self._describe()} did not reach {sorted(targets)} before its deadline"
                    if note:
                        message = f"{message}; {note}"
                    self.log.warning(message)
                    yield self._event("timeout", resource.get(self.state_key), message, resource)
                    return
                pause = self.poll_interval
                if self.deadline is not None:
                    pause = max(0.0, min(pause, self.deadline - time.time()))
                await asyncio.sleep(pause)
        finally:
            await self._close(hook)


class EmrRayClusterStateTrigger(EmrRayBaseTrigger):
    """Waits until a Ray cluster reaches one of ``target_states`` (default ``Running``).

    The event's ``cluster`` entry holds ``clusterId``, ``jobUrl``, ``jobUrlInner``,
    ``grpcEndpoint``, ``dashboardUrl``, ``state``, ``message`` and ``name`` (never the submit
    token).

    :param cluster_id: The Ray cluster id.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region; overrides the connection's.
    :param workspace_id: Workspace; overrides the connection's.
    :param target_states: States that end the wait successfully.
    :param failure_states: States that end it as a failure (default ``Error``).
    :param poll_interval: Seconds between two polls.
    :param deadline: Epoch seconds after which the wait ends with ``status="timeout"``.
    :param max_transient_errors: Transient errors tolerated in a row before giving up.
    :param started_at: Epoch seconds at which the wait started (for the elapsed times logged).
    """

    state_key = "state"
    event_key = "cluster"
    known_states = CLUSTER_STATES

    def __init__(
        self,
        *,
        cluster_id: str,
        target_states: Sequence[str] = ("Running",),
        failure_states: Sequence[str] = ("Error",),
        **kwargs: Any,
    ) -> None:
        super().__init__(target_states=target_states, failure_states=failure_states, **kwargs)
        self.cluster_id = cluster_id

    def _resource_id_kwargs(self) -> dict[str, Any]:
        return {"cluster_id": self.cluster_id}

    def _describe(self) -> str:
        return f"Ray cluster {self.cluster_id}"

    async def _fetch(self, hook: Any) -> dict[str, Any]:
        return cluster_info(await hook.aget_ray_cluster(self.cluster_id))


class RayJobStatusTrigger(EmrRayBaseTrigger):
    """Waits until a Ray job reaches one of ``target_states`` (default ``Succeeded``).

    The event's ``job`` entry holds the job's status, message, tags (key→value), duration,
    cuHours, dashboardUrl and log location.

    Killing the task while it is deferred (mark failed / success, clear) makes Airflow ≥ 3.3
    call :meth:`on_kill`, which cancels the job when ``cancel_on_kill`` is set. Older Airflow
    3.x triggerers never call ``on_kill`` on triggers: the job keeps running there. A deadline
    (``max_wait`` or the task's ``execution_timeout``) that passes cancels the job when
    ``cancel_on_timeout`` is set, on every Airflow version, because the trigger enforces it
    itself.

    :param submission_id: The Ray job's submission id.
    :param cancel_on_kill: Cancel the job when the deferred task is killed by a user.
    :param cancel_on_timeout: Cancel the job when the deadline passes.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region; overrides the connection's.
    :param workspace_id: Workspace; overrides the connection's.
    :param target_states: Statuses that end the wait successfully.
    :param failure_states: Statuses that end it as a failure (default Failed, Cancelled, Timeout).
    :param poll_interval: Seconds between two polls.
    :param deadline: Epoch seconds after which the wait ends with ``status="timeout"``.
    :param max_transient_errors: Transient errors tolerated in a row before giving up.
    :param started_at: Epoch seconds at which the wait started (for the elapsed times logged).
    """

    state_key = "status"
    event_key = "job"
    known_states = JOB_STATUSES

    def __init__(
        self,
        *,
        submission_id: str,
        target_states: Sequence[str] = ("Succeeded",),
        failure_states: Sequence[str] = DEFAULT_JOB_FAILURE_STATES,
        cancel_on_kill: bool = False,
        cancel_on_timeout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(target_states=target_states, failure_states=failure_states, **kwargs)
        self.submission_id = submission_id
        self.cancel_on_kill = bool(cancel_on_kill)
        self.cancel_on_timeout = bool(cancel_on_timeout)

    def _resource_id_kwargs(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id}

    def _extra_kwargs(self) -> dict[str, Any]:
        return {"cancel_on_kill": self.cancel_on_kill, "cancel_on_timeout": self.cancel_on_timeout}

    def _describe(self) -> str:
        return f"Ray job {self.submission_id}"

    async def _fetch(self, hook: Any) -> dict[str, Any]:
        return job_info(await hook.aget_ray_job(self.submission_id))

    async def _cancel(self, hook: Any, why: str) -> str:
        try:
            await hook.acancel_ray_job(self.submission_id)
        except Exception as exc:
            self.log.warning("Could not cancel Ray job %s (%s): %s", self.submission_id, why, exc)
            return f"cancelling the job failed: {exc}"
        self.log.info("Cancelled Ray job %s (%s)", self.submission_id, why)
        return "the job was cancelled"

    async def _on_deadline(self, hook: Any) -> str | None:
        if self.cancel_on_timeout:
            return await self._cancel(hook, "deadline passed")
        return None

    async def on_kill(self) -> None:
        """Cancel the job when a user kills the deferred task (Airflow ≥ 3.3 calls this)."""
        if not self.cancel_on_kill:
            return
        hook = self._make_hook()
        try:
            await self._cancel(hook, "task killed while deferred")
        finally:
            await self._close(hook)
