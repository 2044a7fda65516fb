"""Sensors for Ray clusters and Ray jobs on Alibaba Cloud EMR Serverless Spark.

Both poke (``mode="poke"`` / ``"reschedule"``) or defer (``deferrable=True``), and honour
``soft_fail`` (a failure state or a timeout skips the task) and ``timeout``.
Module-level imports: ``airflow.sdk`` and the standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_emr_ray._waiting import (
    CLUSTER_STATES,
    DEFAULT_MAX_TRANSIENT_ERRORS,
    JOB_STATUSES,
    StateLog,
    cluster_info,
    is_transient,
    job_info,
    mask_url,
)
from airflow_provider_emr_ray.links.emr_ray import EmrServerlessConsoleLink, RayDashboardLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class _EmrRayBaseSensor(BaseSensorOperator):
    """Shared arguments, the lazy hook and the poke/defer machinery."""

    state_key = "state"
    resource_label = "resource"
    known_states: Sequence[str] = ()
    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())

    def __init__(
        self,
        *,
        target_states: Sequence[str],
        failure_states: Sequence[str],
        deferrable: bool = _default_deferrable(),
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        emr_ray_conn_id: str = "emr_ray_default",
        region_id: str | None = None,
        workspace_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(target_states, str):
            target_states = [target_states]
        if isinstance(failure_states, str):
            failure_states = [failure_states]
        self.target_states = list(target_states)
        self.failure_states = list(failure_states)
        overlap = set(self.target_states) & set(self.failure_states)
        if overlap:
            from airflow_provider_emr_ray.exceptions import EmrRayValidationError

            raise EmrRayValidationError("failure_states", f"overlaps target_states: {sorted(overlap)}")
        self.deferrable = deferrable
        self.max_transient_errors = max_transient_errors
        self.emr_ray_conn_id = emr_ray_conn_id
        self.region_id = region_id
        self.workspace_id = workspace_id
        self._state_log: StateLog | None = None
        self._transient_errors = 0

    @cached_property
    def hook(self) -> EmrRayHook:
        """The hook, built on first use (never at DAG parse)."""
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        return EmrRayHook(
            emr_ray_conn_id=self.emr_ray_conn_id, region_id=self.region_id, workspace_id=self.workspace_id
        )

    # ---- what subclasses declare -------------------------------------------------------------

    def _describe(self) -> str:
        raise NotImplementedError

    def _fetch(self) -> dict[str, Any]:
        raise NotImplementedError

    def _trigger(self, deadline: float, started_at: float) -> Any:
        raise NotImplementedError

    def _push(self, context: Context, resource: dict[str, Any]) -> None:
        raise NotImplementedError

    # ---- poke --------------------------------------------------------------------------------

    def poke(self, context: Context) -> bool:
        if self._state_log is None:
            self._state_log = StateLog(self.log, self._describe(), known=self.known_states)
        try:
            resource = self._fetch()
        except Exception as exc:
            if is_transient(exc) and self._transient_errors < self.max_transient_errors:
                self._transient_errors += 1
                self.log.warning(
                    "Transient error %d/%d, poking again: %s", self._transient_errors, self.max_transient_errors, exc
                )
                return False
            raise
        self._transient_errors = 0
        state = resource.get(self.state_key)
        self._state_log.observe(state, resource.get("message") if state in self.failure_states else None)
        if state in self.failure_states:
            raise AirflowFailException(self._failure_text(state, resource.get("message")))
        if state in self.target_states:
            self._push(context, resource)
            return True
        return False

    def _failure_text(self, state: str | None, message: str | None) -> str:
        return f"{self._describe()} is {state} (a failure state)" + (f": {message}" if message else "")

    # ---- defer -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # One poke first: no deferral when the state is already reached (or failed).
        try:
            if self.poke(context):
                return None
        except AirflowException as exc:
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {exc}") from exc
            raise
        started = time.time()
        deadline = started + self.timeout
        self.defer(
            trigger=self._trigger(deadline, started),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + max(60.0, 3 * self.poke_interval)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger fired (``soft_fail`` is applied by the sensor base)."""
        status = event.get("status")
        resource = event.get(self.resource_label) or {}
        if status == "success":
            self.log.info("%s is %s", self._describe(), event.get("state"))
            self._push(context, resource)
            return None
        if status == "failure":
            raise AirflowFailException(self._failure_text(event.get("state"), event.get("message")))
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"Sensor has timed out: {self._describe()} still {event.get('state')} after {self.timeout}s"
            )
        raise AirflowException(f"Waiting for {self._describe()} failed: {event.get('message')}")


class EmrRayClusterStateSensor(_EmrRayBaseSensor):
    """Wait until a Ray cluster reaches a target state (default ``Running``).

    On success pushes the same XCom keys as the create operator: ``clusterId``, ``jobUrl``,
    ``jobUrlInner``, ``grpcEndpoint`` and ``dashboardUrl`` (without its token).

    :param cluster_id: The Ray cluster id. Templated.
    :param target_states: States that satisfy the sensor (default ``["Running"]``).
    :param failure_states: States that fail it (default ``["Error"]``; with ``soft_fail`` the
        task is skipped instead).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_transient_errors: Transient API errors tolerated in a row.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    :param poke_interval: Seconds between two pokes (BaseSensorOperator).
    :param timeout: Seconds before the sensor times out (BaseSensorOperator).
    :param soft_fail: Skip instead of failing (BaseSensorOperator).
    :param mode: ``poke`` or ``reschedule`` (BaseSensorOperator).
    """

    template_fields: Sequence[str] = ("cluster_id", "region_id", "workspace_id")
    state_key = "state"
    resource_label = "cluster"
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

    def _describe(self) -> str:
        return f"Ray cluster {self.cluster_id}"

    def _fetch(self) -> dict[str, Any]:
        return cluster_info(self.hook.get_ray_cluster(self.cluster_id))

    def _trigger(self, deadline: float, started_at: float) -> Any:
        from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger

        return EmrRayClusterStateTrigger(
            cluster_id=self.cluster_id,
            target_states=self.target_states,
            failure_states=self.failure_states,
            poll_interval=self.poke_interval,
            deadline=deadline,
            max_transient_errors=self.max_transient_errors,
            started_at=started_at,
            emr_ray_conn_id=self.emr_ray_conn_id,
            region_id=self.region_id,
            workspace_id=self.workspace_id,
        )

    def _push(self, context: Context, resource: dict[str, Any]) -> None:
        from airflow_provider_emr_ray.operators.emr_ray import push_cluster_xcoms

        push_cluster_xcoms(context, self.cluster_id, resource, self.log)


class RayJobSensor(_EmrRayBaseSensor):
    """Wait until a Ray job reaches a target status (default ``Succeeded``).

    Pushes ``status``, ``tags`` (key→value, so
    ``{{ ti.xcom_pull(task_ids='wait', key='tags')['workflowId'] }}`` works), ``duration``,
    ``cuHours`` and ``dashboardUrl`` (without its token) when the job reaches a target status. The
    sensor does not own the job: it never cancels it.

    :param submission_id: The job's submission id. Templated.
    :param target_states: Statuses that satisfy the sensor (default ``["Succeeded"]``).
    :param failure_states: Statuses that fail it (default Failed, Cancelled, Timeout; with
        ``soft_fail`` the task is skipped instead).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_transient_errors: Transient API errors tolerated in a row.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    :param poke_interval: Seconds between two pokes (BaseSensorOperator).
    :param timeout: Seconds before the sensor times out (BaseSensorOperator).
    :param soft_fail: Skip instead of failing (BaseSensorOperator).
    :param mode: ``poke`` or ``reschedule`` (BaseSensorOperator).
    """

    template_fields: Sequence[str] = ("submission_id", "region_id", "workspace_id")
    state_key = "status"
    resource_label = "job"
    known_states = JOB_STATUSES

    def __init__(
        self,
        *,
        submission_id: str,
        target_states: Sequence[str] = ("Succeeded",),
        failure_states: Sequence[str] = ("Failed", "Cancelled", "Timeout"),
        **kwargs: Any,
    ) -> None:
        super().__init__(target_states=target_states, failure_states=failure_states, **kwargs)
        self.submission_id = submission_id

    def _describe(self) -> str:
        return f"Ray job {self.submission_id}"

    def _fetch(self) -> dict[str, Any]:
        return job_info(self.hook.get_ray_job(self.submission_id))

    def _trigger(self, deadline: float, started_at: float) -> Any:
        from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

        return RayJobStatusTrigger(
            submission_id=self.submission_id,
            target_states=self.target_states,
            failure_states=self.failure_states,
            cancel_on_kill=False,
            cancel_on_timeout=False,
            poll_interval=self.poke_interval,
            deadline=deadline,
            max_transient_errors=self.max_transient_errors,
            started_at=started_at,
            emr_ray_conn_id=self.emr_ray_conn_id,
            region_id=self.region_id,
            workspace_id=self.workspace_id,
        )

    def _push(self, context: Context, resource: dict[str, Any]) -> None:
        ti = context["ti"]
        dashboard = resource.get("dashboardUrl")
        ti.xcom_push(key="status", value=resource.get("status"))
        ti.xcom_push(key="tags", value=resource.get("tags") or {})
        ti.xcom_push(key="duration", value=resource.get("duration"))
        ti.xcom_push(key="cuHours", value=resource.get("cuHours"))
        ti.xcom_push(key="dashboardUrl", value=dashboard)
        self.log.info(
            "Ray job %s: status %s, duration %ss, cuHours %s, dashboard %s",
            self.submission_id,
            resource.get("status"),
            resource.get("duration"),
            resource.get("cuHours"),
            mask_url(dashboard),
        )
