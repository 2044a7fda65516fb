"""Sensors for Ray clusters and Ray jobs on Alibaba Cloud EMR Serverless Spark.

Both poke (``mode="poke"`` / ``"reschedule"``) or defer (``deferrable=True``), and honour
``soft_fail`` (a failure state or a timeout skips the task) and ``timeout``. Each poke is one
step of :class:`~airflow_provider_emr_ray.utils.waiting.Wait`, the poll step the operators and
triggers use too. Module-level imports: ``airflow.sdk``, the standard library and the
stdlib-only modules of this package (never the operators module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
)

from airflow_provider_emr_ray.links.emr_ray import EmrServerlessConsoleLink, RayDashboardLink
from airflow_provider_emr_ray.states import RAY_JOBS_STATUSES, ray_job_states
from airflow_provider_emr_ray.utils.connection import CONNECTION_TEMPLATE_FIELDS, ConnectionOperator
from airflow_provider_emr_ray.utils.log_args import LOG_BYTES, LOG_LINES, LOG_TAIL_LINES, JobLogMixin
from airflow_provider_emr_ray.utils.resources import CLUSTER, JOB, ResourceKind
from airflow_provider_emr_ray.utils.validation import non_negative_int
from airflow_provider_emr_ray.utils.waiting_args import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    default_deferrable,
    existing_job_api,
    ray_internal,
    wait_states,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_emr_ray.utils.waiting import Wait

__all__ = ["EmrRayBaseSensor", "EmrRayClusterStateSensor", "RayJobSensor"]


class EmrRayBaseSensor(ConnectionOperator, BaseSensorOperator):
    """Waits for a resource (:attr:`kind`) to reach ``target_states``, poking or deferred.

    :param target_states: States that satisfy the sensor (default: the kind's, see the subclasses).
    :param failure_states: States that fail it (with ``soft_fail`` the task is skipped instead).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_transient_errors: Transient API errors tolerated in a row (default 5).

    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.
    ``poke_interval``, ``timeout``, ``soft_fail`` and ``mode`` are those of ``BaseSensorOperator``.
    """

    kind: ResourceKind
    #: The states ``target_states`` / ``failure_states`` may name, and how they are read.
    known_states: Sequence[str] = ()
    normal_states = staticmethod(tuple)
    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())

    def __init__(
        self,
        *,
        target_states: Sequence[str] | None = None,
        failure_states: Sequence[str] | None = None,
        deferrable: bool = default_deferrable(),
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        targets, failures = wait_states(target_states, failure_states, targets=self.kind.targets,
                                        failures=self.kind.failures, known=self.known_states,
                                        normal=self.normal_states)  # fmt: skip
        self.target_states, self.failure_states = list(targets), list(failures)
        self.deferrable = deferrable
        self.max_transient_errors = non_negative_int("max_transient_errors", max_transient_errors)
        self._wait: Wait | None = None

    @property
    def resource_id(self) -> str:
        return getattr(self, self.kind.id_key)

    def _new_wait(self, deadline: float | None = None) -> Wait:
        from airflow_provider_emr_ray.utils.waiting import Wait

        return Wait.of(self, poll_interval=self.poke_interval, deadline=deadline)

    # ---- what subclasses declare -------------------------------------------------------------

    def _trigger(self, wait: Wait) -> Any:
        """The trigger that continues ``wait`` in the triggerer."""
        raise NotImplementedError

    def _push(self, context: Context, resource: dict[str, Any]) -> None:
        """Push the XComs of a resource that reached a target state."""
        raise NotImplementedError

    def _ended(self, outcome: Any, message: str | None, resource: dict[str, Any]) -> str:
        """Once the wait ended (any outcome): what a failure's error adds after the state."""
        return f": {message}" if message else ""

    # ---- poke --------------------------------------------------------------------------------

    def poke(self, context: Context) -> bool:
        from airflow_provider_emr_ray.states import WaitOutcome

        if self._wait is None:  # one wait across the pokes of a try (in poke mode)
            self._wait = self._new_wait()
        outcome = self._wait.poll(self.hook)
        if outcome is None:
            return False
        if outcome is WaitOutcome.error and self._wait.error is not None:
            raise self._wait.error
        self._complete(context, self._wait.event(outcome))
        return True

    def _complete(self, context: Context, event: dict[str, Any]) -> None:
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.clock import format_duration
        from airflow_provider_emr_ray.utils.resources import read_event, wait_error

        outcome, state, message, resource = read_event(self.kind, event)
        what = f"{self.kind.label} {self.resource_id}"
        detail = self._ended(outcome, message, resource)
        if outcome == WaitOutcome.success:
            self.log.info("%s is %s", what, state)
            self._push(context, resource)
            return
        if outcome == WaitOutcome.failure:
            raise AirflowFailException(f"{what} is {state} (a failure state){detail}")
        if outcome == WaitOutcome.timeout:
            raise AirflowSensorTimeout(
                f"Sensor has timed out: {what} still {state} after {format_duration(self.timeout)}"
            )
        raise wait_error(event, f"Waiting for {what} failed: {message}")

    # ---- defer -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # One poke first: no deferral when the state is already reached (or failed).
        try:
            if self.poke(context):
                return None
        except AirflowException as exc:
            from airflow_provider_emr_ray.version_compat import sensor_never_fails

            if self.soft_fail or sensor_never_fails(self):
                raise AirflowSkipException(f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {exc}") from exc
            raise
        from airflow_provider_emr_ray.utils.clock import deadline_after, defer_timeout

        wait = self._new_wait(deadline_after(self.timeout))
        self.defer(
            trigger=self._trigger(wait),
            method_name="execute_complete",
            timeout=defer_timeout(wait.deadline, wait.poll_interval),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger fired (``soft_fail`` is applied by the sensor base)."""
        self._complete(context, event)


class EmrRayClusterStateSensor(EmrRayBaseSensor):
    """Wait until a Ray cluster reaches a target state (default ``Running``).

    On success pushes the same XCom keys as the create operator: ``clusterId``, ``jobUrl``,
    ``jobUrlInner``, ``grpcEndpoint`` and ``dashboardUrl`` (without its token).

    :param cluster_id: The Ray cluster id. Templated.
    :param target_states: States that satisfy the sensor (default ``["Running"]``).
    :param failure_states: States that fail it (default ``["Error"]``; with ``soft_fail`` the
        task is skipped instead).

    Further arguments: see :class:`EmrRayBaseSensor`.
    """

    template_fields: Sequence[str] = ("cluster_id", *CONNECTION_TEMPLATE_FIELDS)
    kind = CLUSTER
    known_states = CLUSTER.known

    def __init__(self, *, cluster_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id

    def _trigger(self, wait: Wait) -> Any:
        from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger

        return EmrRayClusterStateTrigger(**wait.trigger_kwargs(), **self.connection_kwargs())

    def _push(self, context: Context, resource: dict[str, Any]) -> None:
        from airflow_provider_emr_ray.utils.resources import push_cluster_xcoms

        push_cluster_xcoms(context, self.cluster_id, resource, self.log)


class RayJobSensor(JobLogMixin, EmrRayBaseSensor):
    """Wait until a Ray job reaches a target status (default ``Succeeded``).

    Pushes ``status``, ``tags`` (key→value, so
    ``{{ ti.xcom_pull(task_ids='wait', key='tags')['workflowId'] }}`` works), ``duration``,
    ``cuHours`` and ``dashboardUrl`` (without its token) when the job reaches a target status. The
    sensor does not own the job: it never cancels it.

    The job may come from either way of submitting
    (:class:`~airflow_provider_emr_ray.operators.emr_ray.EmrRayJobSubmitOperator`'s
    ``submission_api``): a SubmitRayJob job is read with GetRayJob; a job of Ray's own Jobs API
    (``submission_api="ray"``) is read from its cluster's ``jobUrl`` (``cluster_id`` names the
    cluster; the hook reads the endpoint and its token, which never reaches XCom, the trigger's
    arguments or the log). Its statuses read as the provider's (``SUCCEEDED`` -> ``Succeeded``,
    ``STOPPED`` -> ``Cancelled``, ...), so ``target_states`` and ``failure_states`` are the same
    on both; Ray's names are accepted too. ``tags`` is then the job's metadata (the Airflow tags
    the submit operator put there, ``workflowId`` included); ``cuHours`` is None.

    Pull everything from the tasks upstream::

        RayJobSensor(
            task_id="wait",
            cluster_id="{{ ti.xcom_pull('create_cluster') }}",
            submission_id="{{ ti.xcom_pull('submit', key='submissionId') }}",
            submission_api="{{ ti.xcom_pull('submit', key='submissionApi') }}",
            deferrable=True,
        )

    :param submission_id: The job's submission id. Templated.
    :param cluster_id: The job's cluster (needed for ``submission_api="ray"``). Templated.
    :param submission_api: ``"auto"`` (default: ``"ray"`` when ``cluster_id`` is given,
        ``"openapi"`` otherwise), ``"openapi"`` or ``"ray"``; the submit operator's
        ``submissionApi`` XCom holds the right one. Templated.
    :param ray_jobs_endpoint: ``submission_api="ray"``: ``"public"`` (``jobUrl``) or
        ``"internal"`` (``jobUrlInner``); None: the connection's choice. Templated.
    :param target_states: Statuses that satisfy the sensor (default ``["Succeeded"]``).
    :param failure_states: Statuses that fail it (default Failed, Cancelled, Timeout; with
        ``soft_fail`` the task is skipped instead).

    The job's driver log is copied into the task log (lines marked ``[ray]``): live in ``poke``
    mode (what is new at each poke), once at the end in ``reschedule`` mode (Airflow keeps no
    state between the pokes of a rescheduled sensor: its XComs are cleared at each run) and
    after a deferral (on the worker, when it resumes); a failed job's last lines are in the
    error. ``show_logs``, ``log_lines``, ``log_bytes``, ``log_tail_lines``: see
    :class:`~airflow_provider_emr_ray.utils.log_args.JobLogMixin`.

    Further arguments: see :class:`EmrRayBaseSensor`.
    """

    template_fields: Sequence[str] = (
        "submission_id",
        "cluster_id",
        "submission_api",
        "ray_jobs_endpoint",
        *CONNECTION_TEMPLATE_FIELDS,
    )
    kind = JOB
    #: Either vocabulary: the provider's (``Succeeded``) or Ray's (``SUCCEEDED``), read as the
    #: provider's.
    known_states = (*JOB.known, *RAY_JOBS_STATUSES)
    normal_states = staticmethod(ray_job_states)

    def __init__(
        self,
        *,
        submission_id: str,
        cluster_id: str | None = None,
        submission_api: str = "auto",
        ray_jobs_endpoint: str | None = None,
        show_logs: bool = True,
        log_lines: int = LOG_LINES,
        log_bytes: int = LOG_BYTES,
        log_tail_lines: int = LOG_TAIL_LINES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.cluster_id = cluster_id
        self.submission_api = submission_api
        self.ray_jobs_endpoint = ray_jobs_endpoint
        self._init_job_log(show_logs, log_lines, log_bytes, log_tail_lines)
        self._api: str | None = None
        self._choose_api(rendered=False)

    def _choose_api(self, *, rendered: bool) -> str | None:
        """``"openapi"`` or ``"ray"`` (None at parse while templated); errors name the field."""
        return existing_job_api(self.submission_api, self.cluster_id, self.ray_jobs_endpoint, rendered=rendered)

    def _prepare(self) -> None:
        """Choose the API once rendered: a Ray Jobs API job gets its cluster's kind."""
        if self._api is not None:
            return
        self._api = self._choose_api(rendered=True)
        if self._api == "ray":
            from airflow_provider_emr_ray.utils.waiting import ray_job_kind

            self.kind = ray_job_kind(self.cluster_id, ray_internal(self.ray_jobs_endpoint))

    def poke(self, context: Context) -> bool:
        self._prepare()
        first = self._wait is None
        done = super().poke(context)
        if not done and first and self.mode == "poke" and not self.deferrable:
            # one process for all the pokes of the try: follow the log live from here on
            from airflow_provider_emr_ray.utils import logs

            logs.follow(self, self._log_source(lambda: self._wait.resource if self._wait else {}))
        if not done and self._live_log is not None:
            self._live_log.pump(0)  # what is new now; the sensor base sleeps between pokes
        return done

    def _log_source(self, job: Any) -> Any:
        from airflow_provider_emr_ray.utils.logs import source_for

        return source_for(self.hook, self.submission_id, api=self._api or "openapi", cluster_id=self.cluster_id,
                          internal=ray_internal(self.ray_jobs_endpoint), job=job)  # fmt: skip

    def _ended(self, outcome: Any, message: str | None, resource: dict[str, Any]) -> str:
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.logs import end, job_failure_text

        tail: list[str] = []
        if outcome != WaitOutcome.error:
            tail = end(self, lambda: self._log_source(resource))
        return job_failure_text(message, tail)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        self._prepare()
        super().execute_complete(context, event)

    def _trigger(self, wait: Wait) -> Any:
        from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

        ray_args: dict[str, Any] = {}
        if self._api == "ray":
            ray_args = {
                "submission_api": "ray",
                "cluster_id": self.cluster_id,
                "internal": ray_internal(self.ray_jobs_endpoint),
            }
        elif self._wait is not None and isinstance(self._wait.resource.get("submitTime"), int):
            ray_args = {"submit_time": self._wait.resource["submitTime"]}  # from the poke before deferring
        return RayJobStatusTrigger(
            **wait.trigger_kwargs(),
            cancel_on_kill=False,
            cancel_on_timeout=False,
            **ray_args,
            **self.connection_kwargs(),
        )

    def _push(self, context: Context, resource: dict[str, Any]) -> None:
        from airflow_provider_emr_ray.utils.resources import JOB_SENSOR_XCOM_KEYS, push_job_xcoms

        push_job_xcoms(context, self.submission_id, resource, self.log, keys=JOB_SENSOR_XCOM_KEYS)
