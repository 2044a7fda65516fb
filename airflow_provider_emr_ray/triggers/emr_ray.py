"""Triggers that wait, in the triggerer's event loop, for a Ray cluster state or a Ray job status.

A trigger continues a wait its task started: its loop drives the poll step of
:class:`~airflow_provider_emr_ray.utils.waiting.Wait` (the one the operators' synchronous wait
and the sensors' poke use) with the hook's ``a*`` coroutines, so no synchronous I/O runs in the
event loop. Its one event is built by
:func:`~airflow_provider_emr_ray.utils.resources.wait_event`::

    {"outcome": "success" | "failure" | "timeout" | "error",
     "state": <the resource's last state or status>, "message": <service or wait message>,
     "elapsed": <seconds since the wait started>,
     "cluster_id" | "submission_id": <the id>,
     "cluster" | "job": <what ``execute_complete`` needs, no secret>}

so the resume step needs no further API call.

With ``shared_poll`` (the default), the triggers of one triggerer that wait on the same source
(the SubmitRayJob jobs or the clusters of a connection's workspace, the Ray Jobs API jobs of a
cluster) share one watcher of :mod:`~airflow_provider_emr_ray.triggers.watchers`: one list call
per round answers them all, a resource the list did not show is polled on its own, and a
target or failure state is confirmed by one Get of that resource, which builds the event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.states import WaitOutcome, ray_job_states
from airflow_provider_emr_ray.utils.clock import now
from airflow_provider_emr_ray.utils.connection import DEFAULT_CONN_ID, ConnectionMixin
from airflow_provider_emr_ray.utils.resources import CLUSTER, JOB, ResourceKind
from airflow_provider_emr_ray.utils.waiting import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    DEFAULT_POLL_INTERVAL,
    SUBMISSION_APIS,
    Wait,
    ray_job_kind,
    ray_kwargs,
)

__all__ = ["EmrRayBaseTrigger", "EmrRayClusterStateTrigger", "RayJobStatusTrigger"]

#: Seconds given to ``on_kill`` (Airflow 3.3's ``[triggerer] on_kill_timeout`` default).
_ON_KILL_TIMEOUT = 30.0


class EmrRayBaseTrigger(ConnectionMixin, BaseTrigger):
    """Polls one EMR Serverless Ray resource (:attr:`kind`) until it reaches a target or failure state.

    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param target_states: States that end the wait with ``outcome="success"`` (default: the
        kind's, see the subclasses).
    :param failure_states: States that end the wait with ``outcome="failure"`` (default: the kind's).
    :param poll_interval: Seconds between two polls.
    :param deadline: Epoch seconds after which the wait ends with ``outcome="timeout"``
        (None: no limit besides Airflow's own trigger timeout).
    :param max_transient_errors: Throttling / 5xx / connection errors tolerated in a row (on top
        of the hook's retries) before the trigger ends with ``outcome="error"``.
    :param started_at: Epoch seconds at which the wait started (in the task), so the elapsed
        times in the log count from there.
    :param shared_poll: Share one list call per round with the other triggers of this
        triggerer that wait on the same source (see
        :mod:`~airflow_provider_emr_ray.triggers.watchers`); False: poll this resource alone.
    """

    kind: ResourceKind

    def __init__(
        self,
        *,
        emr_ray_conn_id: str = DEFAULT_CONN_ID,
        region_id: str | None = None,
        workspace_id: str | None = None,
        target_states: Sequence[str] | None = None,
        failure_states: Sequence[str] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        started_at: float | None = None,
        shared_poll: bool = True,
    ) -> None:
        super().__init__()
        self._set_connection(emr_ray_conn_id, region_id, workspace_id)
        self.target_states = list(self.kind.targets if target_states is None else target_states)
        self.failure_states = list(self.kind.failures if failure_states is None else failure_states)
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.max_transient_errors = int(max_transient_errors)
        self.started_at = started_at if started_at is not None else now()
        self.shared_poll = bool(shared_poll)

    @property
    def resource_id(self) -> str:
        return getattr(self, self.kind.id_key)

    def _new_wait(self) -> Wait:
        return Wait.of(self, poll_interval=self.poll_interval, deadline=self.deadline, started_at=self.started_at)

    def _extra_kwargs(self) -> dict[str, Any]:
        """Arguments of a subclass beyond the wait's."""
        return {}

    # ---- shared polling ----------------------------------------------------------------------

    def _source(self) -> tuple[tuple[Any, ...], Any, str]:
        """``(key, lister, label)`` of the watcher this trigger shares (see
        :func:`~airflow_provider_emr_ray.triggers.watchers.join`)."""
        raise NotImplementedError

    def _since(self, wait: Wait) -> tuple[bool, int | None]:
        """``(known, since)``: whether the trigger may join its watcher now, and the epoch
        milliseconds its resource was submitted at or after (a job's; None: not windowed)."""
        return True, None

    def _connection_key(self) -> tuple[Any, ...]:
        return (self.emr_ray_conn_id, self.region_id, self.workspace_id)

    async def _on_deadline(self) -> str | None:
        """Called once when the deadline passes; may act and return a note for the event."""
        return None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._new_wait().trigger_kwargs(),
                **self.connection_kwargs(),
                **({} if self.shared_poll else {"shared_poll": False}),
                **self._extra_kwargs(),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = self._new_wait()
        try:
            outcome = await (self._wait_shared(wait) if self.shared_poll else self._wait_alone(wait))
        except asyncio.CancelledError:
            # Always re-raised: Airflow >= 3.3 calls on_kill only when the cancellation propagates.
            if self._acts_on_kill() and not version_compat.triggerer_calls_on_kill():
                await self._when_cancelled()
            raise
        note = await self._on_deadline() if outcome is WaitOutcome.timeout else None
        yield TriggerEvent(wait.event(outcome, note))

    async def _wait_shared(self, wait: Wait) -> WaitOutcome:
        """The wait, served by the watcher of this trigger's source (one Get of its own first
        when the watcher cannot window the list for it yet, e.g. a job's unknown submit time)."""
        from airflow_provider_emr_ray.triggers import watchers

        known, since = self._since(wait)
        if not known:
            outcome = await wait.apoll(self.hook)
            if outcome is not None:
                return outcome
            known, since = self._since(wait)
            if not known:  # still no submit time: this one polls alone
                return await self._wait_alone(wait, first=False)
        key, lister, label = self._source()
        sub = watchers.join(
            key, lister, label, resource_id=self.resource_id, since=since, interval=self.poll_interval, hook=self.hook
        )
        ends = set(wait.targets) | set(wait.failures)
        try:
            while True:
                timeout = None if wait.deadline is None else max(0.0, wait.deadline - now())
                try:
                    state = await asyncio.wait_for(sub.next(), timeout)
                except asyncio.TimeoutError:  # the deadline: one last look of its own
                    state = None
                if sub.watcher.refused is not None:
                    self.log.warning(
                        "%s %s: listing %s failed (%s); polling it on its own",
                        self.kind.label, self.resource_id, label, sub.watcher.refused,
                    )  # fmt: skip
                    break
                if state is None or state in ends:
                    # not shown, failed round, no state, or an end seen in a list: its own Get decides
                    outcome = await wait.apoll(self.hook)
                else:  # still waiting: the fields of its last Get, with the state the list gave
                    outcome = wait.step({**wait.resource, self.kind.state_key: state})
                if outcome is not None:
                    return outcome
        finally:
            sub.leave()
        return await self._wait_alone(wait)

    async def _wait_alone(self, wait: Wait, first: bool = True) -> WaitOutcome:
        """The wait, polling this resource alone (``first=False``: it was just polled)."""
        if not first:
            await asyncio.sleep(wait.pause())
        while (outcome := await wait.apoll(self.hook)) is None:
            await asyncio.sleep(wait.pause())
        return outcome

    async def _when_cancelled(self) -> None:
        """Airflow < 3.3: the triggerer cancelled :meth:`run` and will not call ``on_kill``.
        A cancellation is also what a triggerer restart or a move to another triggerer looks
        like, so the task's own state decides: only a task that left the deferred state (a user
        marked it failed/success or cleared it, or Airflow's trigger timeout failed it) gets
        :meth:`on_kill`, bounded as Airflow 3.3 bounds it (``[triggerer] on_kill_timeout``)."""
        try:
            state = await asyncio.wait_for(
                version_compat.atask_instance_state(getattr(self, "task_instance", None)), _ON_KILL_TIMEOUT
            )
        except Exception as exc:  # the triggerer may be shutting down: leave the job alone
            self.log.warning("Could not read the task's state after the trigger was cancelled: %s", exc)
            return
        if state is None or state == "deferred":
            return
        self.log.info("The task left the deferred state (now %s) while this trigger waited", state)
        try:
            await asyncio.wait_for(self.on_kill(), _ON_KILL_TIMEOUT)
        except Exception as exc:
            self.log.warning("on_kill after the task left the deferred state failed: %s", exc)

    def _acts_on_kill(self) -> bool:
        """Whether :meth:`on_kill` does anything (so a cancelled trigger need not ask for its task's state)."""
        return False

    async def on_kill(self) -> None:
        """The task was killed while deferred (a user marked it failed/success or cleared it)."""


class EmrRayClusterStateTrigger(EmrRayBaseTrigger):
    """Waits until a Ray cluster reaches one of ``target_states`` (default ``Running``).

    The event's ``cluster`` entry holds ``clusterId``, ``jobUrl``, ``jobUrlInner``,
    ``grpcEndpoint``, ``dashboardUrl`` (without its token), ``state``, ``message`` and ``name``
    (never the submit token).

    :param cluster_id: The Ray cluster id.
    :param target_states: States that end the wait successfully.
    :param failure_states: States that end it as a failure (default ``Error``).

    Further arguments: see :class:`EmrRayBaseTrigger`.
    """

    kind = CLUSTER

    def __init__(self, *, cluster_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id

    def _source(self) -> tuple[tuple[Any, ...], Any, str]:
        from airflow_provider_emr_ray.triggers import watchers

        return ("clusters", *self._connection_key()), watchers.list_clusters, "the Ray clusters of the workspace"


class RayJobStatusTrigger(EmrRayBaseTrigger):
    """Waits until a Ray job reaches one of ``target_states`` (default ``Succeeded``).

    The event's ``job`` entry holds the job's status, message, tags (key→value), duration,
    cuHours, dashboardUrl (without its token) and log location.

    Killing the task while it is deferred (mark failed / success, clear) makes Airflow ≥ 3.3
    call :meth:`on_kill`, which cancels the job when ``cancel_on_kill`` is set. Older Airflow
    3.x triggerers only cancel the trigger: it then asks Airflow for its task's state and calls
    :meth:`on_kill` itself when the task is no longer deferred (a triggerer restart leaves the
    task deferred, and the job running for the next triggerer). A deadline
    (``max_wait`` or the task's ``execution_timeout``) that passes cancels the job when
    ``cancel_on_timeout`` is set, on every Airflow version, because the trigger enforces it
    itself.

    A job submitted through Ray's own Jobs API at the cluster's ``jobUrl``
    (``submission_api="ray"``) is polled there (``cluster_id`` names the cluster; the hook reads
    the endpoint and its token from GetRayCluster, so no token is in these arguments, which
    Airflow stores in its database) and is stopped (``ray_stop_job``) where a SubmitRayJob job
    is cancelled. Its statuses read as the provider's (``SUCCEEDED`` -> ``Succeeded``,
    ``STOPPED`` -> ``Cancelled``, ...); ``target_states`` may use either.

    :param submission_id: The Ray job's submission id.
    :param submission_api: ``"openapi"`` (default: a SubmitRayJob job) or ``"ray"`` (a job of
        Ray's Jobs API on ``cluster_id``).
    :param cluster_id: The cluster of a ``submission_api="ray"`` job.
    :param internal: ``submission_api="ray"``: poll at ``jobUrlInner`` (True) or ``jobUrl``
        (False); None: the connection's choice.
    :param cancel_on_kill: Cancel the job when the deferred task is killed by a user.
    :param cancel_on_timeout: Cancel the job when the deadline passes.
    :param submit_time: Epoch milliseconds at or before which the job was submitted (a lower
        bound: the submit operator passes the moment it sent the submission, less a margin for
        clock skew), so that the shared ListRayJob window includes it from the first round;
        None: one GetRayJob of its own first tells it.
    :param target_states: Statuses that end the wait successfully.
    :param failure_states: Statuses that end it as a failure (default Failed, Cancelled, Timeout).

    Further arguments: see :class:`EmrRayBaseTrigger`.
    """

    kind = JOB

    def __init__(
        self,
        *,
        submission_id: str,
        cancel_on_kill: bool = False,
        cancel_on_timeout: bool = False,
        submission_api: str = "openapi",
        cluster_id: str | None = None,
        internal: bool | None = None,
        submit_time: int | None = None,
        **kwargs: Any,
    ) -> None:
        if submission_api not in SUBMISSION_APIS:
            raise ValueError(f"submission_api: must be one of {', '.join(SUBMISSION_APIS)}, got {submission_api!r}")
        if submission_api == "ray":
            if not cluster_id:
                raise ValueError("cluster_id: required with submission_api='ray'")
            self.kind = ray_job_kind(cluster_id, internal)
            for key in ("target_states", "failure_states"):
                if kwargs.get(key) is not None:
                    kwargs[key] = list(ray_job_states(kwargs[key]))
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.cancel_on_kill = bool(cancel_on_kill)
        self.cancel_on_timeout = bool(cancel_on_timeout)
        self.submission_api = submission_api
        self.cluster_id = cluster_id
        self.internal = internal
        self.submit_time = None if submit_time is None else int(submit_time)

    def _extra_kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"cancel_on_kill": self.cancel_on_kill, "cancel_on_timeout": self.cancel_on_timeout}
        if self.submission_api == "ray":  # ids and a bool only: never the endpoint's token
            extra.update(submission_api="ray", cluster_id=self.cluster_id, internal=self.internal)
        if self.submit_time is not None:
            extra["submit_time"] = self.submit_time
        return extra

    def _source(self) -> tuple[tuple[Any, ...], Any, str]:
        from airflow_provider_emr_ray.triggers import watchers

        if self.submission_api == "ray":
            key = ("ray-jobs", *self._connection_key(), self.cluster_id, self.internal)
            return key, watchers.ray_jobs_lister(self.cluster_id, self.internal), f"the Ray jobs of cluster {self.cluster_id}"
        return ("jobs", *self._connection_key()), watchers.list_jobs, "the Ray jobs of the workspace"

    def _since(self, wait: Wait) -> tuple[bool, int | None]:
        if self.submission_api == "ray":  # one cluster's list: no window
            return True, None
        seen = wait.resource.get("submitTime")
        if isinstance(seen, int) and not isinstance(seen, bool):
            return True, seen
        return self.submit_time is not None, self.submit_time

    async def _cancel(self, why: str) -> str:
        verb = "stop" if self.submission_api == "ray" else "cancel"
        try:
            if self.submission_api == "ray":
                await self.hook.aray_stop_job(self.cluster_id, self.submission_id, **ray_kwargs(self.internal))
            else:
                await self.hook.acancel_ray_job(self.submission_id)
        except Exception as exc:
            self.log.warning("Could not %s Ray job %s (%s): %s", verb, self.submission_id, why, exc)
            return f"{verb}ping the job failed: {exc}" if verb == "stop" else f"cancelling the job failed: {exc}"
        self.log.info("%s Ray job %s (%s)", "Stopped" if verb == "stop" else "Cancelled", self.submission_id, why)
        return "the job was stopped" if verb == "stop" else "the job was cancelled"

    async def _on_deadline(self) -> str | None:
        if self.cancel_on_timeout:
            return await self._cancel("deadline passed")
        return None

    def _acts_on_kill(self) -> bool:
        return self.cancel_on_kill

    async def on_kill(self) -> None:
        """Cancel the job when a user kills the deferred task (the triggerer calls this on
        Airflow ≥ 3.3, :meth:`run`'s cancellation path on older lines)."""
        if self.cancel_on_kill:
            await self._cancel("task killed while deferred")
