"""Waiting for a Ray cluster state or a Ray job status: the one poll step.

:class:`Wait` digests one poll (a fetched resource or the error fetching it): it logs a line per
state change with the time elapsed, counts transient errors in a row, and decides whether the
wait ended (:class:`~airflow_provider_emr_ray.states.WaitOutcome`) or goes on. The three ways
of waiting drive it:

* an operator with ``deferrable=False``: :meth:`Wait.run`, a synchronous loop;
* a trigger: :meth:`Wait.apoll` in its async ``run`` loop;
* a sensor: :meth:`Wait.poll` once per ``poke``;
* the hook's ``wait_for_cluster`` / ``wait_for_job``: :meth:`Wait.run`, and their async twins
  :meth:`Wait.arun` (the same loop over :meth:`Wait.apoll`).

A job is either one of the EMR Serverless Spark API (SubmitRayJob, the kind
:data:`~airflow_provider_emr_ray.utils.resources.JOB`) or one submitted through Ray's own Jobs
API at the cluster's ``jobUrl`` (:func:`ray_job_kind`, one per cluster). Both read as the same
event and XCom shapes: a Ray Jobs status (``SUCCEEDED``, ``STOPPED``, ...) is mapped to the
provider's job status (``Succeeded``, ``Cancelled``, ...;
:func:`~airflow_provider_emr_ray.states.ray_to_job_status`), so target
and failure states, sensors and triggers are the same on both paths; the Ray status itself is
kept as ``rayStatus``.

The operators' waiting arguments are in :mod:`~airflow_provider_emr_ray.utils.waiting_args`
(loaded at DAG parse); this module is loaded with the first wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_provider_emr_ray.states import WaitOutcome, ray_to_job_status
from airflow_provider_emr_ray.utils.clock import format_duration, now
from airflow_provider_emr_ray.utils.resources import JOB, ResourceKind, wait_event
from airflow_provider_emr_ray.utils.waiting_args import DEFAULT_MAX_TRANSIENT_ERRORS, DEFAULT_POLL_INTERVAL


def is_transient(exc: BaseException) -> bool:
    """Whether polling again may succeed: throttling, a 5xx answer, a connection failure."""
    from airflow_provider_emr_ray.exceptions import (
        EmrRayConnectionError,
        EmrRayServerError,
        EmrRayThrottlingError,
    )

    return isinstance(exc, (EmrRayThrottlingError, EmrRayServerError, EmrRayConnectionError))


def _fatal(error: BaseException | None) -> bool:
    """Whether no retry can fix ``error`` (an auth or validation error: ``AirflowFailException``)."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    return isinstance(error, AirflowFailException)


# ---- Ray Jobs API jobs -----------------------------------------------------------------------

#: Which API submitted a job: ``openapi`` (SubmitRayJob) or ``ray`` (Ray's Jobs API at ``jobUrl``).
SUBMISSION_APIS = ("openapi", "ray")


def ray_job_info(job: Any, cluster_id: str | None = None) -> dict[str, Any]:
    """A job of Ray's Jobs API (a ``RayJobDetails``) in the shape of
    :func:`~airflow_provider_emr_ray.utils.resources.job_info`: ``status`` is the provider's
    status (``rayStatus`` Ray's own), ``tags`` the job's string metadata (the Airflow tags,
    ``workflowId`` included), ``duration`` in seconds from Ray's start/end times (ms). No secret
    (the Jobs API's answers carry none; the token is the hook's)."""
    from airflow_provider_emr_ray.tags import AIRFLOW_TRY_NUMBER_KEY

    raw = getattr(job, "status", None)
    raw = None if raw is None else str(raw.value if hasattr(raw, "value") else raw)
    metadata = dict(getattr(job, "metadata", None) or {})
    start, end = getattr(job, "start_time", None), getattr(job, "end_time", None)
    duration = round((end - start) / 1000.0, 3) if start and end and end >= start else None
    return {
        "submissionId": getattr(job, "submission_id", None),
        "submissionApi": "ray",  # which API to read it back from (a resume may get no kwargs: dag.test())
        "jobId": getattr(job, "job_id", None),
        "clusterId": cluster_id,
        "status": ray_to_job_status(raw),
        "rayStatus": raw,
        "message": getattr(job, "message", None),
        "errorType": getattr(job, "error_type", None),
        "driverExitCode": getattr(job, "driver_exit_code", None),
        "entrypoint": getattr(job, "entrypoint", None),
        "startTime": start,
        "endTime": end,
        "duration": duration,
        "cuHours": None,
        "dashboardUrl": None,
        "metadata": metadata,
        "tags": {str(k): str(v) for k, v in metadata.items() if isinstance(v, str) and k != AIRFLOW_TRY_NUMBER_KEY},
    }


def ray_kwargs(internal: bool | None) -> dict[str, Any]:
    """The ``internal`` argument of the hook's ``ray_*`` calls, only when chosen (None: the
    connection's default endpoint)."""
    return {} if internal is None else {"internal": bool(internal)}


def ray_job_kind(cluster_id: str, internal: bool | None = None) -> ResourceKind:
    """The kind of a job submitted through Ray's Jobs API on cluster ``cluster_id`` (at its
    ``jobUrlInner`` when ``internal``, its ``jobUrl`` when False): polled with
    ``hook.ray_get_job`` / ``aray_get_job``; same id key, event key, states and defaults as
    :data:`~airflow_provider_emr_ray.utils.resources.JOB`."""
    kw = ray_kwargs(internal)
    return ResourceKind(
        "Ray job", "status", JOB.id_key, JOB.event_key, JOB.known, JOB.targets, JOB.failures,
        lambda hook, submission_id: hook.ray_get_job(cluster_id, submission_id, **kw),
        lambda hook, submission_id: hook.aray_get_job(cluster_id, submission_id, **kw),
        lambda job: ray_job_info(job, cluster_id),
    )  # fmt: skip


class Wait:
    """One wait for a resource (``kind``, ``resource_id``) to reach ``targets``.

    :param kind: :data:`~airflow_provider_emr_ray.utils.resources.CLUSTER` or
        :data:`~airflow_provider_emr_ray.utils.resources.JOB`.
    :param resource_id: The cluster id or submission id.
    :param log: Where state changes and errors are logged.
    :param targets: States that end the wait with ``success``.
    :param failures: States that end it with ``failure``.
    :param poll_interval: Seconds between two polls.
    :param deadline: Epoch seconds after which it ends with ``timeout`` (None: no deadline).
    :param started_at: Epoch seconds at which it started (elapsed times count from there).
    :param max_transient_errors: Transient errors tolerated in a row; one more ends it with
        ``error``, as does any other error.
    """

    def __init__(
        self,
        kind: ResourceKind,
        resource_id: str,
        *,
        log: Any,
        targets: Iterable[str],
        failures: Iterable[str] = (),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        started_at: float | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    ) -> None:
        self.kind = kind
        self.resource_id = resource_id
        self.log = log
        self.targets = tuple(targets)
        self.failures = tuple(failures)
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.started_at = started_at if started_at is not None else now()
        self.max_transient_errors = int(max_transient_errors)
        self.what = f"{kind.label} {resource_id}"
        #: The last resource seen (``kind.info`` dict; ``model``: the hook's answer it was read
        #: from), its state, and the error that ended the wait.
        self.resource: dict[str, Any] = {}
        self.model: Any = None
        self.state: str | None = None
        self.error: BaseException | None = None
        self.errors_in_a_row = 0
        self._seen = False

    @classmethod
    def of(cls, owner: Any, *, poll_interval: float, deadline: float | None, started_at: float | None = None) -> Wait:
        """The wait of a sensor or trigger ``owner``: its ``kind``, ``resource_id``, ``log``,
        ``target_states``, ``failure_states`` and ``max_transient_errors``."""
        return cls(
            owner.kind,
            owner.resource_id,
            log=owner.log,
            targets=owner.target_states,
            failures=owner.failure_states,
            poll_interval=poll_interval,
            deadline=deadline,
            started_at=started_at,
            max_transient_errors=owner.max_transient_errors,
        )

    # ---- the poll step -----------------------------------------------------------------------

    def step(self, resource: Mapping[str, Any] | None = None, error: BaseException | None = None) -> WaitOutcome | None:
        """Digest one poll: the resource fetched, or the error fetching it. Returns how the
        wait ended, or None to poll again."""
        if error is not None:
            if not is_transient(error) or self.errors_in_a_row >= self.max_transient_errors:
                self.error = error
                self.log.error("%s: giving up on error: %s", self.what, error)
                return WaitOutcome.error
            self.errors_in_a_row += 1
            self.log.warning(
                "%s: transient error %d/%d, still waiting: %s",
                self.what,
                self.errors_in_a_row,
                self.max_transient_errors,
                error,
            )
        else:
            self.errors_in_a_row = 0
            self.resource = dict(resource or {})
            self._observe(self.resource.get(self.kind.state_key))
            if self.state in self.targets:
                return WaitOutcome.success
            if self.state in self.failures:
                return WaitOutcome.failure
        if self.deadline is not None and now() >= self.deadline:
            self.log.warning("%s: %s", self.what, self.timeout_message())
            return WaitOutcome.timeout
        return None

    def _observe(self, state: str | None) -> None:
        """Log ``state`` if it differs from the last one seen."""
        if self._seen and state == self.state:
            return
        previous, self.state, first = self.state, state, not self._seen
        self._seen = True
        note = "" if state in self.kind.known else " (state not known to this provider; still waiting)"
        message = self.resource.get("message") if state in self.failures else None
        detail = f": {message}" if message else ""
        change = f"is {state}" if first else f"changed {previous} -> {state}"
        self.log.info("%s %s after %s%s%s", self.what, change, format_duration(self.elapsed()), note, detail)

    def poll(self, hook: Any) -> WaitOutcome | None:
        """Fetch the resource once with the sync hook and digest it (:meth:`step`)."""
        try:
            model = self.kind.fetch(hook, self.resource_id)
            resource = self.kind.info(model)
        except Exception as exc:
            return self.step(error=exc)
        self.model = model
        return self.step(resource)

    async def apoll(self, hook: Any) -> WaitOutcome | None:
        """Fetch the resource once with the hook's coroutines and digest it (:meth:`step`)."""
        try:
            model = await self.kind.afetch(hook, self.resource_id)
            resource = self.kind.info(model)
        except Exception as exc:
            return self.step(error=exc)
        self.model = model
        return self.step(resource)

    def pause(self) -> float:
        """Seconds to sleep before the next poll (never past the deadline)."""
        if self.deadline is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, self.deadline - now()))

    def run(self, hook: Any, sleep: Callable[[float], Any] = time.sleep) -> WaitOutcome:
        """Poll until the wait ends; an ``error`` outcome re-raises the error that ended it."""
        while (outcome := self.poll(hook)) is None:
            sleep(self.pause())
        if outcome is WaitOutcome.error and self.error is not None:
            raise self.error
        return outcome

    async def arun(self, hook: Any, sleep: Callable[[float], Any] = asyncio.sleep) -> WaitOutcome:
        """Async :meth:`run`: poll with :meth:`apoll` until the wait ends (``sleep`` is awaited)."""
        while (outcome := await self.apoll(hook)) is None:
            await sleep(self.pause())
        if outcome is WaitOutcome.error and self.error is not None:
            raise self.error
        return outcome

    # ---- the outcome -------------------------------------------------------------------------

    def elapsed(self) -> float:
        return now() - self.started_at

    def timeout_message(self) -> str:
        return f"not {'/'.join(self.targets)} after {format_duration(self.elapsed())} (deadline passed)"

    def message(self, outcome: WaitOutcome) -> str | None:
        """The event message of ``outcome``: the service's message, the error, or the deadline."""
        if outcome is WaitOutcome.error:
            return str(self.error)
        if outcome is WaitOutcome.timeout:
            return self.timeout_message()
        return self.resource.get("message")

    def event(self, outcome: WaitOutcome, note: str | None = None) -> dict[str, Any]:
        """The event of ``outcome`` (:func:`~airflow_provider_emr_ray.utils.resources.wait_event`);
        ``note`` (what was done about it, e.g. a cancel) is appended to the message."""
        message = self.message(outcome)
        if note:
            message = f"{message}; {note}" if message else note
        return wait_event(
            self.kind,
            self.resource_id,
            outcome,
            state=self.state,
            message=message,
            elapsed=self.elapsed(),
            resource=self.resource,
            fatal=outcome is WaitOutcome.error and _fatal(self.error),
        )

    def trigger_kwargs(self) -> dict[str, Any]:
        """This wait as the arguments of the trigger that continues it in the triggerer."""
        return {
            self.kind.id_key: self.resource_id,
            "target_states": list(self.targets),
            "failure_states": list(self.failures),
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "max_transient_errors": self.max_transient_errors,
            "started_at": self.started_at,
        }
