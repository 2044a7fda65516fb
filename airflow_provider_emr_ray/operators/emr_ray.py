"""Operators for Ray on Alibaba Cloud EMR Serverless Spark.

Classes only: what they share (connection arguments, the poll step, XCom and event shapes,
validation, the driver-log tail) lives in :mod:`airflow_provider_emr_ray.utils`.

Module-level imports are limited to ``airflow.sdk``, the standard library and the stdlib-only
modules of this package: DAG files import this module at every parse. The hook, the models,
the triggers and httpx are imported inside the methods that use them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowTaskTimeout

from airflow_provider_emr_ray.links.emr_ray import EmrServerlessConsoleLink, RayDashboardLink
from airflow_provider_emr_ray.utils.connection import CONNECTION_TEMPLATE_FIELDS, ConnectionOperator
from airflow_provider_emr_ray.utils.log_args import LOG_BYTES, LOG_LINES, LOG_TAIL_LINES, JobLogMixin
from airflow_provider_emr_ray.utils.validation import (
    check_list,
    check_mapping,
    checkable,
    json_object,
    required,
    validate_request,
    validation_error,
)
from airflow_provider_emr_ray.utils.waiting_args import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    DEFAULT_POLL_INTERVAL,
    SUBMISSION_API_CHOICES,
    WaitingMixin,
    check_choice,
    default_deferrable,
    existing_job_api,
    ray_internal,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_emr_ray.utils.resources import ResourceKind
    from airflow_provider_emr_ray.utils.waiting import Wait

__all__ = [
    "EmrRayBaseOperator",
    "EmrRayClusterCreateOperator",
    "EmrRayClusterDeleteOperator",
    "EmrRayClusterStartOperator",
    "EmrRayClusterStopOperator",
    "EmrRayClusterUpdateOperator",
    "EmrRayJobCancelOperator",
    "EmrRayJobSubmitOperator",
]

_IF_EXISTS = ("reuse", "fail", "create")
#: How far back a lookup of a submit whose outcome is unknown searches (by submit time).
_RECONCILE_LOOKBACK_SECONDS = 300.0
#: The submit operator's arguments that only SubmitRayJob takes (not Ray's Jobs API path).
_OPENAPI_ONLY_ARGS = (
    "head_spec",
    "worker_spec",
    "display_release_version",
    "network_service_name",
    "submission_mode",
    "shutdown_after_job_finishes",
    "ttl_seconds_after_finished",
    "active_deadline_seconds",
    "volume_ids",
    "extra_param",
    "extra_fields",
)
#: Resubmissions of one task instance on Ray's Jobs API path (each after a failed/stopped job).
_MAX_RAY_RESUBMITS = 50


def _is_local_path(value: Any) -> bool:
    """A path on the worker (not a URL such as ``oss://``, ``https://``, ``gcs://``)."""
    return isinstance(value, str) and bool(value.strip()) and "://" not in value


def _parsed_runtime_env(value: Any) -> dict[str, Any]:
    """``runtime_env`` (a dict or a JSON object string) as a dict."""
    text = json_object("runtime_env", value)
    return json.loads(text) if text else {}


# --------------------------------------------------------------------------------------------
# Bases
# --------------------------------------------------------------------------------------------


class EmrRayBaseOperator(ConnectionOperator):
    """Base of the EMR Serverless Ray operators: the connection arguments of
    :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin` (``emr_ray_conn_id``,
    ``region_id``, ``workspace_id``), the lazy ``hook``, and sending a create/submit once."""

    template_fields: Sequence[str] = CONNECTION_TEMPLATE_FIELDS
    operator_extra_links = (EmrServerlessConsoleLink(),)
    ui_color = "#ff6a00"

    #: Seconds to let the service list a resource whose creation outcome is unknown, before
    #: concluding that the request did not take effect.
    reconcile_settle_seconds: float = 5.0
    #: Sends at most of one create/submit, each further one only after lookups found nothing.
    resend_limit: int = 5

    def _validate(self, *, rendered: bool) -> None:
        """Validate arguments: at ``__init__`` (``rendered=False``) the cheap checks of literal
        ones (required, types, JSON, tags); after rendering (``rendered=True``, before any API
        call) all of them, the request models' rules included (see
        :mod:`~airflow_provider_emr_ray.utils.validation`)."""

    def _send_once(self, send: Callable[[], str], lookup: Callable[[], str | None], what: str) -> str:
        """Send a create/submit call so that it takes effect exactly once.

        When the call's outcome is unknown (the request may have reached the service), look the
        resource up; if it is not listed, look again after :attr:`reconcile_settle_seconds`; if it
        is still not listed the request did not take effect, so it is sent again. A last unknown
        outcome (up to :attr:`resend_limit` sends) with nothing listed fails the try (its retry
        looks again first).
        """
        from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError

        for attempt in range(1, self.resend_limit + 1):
            try:
                return send()
            except EmrRayOutcomeUnknownError as exc:
                self.log.warning("%s: outcome unknown (%s); looking it up", what, exc)
                for look in (1, 2):
                    found = lookup()
                    if found is not None:
                        self.log.info("%s took effect after all: %s", what, found)
                        return found
                    if look == 1:
                        time.sleep(self.reconcile_settle_seconds)
                if attempt == self.resend_limit:
                    raise AirflowException(
                        f"{what} may or may not have taken effect and nothing is listed; a retry of this "
                        "task looks again before sending it"
                    ) from exc
                self.log.warning("%s is not listed: it did not take effect, sending it again", what)
        raise AssertionError("unreachable")  # pragma: no cover


class EmrRayWaitingOperator(WaitingMixin, EmrRayBaseOperator):
    """An operator that acts, then may wait for the state it leads to, in the worker or
    deferred. Takes the waiting arguments of
    :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`."""

    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        max_wait: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_waiting(wait_for_completion, deferrable, poll_interval, max_wait, max_transient_errors)

    def _new_wait(
        self, context: Mapping[str, Any], kind: ResourceKind, resource_id: str, targets: Iterable[str], failures: Iterable[str]
    ) -> tuple[Wait, bool]:
        """A wait starting now, and whether its deadline is the task's ``execution_timeout``
        (rather than ``max_wait``)."""
        from airflow_provider_emr_ray.utils.clock import deadline_after, earliest, execution_deadline
        from airflow_provider_emr_ray.utils.waiting import Wait

        by_max_wait = deadline_after(self.max_wait)
        by_exec = execution_deadline(context, getattr(self, "execution_timeout", None))
        deadline = earliest(by_max_wait, by_exec)
        wait = Wait(
            kind,
            resource_id,
            log=self.log,  # type: ignore[attr-defined]
            targets=targets,
            failures=failures,
            poll_interval=self.poll_interval,
            deadline=deadline,
            max_transient_errors=self.max_transient_errors,
        )
        return wait, deadline is not None and deadline == by_exec

    def _defer_wait(self, wait: Wait, trigger: Any, **kwargs: Any) -> None:
        """Continue ``wait`` in the triggerer; ``execute_complete(**kwargs)`` resumes."""
        from airflow_provider_emr_ray.utils.clock import defer_timeout

        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            kwargs=kwargs,
            timeout=defer_timeout(wait.deadline, wait.poll_interval),
        )


# --------------------------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------------------------


class EmrRayClusterWaitingOperator(EmrRayWaitingOperator):
    """An operator that waits for a cluster state (:meth:`_target_states`) after acting."""

    #: How the timeout message names the wait ("did not <verb> Running in time").
    verb = "reach"
    #: Push the cluster's XCom keys once it reached its target state.
    push_xcoms = True

    def _target_states(self) -> tuple[str, ...]:
        """The states the wait ends successfully in (default: Running)."""
        from airflow_provider_emr_ray.utils.resources import CLUSTER

        return CLUSTER.targets

    def _wait_cluster(self, context: Context, cluster_id: str) -> str:
        from airflow_provider_emr_ray.utils.resources import CLUSTER

        wait, _ = self._new_wait(context, CLUSTER, cluster_id, self._target_states(), CLUSTER.failures)
        if self.deferrable:
            from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger

            trigger = EmrRayClusterStateTrigger(**wait.trigger_kwargs(), **self.connection_kwargs())
            self._defer_wait(wait, trigger, cluster_id=cluster_id)
        return self.execute_complete(context, wait.event(wait.run(self.hook)), cluster_id=cluster_id)

    def execute_complete(self, context: Context, event: dict[str, Any], cluster_id: str | None = None) -> str:
        """End the wait (after the trigger fired, or the synchronous wait): no API call but
        ``delete_on_error``'s."""
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.resources import CLUSTER, push_cluster_xcoms, read_event, wait_error

        outcome, state, message, cluster = read_event(CLUSTER, event)
        cluster_id = cluster_id or event[CLUSTER.id_key]
        wanted = "/".join(self._target_states())
        if outcome == WaitOutcome.success:
            self.log.info("Ray cluster %s is %s", cluster_id, state)
            if self.push_xcoms:
                push_cluster_xcoms(context, cluster_id, cluster, self.log)
            return cluster_id
        self._on_failure(cluster_id, outcome, state)
        if outcome == WaitOutcome.failure:
            raise AirflowException(
                f"Ray cluster {cluster_id} is {state} instead of {wanted}" + (f": {message}" if message else "")
            )
        if outcome == WaitOutcome.timeout:
            raise AirflowException(
                f"Ray cluster {cluster_id} did not {self.verb} {wanted} in time (last state {state})"
            )
        raise wait_error(event, f"Waiting for Ray cluster {cluster_id} failed: {message}")

    def _on_failure(self, cluster_id: str, outcome: str, state: str | None) -> None:
        """Called when the wait did not succeed, before the task fails."""


def _delete_cluster(hook: Any, cluster_id: str, log: Any) -> bool:
    from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError

    try:
        hook.delete_ray_cluster(cluster_id)
    except EmrRayNotFoundError:
        log.info("Ray cluster %s is already gone: nothing to delete", cluster_id)
        return False
    log.info("Deleted Ray cluster %s", cluster_id)
    return True


class EmrRayClusterSpecOperator(EmrRayClusterWaitingOperator):
    """The spec arguments of the cluster create and update operators.

    :param name: Cluster name. Templated.
    :param head_spec: Head node spec (dict in snake_case or camelCase, or ``HeadSpec``). Templated.
    :param worker_spec: Worker groups (list of dicts or ``WorkerSpec``). Templated.
    :param display_release_version: Engine release version. Templated.
    :param description: Description. Templated.
    :param network_service_name: Network connection name. Templated.
    :param volume_ids: Volumes to mount. Templated.
    :param extra_param: Extra parameter string. Templated.
    :param extra_fields: Request fields this provider does not model, by their API (camelCase)
        names, sent as they are; naming a modelled field is an error. Templated.
    """

    spec_fields = (
        "name",
        "head_spec",
        "worker_spec",
        "display_release_version",
        "description",
        "network_service_name",
        "volume_ids",
        "extra_param",
        "extra_fields",
    )
    template_fields: Sequence[str] = (*CONNECTION_TEMPLATE_FIELDS, *spec_fields)
    template_fields_renderers = {"head_spec": "json", "worker_spec": "json", "extra_param": "json", "extra_fields": "json"}

    def __init__(
        self,
        *,
        name: str | None = None,
        head_spec: Any = None,
        worker_spec: Any = None,
        display_release_version: str | None = None,
        description: str | None = None,
        network_service_name: str | None = None,
        volume_ids: list[str] | None = None,
        extra_param: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.head_spec = head_spec
        self.worker_spec = worker_spec
        self.display_release_version = display_release_version
        self.description = description
        self.network_service_name = network_service_name
        self.volume_ids = volume_ids
        self.extra_param = extra_param
        self.extra_fields = extra_fields

    def _spec_kwargs(self) -> dict[str, Any]:
        """The hook's keyword arguments of the spec (``extra_fields`` only when given)."""
        spec = {name: getattr(self, name) for name in self.spec_fields}
        if spec["extra_fields"] is None:
            del spec["extra_fields"]
        return spec

    def _validate(self, *, rendered: bool) -> None:
        """Types of the literal arguments at parse time; once rendered, everything with the
        model the hook builds the request body with (name length, specs, unknown keys, ...)."""
        _check_spec_shapes(self.head_spec, self.worker_spec, rendered)
        if checkable(self.volume_ids, rendered):
            check_list("volume_ids", self.volume_ids, "volume ids")
        if checkable(self.extra_fields, rendered):
            check_mapping("extra_fields", self.extra_fields)
        if rendered:
            validate_request("RayClusterConfig", self._spec_kwargs())


def _check_spec_shapes(head_spec: Any, worker_spec: Any, rendered: bool) -> None:
    """The shapes of literal specs (at parse; the model checks their content when the task
    runs): ``head_spec`` a dict, ``worker_spec`` a list of dicts (or the spec models)."""
    if checkable(head_spec, rendered) and not hasattr(head_spec, "model_dump"):
        check_mapping("head_spec", head_spec)
    if checkable(worker_spec, rendered):
        check_list("worker_spec", worker_spec, "specs")
        for i, group in enumerate(worker_spec):
            if checkable(group, rendered) and not hasattr(group, "model_dump"):
                check_mapping(f"worker_spec[{i}]", group)


class EmrRayClusterCreateOperator(EmrRayClusterSpecOperator):
    """Create a Ray cluster (or reuse the one of the same name) and wait until it is Running.

    Returns the cluster id and pushes the XCom keys ``clusterId``, ``jobUrl``, ``jobUrlInner``,
    ``grpcEndpoint`` and ``dashboardUrl`` (without the dashboard's ``token``: no secret goes
    to XCom; open the dashboard from the console or read the full URL with the hook).

    A task retry or a re-run does not create a second cluster: with ``if_exists="reuse"`` a
    live cluster of the same name in the workspace is reused (started if Stopped). When the
    create call's outcome is unknown (timeout after sending), the operator looks the cluster up
    by name before anything else.

    Spec arguments (``name``, unique per workspace for ``if_exists`` to work, ``head_spec``,
    ``worker_spec``, ..., ``extra_fields``): see :class:`EmrRayClusterSpecOperator`. Waiting
    arguments (``wait_for_completion``: until Running, ``deferrable``, ``poll_interval``,
    ``max_wait``, ``max_transient_errors``): see
    :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`. Connection arguments: see
    :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param name: Cluster name (required). Templated.
    :param if_exists: ``"reuse"`` (default) reuses a live cluster of the same name,
        ``"fail"`` raises when one exists, ``"create"`` always creates.
    :param delete_on_error: Delete a cluster this task created or reused when it ends in Error
        or does not become Running within ``max_wait``.
    """

    def __init__(self, *, name: str, if_exists: str = "reuse", delete_on_error: bool = False, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if if_exists not in _IF_EXISTS:
            raise validation_error("if_exists", f"must be one of {', '.join(_IF_EXISTS)}")
        self.if_exists = if_exists
        self.delete_on_error = delete_on_error
        self._validate(rendered=False)

    def _validate(self, *, rendered: bool) -> None:
        required("name", self.name)
        super()._validate(rendered=rendered)

    def _find_by_name(self) -> Any | None:
        """The most recent live cluster named :attr:`name` in the workspace (a ``RayCluster``), if any."""
        from airflow_provider_emr_ray.states import CLUSTER_LIVE_STATES

        matches = [c for c in self.hook.list_ray_clusters() if c.name == self.name and c.state in CLUSTER_LIVE_STATES]
        if not matches:
            return None
        if len(matches) > 1:
            self.log.warning(
                "%d live Ray clusters are named %r: using the most recent (%s)",
                len(matches),
                self.name,
                ", ".join(str(m.cluster_id) for m in matches),
            )
        return max(matches, key=lambda m: m.create_time or 0)

    def _create(self) -> str:
        def lookup() -> str | None:
            found = self._find_by_name()
            return found.cluster_id if found is not None else None

        cluster_id = self._send_once(
            lambda: self.hook.create_ray_cluster(**self._spec_kwargs()), lookup, f"CreateRayCluster {self.name!r}"
        )
        self.log.info("Ray cluster %s (%s) created", cluster_id, self.name)
        return cluster_id

    def _reuse(self, found: Any) -> str | None:
        """Reuse ``found`` (start it if Stopped). None when it vanished (it was being deleted)."""
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError
        from airflow_provider_emr_ray.states import ClusterState, WaitOutcome
        from airflow_provider_emr_ray.utils.clock import deadline_after
        from airflow_provider_emr_ray.utils.resources import CLUSTER
        from airflow_provider_emr_ray.utils.waiting import Wait

        cluster_id, state = found.cluster_id, found.state
        self.log.info("Reusing Ray cluster %s named %r (state %s)", cluster_id, self.name, state)
        try:
            if state == ClusterState.Stopping:
                wait = Wait(
                    CLUSTER,
                    cluster_id,
                    log=self.log,
                    targets=(ClusterState.Stopped.value, ClusterState.Running.value),
                    failures=CLUSTER.failures,
                    poll_interval=self.poll_interval,
                    deadline=deadline_after(self.max_wait),
                    max_transient_errors=self.max_transient_errors,
                )
                if wait.run(self.hook) != WaitOutcome.success:
                    self.log.warning("Ray cluster %s ended %s while stopping: not reusing it", cluster_id, wait.state)
                    return None
                state = wait.state
            if state == ClusterState.Stopped:
                self.log.info("Starting stopped Ray cluster %s", cluster_id)
                self.hook.start_ray_cluster(cluster_id)
        except EmrRayNotFoundError:
            self.log.info("Ray cluster %s was deleted meanwhile: creating a new one", cluster_id)
            return None
        return cluster_id

    def execute(self, context: Context) -> str:
        self._validate(rendered=True)
        found = self._find_by_name() if self.if_exists in ("reuse", "fail") else None
        if found is not None and self.if_exists == "fail":
            raise AirflowException(
                f"A Ray cluster named {self.name!r} already exists: {found.cluster_id} "
                f"({found.state}) and if_exists='fail'"
            )
        cluster_id = self._reuse(found) if found is not None else None
        if cluster_id is None:
            cluster_id = self._create()
        context["ti"].xcom_push(key="clusterId", value=cluster_id)
        if not self.wait_for_completion:
            return cluster_id
        return self._wait_cluster(context, cluster_id)

    def _on_failure(self, cluster_id: str, outcome: str, state: str | None) -> None:
        from airflow_provider_emr_ray.states import WaitOutcome

        if not self.delete_on_error or outcome not in (WaitOutcome.failure, WaitOutcome.timeout):
            return
        self.log.warning("delete_on_error: deleting Ray cluster %s (%s, state %s)", cluster_id, outcome, state)
        _delete_cluster(self.hook, cluster_id, self.log)


class EmrRayClusterUpdateOperator(EmrRayClusterSpecOperator):
    """Update a Ray cluster's spec and wait until it is Running again.

    Spec arguments (``name``, ``head_spec``, ``worker_spec``, ..., ``extra_fields``): see
    :class:`EmrRayClusterSpecOperator`. Waiting arguments: see
    :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`. Connection arguments: see
    :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param cluster_id: The cluster to update. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", *EmrRayClusterSpecOperator.template_fields)
    verb = "return to"

    def __init__(self, *, cluster_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self._validate(rendered=False)

    def _validate(self, *, rendered: bool) -> None:
        required("cluster_id", self.cluster_id)
        super()._validate(rendered=rendered)

    def execute(self, context: Context) -> str:
        from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError

        self._validate(rendered=True)
        try:
            self.hook.update_ray_cluster(self.cluster_id, **self._spec_kwargs())
        except EmrRayOutcomeUnknownError as exc:
            # An update applied twice yields the same spec: checking that the cluster exists
            # and waiting for Running is the reconciliation.
            self.log.warning("UpdateRayCluster outcome unknown (%s): waiting on the cluster's state", exc)
        self.log.info("Updated Ray cluster %s", self.cluster_id)
        if not self.wait_for_completion:
            return self.cluster_id
        return self._wait_cluster(context, self.cluster_id)


class EmrRayClusterStartOperator(EmrRayClusterWaitingOperator):
    """Start a stopped Ray cluster and wait until it is Running.

    Waiting arguments: see :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`.
    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param cluster_id: The cluster to start. Templated.
    :param client_token: Idempotence token; by default one derived from the task instance and
        cluster, so a retried start is the same request. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", "client_token", *CONNECTION_TEMPLATE_FIELDS)

    def __init__(self, *, cluster_id: str, client_token: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.client_token = client_token

    def execute(self, context: Context) -> str:
        ti = context["ti"]
        token = self.client_token or str(
            uuid.uuid5(
                uuid.NAMESPACE_URL,
                f"emr-ray-start/{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}/{self.cluster_id}",
            )
        )
        self.hook.start_ray_cluster(self.cluster_id, client_token=token)
        self.log.info("Started Ray cluster %s", self.cluster_id)
        if not self.wait_for_completion:
            return self.cluster_id
        return self._wait_cluster(context, self.cluster_id)


class EmrRayClusterStopOperator(EmrRayClusterWaitingOperator):
    """Stop a Ray cluster and wait until it is Stopped.

    Waiting arguments: see :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`.
    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param cluster_id: The cluster to stop. Templated.
    :param instance_id: The cluster instance to stop (optional). Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", "instance_id", *CONNECTION_TEMPLATE_FIELDS)
    operator_extra_links = (EmrServerlessConsoleLink(),)
    push_xcoms = False

    def _target_states(self) -> tuple[str, ...]:
        from airflow_provider_emr_ray.states import ClusterState

        return (ClusterState.Stopped.value,)

    def __init__(self, *, cluster_id: str, instance_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.instance_id = instance_id

    def execute(self, context: Context) -> str:
        self.hook.stop_ray_cluster(self.cluster_id, instance_id=self.instance_id)
        self.log.info("Stopping Ray cluster %s", self.cluster_id)
        if not self.wait_for_completion:
            return self.cluster_id
        return self._wait_cluster(context, self.cluster_id)


class EmrRayClusterDeleteOperator(EmrRayBaseOperator):
    """Delete a Ray cluster. Deleting a cluster that is already gone succeeds (with a log line).

    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param cluster_id: The cluster to delete. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", *CONNECTION_TEMPLATE_FIELDS)

    def __init__(self, *, cluster_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id

    def execute(self, context: Context) -> None:
        _delete_cluster(self.hook, self.cluster_id, self.log)


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


class EmrRayJobSubmitOperator(JobLogMixin, EmrRayWaitingOperator):
    """Submit a Ray job (to a cluster, or with its own job-scoped cluster) and wait for it.

    Returns the submission id and pushes the XCom keys ``submissionId``, ``tags`` (key→value,
    e.g. ``workflowId``) and ``dashboardUrl`` (without its ``token``).

    Unless ``add_airflow_tags=False`` the job is tagged with ``airflow_dag_id``,
    ``airflow_run_id``, ``airflow_task_id`` (``airflow_map_index`` for mapped tasks) and
    ``workflowId`` (a stable id of the DAG run unless you give one); long values are cut and
    end with a hash. On a task retry the operator reattaches to the live job that a previous
    try submitted (found by its name and Airflow tags) instead of submitting a second one; the
    same lookup reconciles a submit whose outcome is unknown.

    Killing the task (``on_kill``), or its ``execution_timeout`` / ``max_wait`` running out,
    cancels the job when ``cancel_on_kill`` is set — also while deferred: the trigger enforces
    the deadline itself, and a user killing the deferred task (mark failed / success, clear)
    cancels the job on every Airflow 3 line: 3.3 calls the trigger's ``on_kill``; on 3.0–3.2 the
    cancelled trigger reads its task's state and cancels the job when the task left the deferred
    state (a triggerer restart leaves the job running for the next triggerer).

    When the job fails, the last lines of its driver log go into the task log, and the error
    names the job's status and message.

    **Two ways to submit** (``submission_api``). ``"openapi"``: SubmitRayJob of the EMR
    Serverless Spark API (code on OSS or at an https URL, or a job-scoped cluster with
    ``head_spec``). ``"ray"``: Ray's own Jobs API at the cluster's ``jobUrl`` (``jobUrlInner``
    with ``ray_jobs_endpoint="internal"``), as ``ray job submit`` does: a local ``working_dir``
    or ``py_modules`` entry is zipped and uploaded first. ``"auto"`` (default) takes the Ray
    path when ``working_dir``, ``runtime_env["working_dir"]`` or a ``runtime_env["py_modules"]``
    entry is a local path (no ``scheme://``) and ``cluster_id`` is given, SubmitRayJob otherwise.
    Local code with a job-scoped cluster, ``submission_api="ray"`` without ``cluster_id`` (or
    with a SubmitRayJob-only argument such as ``head_spec``), and a local path with
    ``submission_api="openapi"`` are errors when the task starts, before any API call.

    A relative local path is resolved against the folder of the DAG file (so
    ``working_dir="ray_jobs"`` is the ``ray_jobs/`` folder next to it; ``~`` is expanded) and
    must exist on the worker when the task starts.

    On the Ray path the job's ``submission_id`` is derived from the task instance (dag id, run
    id, task id, map index; never the try number: :func:`~airflow_provider_emr_ray.tags.ray_submission_id`),
    so a retry or a resend after a lost answer finds the job (Ray refuses a duplicate id)
    instead of submitting twice: a live or succeeded job of a previous try is reattached; after
    a failed or stopped one, a new job is submitted as ``<id>-r1``, ``-r2``, ... (logged). The
    Airflow tags (``workflowId`` included), ``tags`` and ``metadata`` become the Ray job's
    metadata (string values), with ``name`` when given; ``airflow_try_number`` names the try.
    Waiting, deferral, ``cancel_on_kill`` (the job is stopped), timeouts, the log tail (from
    the Jobs API) and the XCom keys are the same on both paths; ``dashboardUrl`` is the
    cluster's, without its token. The token authorising the Jobs API never leaves the hook: not
    in XCom, rendered fields, trigger arguments or logs.

    XCom keys: ``submissionId``, ``submissionApi`` (``"openapi"`` or ``"ray"``, for a
    :class:`~airflow_provider_emr_ray.sensors.emr_ray.RayJobSensor` to pull), ``tags`` and
    ``dashboardUrl``.

    Waiting arguments (``wait_for_completion``: until a terminal status, ``deferrable``,
    ``poll_interval``, ``max_wait``: the job is then cancelled with ``cancel_on_kill`` and the
    task fails, ``max_transient_errors``): see
    :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`. Connection arguments: see
    :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    The job's driver log reaches the task log on both paths (lines marked ``[ray]``): live while
    the worker waits, after the resume when deferred (bounded), and a failed job's last lines in
    the error; ``show_logs``, ``log_lines``, ``log_bytes`` and ``log_tail_lines``: see
    :class:`~airflow_provider_emr_ray.utils.log_args.JobLogMixin`.

    :param entrypoint: The command the job runs (e.g. ``python main.py``). Templated.
    :param cluster_id: Run on this existing cluster (e.g. ``create.output``). Templated.
    :param name: Job name; default ``airflow-<dag_id>-<task_id>`` (deterministic, used to find
        the job again on a retry; cut to the job-name limit with a hash). Templated.
    :param head_spec: Head spec of a job-scoped cluster (without ``cluster_id``). Templated.
    :param worker_spec: Worker groups of a job-scoped cluster. Templated.
    :param display_release_version: Engine release version. Templated.
    :param network_service_name: Network connection name. Templated.
    :param runtime_env: Ray runtime env (dict or JSON string; sent as ``runtimeEnvJson``). Templated.
    :param working_dir: Working directory (e.g. an OSS path). Templated.
    :param metadata: Job metadata (dict or JSON string; sent as ``metadataJson``). Templated.
    :param submission_mode: Submission mode. Templated.
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint. Templated.
    :param entrypoint_num_gpus: GPUs reserved for the entrypoint. Templated.
    :param entrypoint_memory: Memory reserved for the entrypoint. Templated.
    :param entrypoint_resources: Custom resources of the entrypoint. Templated.
    :param shutdown_after_job_finishes: Shut the job-scoped cluster down after the job.
    :param ttl_seconds_after_finished: Keep the job-scoped cluster this long after the job.
    :param active_deadline_seconds: The service stops the job after this many seconds.
    :param volume_ids: Volumes to mount. Templated.
    :param extra_param: Extra parameter string. Templated.
    :param extra_fields: Request fields this provider does not model, by their API (camelCase)
        names, sent as they are; naming a modelled field is an error. Templated.
    :param tags: Job tags (dict, or list of ``{"key", "value"}``). Templated.
    :param add_airflow_tags: Add the tags naming the Airflow run (default True); without them a
        retry cannot reattach (it submits a new job).
    :param cancel_on_kill: Cancel the job when the task is killed or times out (default True).
    :param submission_api: ``"auto"`` (default), ``"openapi"`` or ``"ray"`` (see above). Templated.
    :param ray_jobs_endpoint: Ray path: ``"public"`` (the cluster's ``jobUrl``) or
        ``"internal"`` (``jobUrlInner``, from inside the VPC); None: the connection's choice.
        Templated.
    :param openlineage_inject_parent_job_info: Put the OpenLineage parent and root run of this
        task into the job's ``runtime_env.env_vars`` (``OPENLINEAGE_PARENT_ID``,
        ``OPENLINEAGE_ROOT_PARENT_ID``, ``OPENLINEAGE_CONTEXT``), so that lineage the job emits
        links to the Airflow task. None (default): ``[openlineage] spark_inject_parent_job_info``
        (False unless set), read when the task runs. Needs the OpenLineage provider; variables
        you set are never overwritten (see :mod:`~airflow_provider_emr_ray.utils.openlineage`).
    :param openlineage_inject_transport_info: Also pass Airflow's OpenLineage HTTP transport
        (``OPENLINEAGE_URL``, ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``). None (default):
        ``[openlineage] spark_inject_transport_info``.

    With the OpenLineage provider installed, the task's lineage has an ``externalQuery`` run
    facet (the submission id; source ``emr-serverless-spark://<region>/<workspace>``), an
    ``errorMessage`` facet when the job failed, and the ``working_dir`` / ``py_modules``
    locations as input datasets.
    """

    template_fields: Sequence[str] = (
        "entrypoint",
        "cluster_id",
        "submission_api",
        "ray_jobs_endpoint",
        "name",
        "head_spec",
        "worker_spec",
        "display_release_version",
        "network_service_name",
        "runtime_env",
        "working_dir",
        "metadata",
        "submission_mode",
        "entrypoint_num_cpus",
        "entrypoint_num_gpus",
        "entrypoint_memory",
        "entrypoint_resources",
        "volume_ids",
        "extra_param",
        "extra_fields",
        "tags",
        *CONNECTION_TEMPLATE_FIELDS,
    )
    template_fields_renderers = {
        "runtime_env": "json",
        "metadata": "json",
        "head_spec": "json",
        "worker_spec": "json",
        "extra_fields": "json",
        "tags": "json",
        "entrypoint": "bash",
    }

    def __init__(
        self,
        *,
        entrypoint: str,
        cluster_id: str | None = None,
        name: str | None = None,
        head_spec: Any = None,
        worker_spec: Any = None,
        display_release_version: str | None = None,
        network_service_name: str | None = None,
        runtime_env: dict[str, Any] | str | None = None,
        working_dir: str | None = None,
        metadata: dict[str, Any] | str | None = None,
        submission_mode: str | None = None,
        entrypoint_num_cpus: Any = None,
        entrypoint_num_gpus: Any = None,
        entrypoint_memory: Any = None,
        entrypoint_resources: Any = None,
        shutdown_after_job_finishes: bool | None = None,
        ttl_seconds_after_finished: int | None = None,
        active_deadline_seconds: int | None = None,
        volume_ids: list[str] | None = None,
        extra_param: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        add_airflow_tags: bool = True,
        cancel_on_kill: bool = True,
        show_logs: bool = True,
        log_lines: int = LOG_LINES,
        log_bytes: int = LOG_BYTES,
        log_tail_lines: int = LOG_TAIL_LINES,
        submission_api: str = "auto",
        ray_jobs_endpoint: str | None = None,
        openlineage_inject_parent_job_info: bool | None = None,
        openlineage_inject_transport_info: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        self.openlineage_inject_transport_info = openlineage_inject_transport_info
        self.submission_api = submission_api
        self.ray_jobs_endpoint = ray_jobs_endpoint
        self.entrypoint = entrypoint
        self.cluster_id = cluster_id
        self.name = name
        self.head_spec = head_spec
        self.worker_spec = worker_spec
        self.display_release_version = display_release_version
        self.network_service_name = network_service_name
        self.runtime_env = runtime_env
        self.working_dir = working_dir
        self.metadata = metadata
        self.submission_mode = submission_mode
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.entrypoint_num_gpus = entrypoint_num_gpus
        self.entrypoint_memory = entrypoint_memory
        self.entrypoint_resources = entrypoint_resources
        self.shutdown_after_job_finishes = shutdown_after_job_finishes
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.active_deadline_seconds = active_deadline_seconds
        self.volume_ids = volume_ids
        self.extra_param = extra_param
        self.extra_fields = extra_fields
        self.tags = tags
        self.add_airflow_tags = add_airflow_tags
        self.cancel_on_kill = cancel_on_kill
        self._init_job_log(show_logs, log_lines, log_bytes, log_tail_lines)
        self._submission_id: str | None = None
        #: The API that submitted the job ("openapi" / "ray"), once the task chose it.
        self._api: str | None = None
        #: The OpenLineage variables added to the job's runtime env; the job's failure (for the facets).
        self._lineage_env: dict[str, str] = {}
        self._failure: str | None = None
        self._validate(rendered=False)

    # ---- validation --------------------------------------------------------------------------

    def _validate(self, *, rendered: bool) -> None:
        """The cheap checks of the literal arguments (at parse and again once rendered); the
        request model's rules run on what will be sent, in :meth:`execute`."""
        required("entrypoint", self.entrypoint)
        if checkable(self.entrypoint, rendered) and not isinstance(self.entrypoint, str):
            raise validation_error("entrypoint", "must be a string")
        _check_spec_shapes(self.head_spec, self.worker_spec, rendered)
        for field in ("runtime_env", "metadata"):
            if checkable(getattr(self, field), rendered):
                json_object(field, getattr(self, field))
        if checkable(self.extra_fields, rendered):
            check_mapping("extra_fields", self.extra_fields)
        if checkable(self.ray_jobs_endpoint, rendered):
            ray_internal(self.ray_jobs_endpoint)
        self._choose_api(rendered=rendered)

    # ---- which API ---------------------------------------------------------------------------

    def _local_code(self, rendered: bool) -> list[tuple[str, str]]:
        """``(field, path)`` of every local path among ``working_dir``,
        ``runtime_env["working_dir"]`` and ``runtime_env["py_modules"]`` (those known now)."""
        found: list[tuple[str, str]] = []
        if checkable(self.working_dir, rendered) and _is_local_path(self.working_dir):
            found.append(("working_dir", self.working_dir))
        if checkable(self.runtime_env, rendered):
            env = _parsed_runtime_env(self.runtime_env)
            if _is_local_path(env.get("working_dir")):
                found.append(("runtime_env.working_dir", env["working_dir"]))
            modules = env.get("py_modules")
            if isinstance(modules, list):
                found.extend((f"runtime_env.py_modules[{i}]", m) for i, m in enumerate(modules) if _is_local_path(m))
        return found

    def _choose_api(self, *, rendered: bool) -> str | None:
        """``"openapi"`` or ``"ray"`` (see the class docstring), or None when it cannot be told
        yet (at parse, from templated arguments). Contradictions raise, naming the field."""
        api = self.submission_api
        if not checkable(api, rendered):
            return None
        check_choice("submission_api", api, SUBMISSION_API_CHOICES)
        local = self._local_code(rendered)
        has_cluster = self.cluster_id is not None and self.cluster_id != ""
        if api == "auto":
            if not local:
                return "openapi" if rendered else None
            field, path = local[0]
            if self.head_spec is not None or self.worker_spec is not None or not has_cluster:
                raise validation_error(
                    field,
                    f"{path!r} is a local path: only Ray's Jobs API of an existing cluster (cluster_id) takes "
                    "local code; a job-scoped cluster (head_spec/worker_spec, no cluster_id) takes a URL "
                    "such as oss://bucket/code.zip",
                )
            api = "ray"
        if api == "ray":
            if not has_cluster:
                raise validation_error(
                    "cluster_id", "is required with submission_api='ray' (Ray's Jobs API of an existing cluster)"
                )
            for name in _OPENAPI_ONLY_ARGS:
                if getattr(self, name) is not None:
                    raise validation_error(
                        name, "is an argument of SubmitRayJob only; Ray's Jobs API (submission_api='ray') does not take it"
                    )
            return "ray"
        if local:
            field, path = local[0]
            raise validation_error(
                field,
                f"{path!r} is a local path, and SubmitRayJob (submission_api='openapi') takes only a URL "
                "(oss://..., https://...); submission_api='ray' (or 'auto') with cluster_id uploads local code",
            )
        return "openapi"

    # ---- tags and lookup ---------------------------------------------------------------------

    def _job_tags(self, context: Context) -> dict[str, str]:
        """The job's tags, once: the user's (validated) and the Airflow ones (the user's
        ``workflowId`` wins)."""
        from airflow_provider_emr_ray.tags import WORKFLOW_ID, airflow_tags, normalize

        tags = normalize(self.tags)
        if self.add_airflow_tags:
            own = airflow_tags(context["ti"])
            if WORKFLOW_ID in tags:
                del own[WORKFLOW_ID]
            tags.update(own)
        return tags

    def _job_name(self, context: Context) -> str:
        from airflow_provider_emr_ray.limits import MAX_JOB_NAME_LENGTH
        from airflow_provider_emr_ray.tags import fit

        if self.name:
            return self.name
        ti = context["ti"]
        base = f"airflow-{ti.dag_id}-{ti.task_id}"
        map_index = getattr(ti, "map_index", -1)
        if map_index is not None and map_index >= 0:
            base += f"-{map_index}"
        return fit(base, MAX_JOB_NAME_LENGTH)

    def _find_job(self, name: str, tags: Mapping[str, str], *, live_only: bool, recent: bool = False) -> dict[str, Any] | None:
        """The job this task instance submitted (a ``job_info`` dict): same name and Airflow
        tags, newest first. ``recent``: only jobs submitted in the last few minutes (the
        reconciliation of a submit whose outcome is unknown)."""
        from airflow_provider_emr_ray.states import JOB_REATTACH_STATUSES
        from airflow_provider_emr_ray.tags import AIRFLOW_IDENTITY_KEYS
        from airflow_provider_emr_ray.utils.clock import ago
        from airflow_provider_emr_ray.utils.resources import job_info

        identity = {k: tags.get(k) for k in AIRFLOW_IDENTITY_KEYS}
        kwargs: dict[str, Any] = {"name": name}
        if recent:
            kwargs["submit_time_start"] = ago(_RECONCILE_LOOKBACK_SECONDS)
        candidates = [j for j in self.hook.list_ray_jobs(**kwargs) if j.name == name]
        if live_only:
            candidates = [j for j in candidates if j.status in JOB_REATTACH_STATUSES]
        candidates.sort(key=lambda j: j.submit_time or 0, reverse=True)
        for candidate in candidates:
            if not self.add_airflow_tags:
                # Without Airflow tags only a submit whose outcome is unknown is reconciled,
                # by name and submit time.
                if recent:
                    return job_info(self.hook.get_ray_job(candidate.submission_id))
                continue
            job = job_info(self.hook.get_ray_job(candidate.submission_id))
            if all(job["tags"].get(k) == v for k, v in identity.items() if v is not None) and (
                identity["airflow_map_index"] is not None or "airflow_map_index" not in job["tags"]
            ):
                return job
        return None

    def _submit_kwargs(self, name: str, tags: dict[str, str]) -> dict[str, Any]:
        """The hook's ``submit_ray_job`` keyword arguments (``extra_fields`` only when given)."""
        kwargs = {
            "entrypoint": self.entrypoint,
            "name": name,
            "cluster_id": self.cluster_id or None,
            "display_release_version": self.display_release_version,
            "network_service_name": self.network_service_name,
            "tags": tags or None,
            "runtime_env_json": json_object("runtime_env", self._runtime_env()),
            "working_dir": self.working_dir,
            "metadata_json": json_object("metadata", self.metadata),
            "submission_mode": self.submission_mode,
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_memory": self.entrypoint_memory,
            "entrypoint_resources": self.entrypoint_resources,
            "shutdown_after_job_finishes": self.shutdown_after_job_finishes,
            "ttl_seconds_after_finished": self.ttl_seconds_after_finished,
            "active_deadline_seconds": self.active_deadline_seconds,
            "head_spec": self.head_spec,
            "worker_spec": self.worker_spec,
            "volume_ids": self.volume_ids,
            "extra_param": self.extra_param,
        }
        if self.extra_fields is not None:
            kwargs["extra_fields"] = self.extra_fields
        return kwargs

    def _submit(self, name: str, tags: dict[str, str], submit_kwargs: dict[str, Any]) -> str:
        def lookup() -> str | None:
            found = self._find_job(name, tags, live_only=False, recent=True)
            return found["submissionId"] if found else None

        submission_id = self._send_once(
            lambda: self.hook.submit_ray_job(**submit_kwargs), lookup, f"SubmitRayJob {name!r}"
        )
        self.log.info("Submitted Ray job %s (%s)", submission_id, name)
        return submission_id

    # ---- Ray's Jobs API path -----------------------------------------------------------------

    def _internal(self) -> bool | None:
        return ray_internal(self.ray_jobs_endpoint)

    def _dag_folder(self, context: Context) -> Any:
        """The folder of the DAG file (relative local paths are resolved against it), or None."""
        from pathlib import Path

        dag = context.get("dag")
        if dag is None:
            try:
                dag = self.dag
            except Exception:
                dag = None
        fileloc = getattr(dag, "fileloc", None)
        return Path(fileloc).resolve().parent if fileloc else None

    def _resolve_local(self, field: str, path: str, folder: Any) -> str:
        """``path`` as an absolute path on the worker (relative: against the DAG file's folder),
        which must exist."""
        from pathlib import Path

        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            if folder is None:
                raise validation_error(
                    field, f"{path!r} is relative and the DAG file's folder is unknown: give an absolute path"
                )
            candidate = folder / candidate
        candidate = candidate.resolve()
        if not candidate.exists():
            where = f" (relative paths are resolved against the DAG file's folder {folder})" if not Path(path).expanduser().is_absolute() else ""
            raise validation_error(field, f"local path {str(candidate)!r} does not exist on this worker{where}")
        return str(candidate)

    def _ray_runtime_env(self, context: Context) -> dict[str, Any]:
        """The runtime env sent to Ray's Jobs API: ``runtime_env`` with ``working_dir`` and the
        local paths (``working_dir``, ``py_modules`` entries) resolved and checked."""
        env = _parsed_runtime_env(self._runtime_env())
        if self.working_dir:
            if env.get("working_dir") not in (None, self.working_dir):
                raise validation_error("working_dir", "differs from runtime_env['working_dir']: give one of them")
            env["working_dir"] = self.working_dir
        folder = self._dag_folder(context)
        if _is_local_path(env.get("working_dir")):
            field = "working_dir" if self.working_dir else "runtime_env.working_dir"
            env["working_dir"] = self._resolve_local(field, env["working_dir"], folder)
        modules = env.get("py_modules")
        if modules is not None:
            if not isinstance(modules, list):
                raise validation_error("runtime_env.py_modules", "must be a list of paths or URLs")
            env["py_modules"] = [
                self._resolve_local(f"runtime_env.py_modules[{i}]", m, folder) if _is_local_path(m) else m
                for i, m in enumerate(modules)
            ]
        return env

    def _runtime_env(self) -> Any:
        """``runtime_env`` as sent: the user's, with the OpenLineage variables when injected."""
        if not self._lineage_env:
            return self.runtime_env
        from airflow_provider_emr_ray.utils.openlineage import with_env_vars

        return with_env_vars(_parsed_runtime_env(self.runtime_env), self._lineage_env)

    def _openlineage_injects(self) -> tuple[bool, bool]:
        """Whether the parent run and the transport are injected (the parameters, or the config)."""
        parent, transport = self.openlineage_inject_parent_job_info, self.openlineage_inject_transport_info
        if parent is False and transport is False:
            return False, False
        from airflow_provider_emr_ray.utils import openlineage

        parent = openlineage.inject_default(openlineage.PARENT_OPTION) if parent is None else bool(parent)
        transport = openlineage.inject_default(openlineage.TRANSPORT_OPTION) if transport is None else bool(transport)
        return parent, transport

    def _inject_openlineage(self, context: Context) -> None:
        """Choose the OpenLineage variables of the job's runtime env (see the class docstring)."""
        parent, transport = self._openlineage_injects()
        if not (parent or transport):
            return
        from airflow_provider_emr_ray.utils import openlineage

        user = _parsed_runtime_env(self.runtime_env).get("env_vars") or {}
        if not isinstance(user, Mapping):
            raise validation_error("runtime_env.env_vars", f"must be an object of strings, got {type(user).__name__}")
        self._lineage_env = openlineage.lineage_env_vars(context, user, parent=parent, transport=transport, logger=self.log)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The task's OpenLineage facets (called by the OpenLineage provider): the job as an
        external query of its workspace, its code locations as inputs."""
        return self._openlineage_facets(error=None)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As :meth:`get_openlineage_facets_on_complete`, with the job's failure as an error facet."""
        return self._openlineage_facets(error=self._failure)

    def _openlineage_facets(self, error: str | None) -> Any:
        from airflow_provider_emr_ray.utils.openlineage import operator_lineage, source_namespace

        region, workspace = self.region_id, self.workspace_id
        try:
            settings = self.hook.settings
            region, workspace = settings.region_id or region, settings.workspace_id or workspace
        except Exception as exc:  # lineage never fails the task
            self.log.debug("OpenLineage: the connection's region and workspace are unknown: %s", exc)
        try:
            env = _parsed_runtime_env(self.runtime_env)
        except Exception:
            env = {}
        modules = env.get("py_modules")
        code = [self.working_dir, env.get("working_dir"), *(modules if isinstance(modules, list) else [])]
        return operator_lineage(
            submission_id=self._submission_id, source=source_namespace(region, workspace), code=code, error=error
        )

    def _failed(self, exc: BaseException) -> BaseException:
        """``exc``, remembered as the job's failure (the OpenLineage error facet, sent to the
        lineage backend: the log tail it quotes may hold secrets, so they are hidden)."""
        from airflow_provider_emr_ray.redaction import redact_text
        from airflow_provider_emr_ray.utils.openlineage import API_KEY

        self._failure = redact_text(str(exc), [self._lineage_env.get(API_KEY, "")])
        return exc

    def _ray_metadata(self, tags: Mapping[str, str], try_number: int) -> dict[str, str]:
        """The Ray job's metadata: ``metadata``, the tags (Airflow's included), ``name`` when
        given, and the try that submitted it. Ray takes string values only."""
        from airflow_provider_emr_ray.tags import AIRFLOW_TRY_NUMBER_KEY

        text = json_object("metadata", self.metadata)
        metadata = json.loads(text) if text else {}
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise validation_error(
                    f"metadata[{key!r}]", f"Ray's Jobs API takes string metadata values, got {type(value).__name__}"
                )
        metadata.update(tags)
        if self.name:
            metadata["name"] = self.name
        metadata[AIRFLOW_TRY_NUMBER_KEY] = str(try_number)
        return metadata

    def _ray_submit_kwargs(self, context: Context, tags: Mapping[str, str], try_number: int) -> dict[str, Any]:
        from airflow_provider_emr_ray.utils.waiting import ray_kwargs

        env = self._ray_runtime_env(context)
        return {
            "entrypoint": self.entrypoint,
            "runtime_env": env or None,
            "metadata": self._ray_metadata(tags, try_number),
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_memory": self.entrypoint_memory,
            "entrypoint_resources": self.entrypoint_resources,
            **ray_kwargs(self._internal()),
        }

    def _ray_previous(self, submission_id: str, try_number: int) -> str | None:
        """What to do about the existing job ``submission_id``: ``"reattach"`` (this try's own
        job after a lost answer, or a live or succeeded job of a previous try), ``"resubmit"``
        (a previous try's job ended failed or stopped), or None (no such job)."""
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError
        from airflow_provider_emr_ray.states import JOB_FAILURE_STATUSES
        from airflow_provider_emr_ray.tags import AIRFLOW_TRY_NUMBER_KEY
        from airflow_provider_emr_ray.utils.waiting import ray_job_info, ray_kwargs

        try:
            job = ray_job_info(
                self.hook.ray_get_job(self.cluster_id, submission_id, **ray_kwargs(self._internal())), self.cluster_id
            )
        except EmrRayNotFoundError:
            return None
        status = job["status"]
        if job["metadata"].get(AIRFLOW_TRY_NUMBER_KEY) == str(try_number):
            self.log.info("Ray job %s was submitted by this try after all (status %s)", submission_id, job["rayStatus"])
            return "reattach"
        if status in JOB_FAILURE_STATUSES:
            self.log.info(
                "Ray job %s of a previous try ended %s: submitting a new job for this task instance",
                submission_id,
                job["rayStatus"],
            )
            return "resubmit"
        self.log.info(
            "Reattaching to Ray job %s submitted by a previous try (status %s)", submission_id, job["rayStatus"]
        )
        return "reattach"

    def _ray_submit(self, context: Context, submit_kwargs: dict[str, Any]) -> str:
        """Submit through Ray's Jobs API under the task instance's deterministic id; a duplicate
        id or an unknown outcome is resolved by looking the job up (see the class docstring)."""
        from airflow_provider_emr_ray.exceptions import EmrRayJobAlreadyExistsError, EmrRayOutcomeUnknownError
        from airflow_provider_emr_ray.tags import ray_submission_id

        ti = context["ti"]
        try_number = getattr(ti, "try_number", 1) or 1
        map_index = getattr(ti, "map_index", -1)
        for attempt in range(_MAX_RAY_RESUBMITS):
            submission_id = ray_submission_id(ti.dag_id, ti.run_id, ti.task_id, map_index, attempt)
            decision: str | None = None
            for send in range(1, self.resend_limit + 1):
                try:
                    self.hook.ray_submit_job(self.cluster_id, submission_id=submission_id, **submit_kwargs)
                except EmrRayJobAlreadyExistsError:
                    decision = self._ray_previous(submission_id, try_number)
                except EmrRayOutcomeUnknownError as exc:
                    self.log.warning("Submitting Ray job %s: outcome unknown (%s); looking it up", submission_id, exc)
                    decision = self._ray_previous(submission_id, try_number)
                    if decision is None and send == self.resend_limit:
                        raise AirflowException(
                            f"Submitting Ray job {submission_id} may or may not have taken effect; a retry of "
                            "this task looks it up before submitting again"
                        ) from exc
                else:
                    self.log.info(
                        "Submitted Ray job %s through Ray's Jobs API of cluster %s", submission_id, self.cluster_id
                    )
                    return submission_id
                if decision == "reattach":
                    return submission_id
                if decision == "resubmit":
                    break
                # No such job (it never took effect, or was deleted meanwhile): sending again
                # under the same id is safe, Ray refuses a duplicate.
                self.log.info("Ray job %s is not there: submitting it (again)", submission_id)
            else:
                raise AirflowException(f"Submitting Ray job {submission_id} failed {self.resend_limit} times")
        raise AirflowException(
            f"{_MAX_RAY_RESUBMITS} Ray jobs of this task instance already ended failed or stopped: not submitting another"
        )

    def _ray_dashboard_url(self) -> str | None:
        """The cluster's dashboard URL without its token (best effort: the job runs anyway)."""
        from airflow_provider_emr_ray.redaction import strip_url_secrets

        try:
            cluster = self.hook.get_ray_cluster(self.cluster_id)
        except Exception as exc:
            self.log.warning("Could not read the dashboard URL of Ray cluster %s: %s", self.cluster_id, exc)
            return None
        return strip_url_secrets(getattr(cluster, "dashboard_url", None))

    def _execute_ray(self, context: Context, tags: dict[str, str]) -> str:
        ti = context["ti"]
        submit_kwargs = self._ray_submit_kwargs(context, tags, getattr(ti, "try_number", 1) or 1)  # before any call
        env = submit_kwargs.get("runtime_env") or {}
        self.log.info(
            "Submitting through Ray's Jobs API of cluster %s (%s endpoint); working_dir=%s py_modules=%s",
            self.cluster_id,
            {None: "the connection's", True: "internal", False: "public"}[self._internal()],
            env.get("working_dir"),
            env.get("py_modules"),
        )
        submission_id = self._ray_submit(context, submit_kwargs)
        self._submission_id = submission_id
        ti.xcom_push(key="submissionId", value=submission_id)
        ti.xcom_push(key="submissionApi", value="ray")
        ti.xcom_push(key="tags", value=tags)
        dashboard = self._ray_dashboard_url()
        if dashboard:
            ti.xcom_push(key="dashboardUrl", value=dashboard)
        if not self.wait_for_completion:
            return submission_id
        return self._wait_job(context, submission_id)

    # ---- execute -----------------------------------------------------------------------------

    def execute(self, context: Context) -> str:
        self._validate(rendered=True)
        self._api = self._choose_api(rendered=True)
        ti = context["ti"]
        tags = self._job_tags(context)
        self._inject_openlineage(context)
        if self._api == "ray":
            return self._execute_ray(context, tags)
        name = self._job_name(context)
        submit_kwargs = self._submit_kwargs(name, tags)
        validate_request("RayJobConfig", submit_kwargs)  # before any API call
        submission_id = None
        if self.add_airflow_tags and (getattr(ti, "try_number", 1) or 1) > 1:
            found = self._find_job(name, tags, live_only=True)
            if found is not None:
                submission_id = found["submissionId"]
                self._submit_time = found.get("submitTime")
                self.log.info(
                    "Reattaching to Ray job %s submitted by a previous try (status %s)",
                    submission_id,
                    found.get("status"),
                )
        if submission_id is None:
            from airflow_provider_emr_ray.triggers.watchers import submit_time_bound

            self._submit_time = submit_time_bound()  # before sending: a lower bound of its submitTime
            submission_id = self._submit(name, tags, submit_kwargs)
        self._submission_id = submission_id
        ti.xcom_push(key="submissionId", value=submission_id)
        ti.xcom_push(key="submissionApi", value="openapi")
        ti.xcom_push(key="tags", value=tags)
        if not self.wait_for_completion:
            return submission_id
        return self._wait_job(context, submission_id)

    def _wait_job(self, context: Context, submission_id: str) -> str:
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.resources import JOB

        ray = self._api == "ray"
        if ray:
            from airflow_provider_emr_ray.utils.waiting import ray_job_kind

            kind = ray_job_kind(self.cluster_id, self._internal())
        else:
            kind = JOB
        wait, by_exec = self._new_wait(context, kind, submission_id, JOB.targets, JOB.failures)
        if self.deferrable:
            from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
            from airflow_provider_emr_ray.version_compat import triggerer_calls_on_kill

            if self.cancel_on_kill and not triggerer_calls_on_kill():
                self.log.info(
                    "This Airflow's triggerer does not call on_kill: the trigger cancels the job itself "
                    "if the task leaves the deferred state while it waits"
                )
            ray_args = (
                {"submission_api": "ray", "cluster_id": self.cluster_id, "internal": self._internal()}
                if ray
                else {"submit_time": getattr(self, "_submit_time", None)}
            )
            trigger = RayJobStatusTrigger(
                **wait.trigger_kwargs(),
                cancel_on_kill=self.cancel_on_kill,
                cancel_on_timeout=self.cancel_on_kill,
                **ray_args,
                **self.connection_kwargs(),
            )
            resume = {"submission_api": "ray"} if ray else {}
            self._defer_wait(wait, trigger, submission_id=submission_id, by_execution_timeout=by_exec, **resume)
        from airflow_provider_emr_ray.utils import logs

        live = logs.follow(self, self._log_source(submission_id, lambda: wait.resource))
        try:
            outcome = wait.run(self.hook, **({"sleep": live.pump} if live else {}))
        except BaseException:
            if live is not None:
                live.close()
            raise
        note = None
        if outcome == WaitOutcome.timeout and self.cancel_on_kill:
            note = self._cancel(submission_id, "deadline passed")
        return self.execute_complete(
            context,
            wait.event(outcome, note),
            submission_id=submission_id,
            by_execution_timeout=by_exec,
            submission_api=self._api,
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        submission_id: str | None = None,
        by_execution_timeout: bool = False,
        submission_api: str | None = None,
    ) -> str:
        """End the wait (after the trigger fired, or the synchronous wait): the event carries
        everything needed; reading the job's log (``show_logs``) is the only further API call."""
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.clock import format_duration
        from airflow_provider_emr_ray.utils.logs import end as end_job_log
        from airflow_provider_emr_ray.utils.logs import job_failure_text
        from airflow_provider_emr_ray.utils.resources import JOB, JOB_SUBMIT_XCOM_KEYS, push_job_xcoms, read_event, wait_error

        outcome, state, message, job = read_event(JOB, event)
        submission_id = submission_id or event[JOB.id_key]
        self._submission_id = submission_id
        # dag.test() resumes with the event only (no kwargs): the event's job names its API too
        self._api = submission_api or job.get("submissionApi") or self._api or "openapi"
        push_job_xcoms(context, submission_id, job, self.log, keys=JOB_SUBMIT_XCOM_KEYS, only_present=True)
        if not self._lineage_env and self._openlineage_injects()[1]:  # resumed: a new process
            from airflow_provider_emr_ray.utils.openlineage import mask_transport_key

            mask_transport_key(context)  # before the job's log, which may show it, is copied
        tail: list[str] = []
        if outcome != WaitOutcome.error:
            tail = end_job_log(self, lambda: self._log_source(submission_id, job))
        if outcome == WaitOutcome.success:
            self.log.info("Ray job %s %s after %s", submission_id, state, format_duration(job.get("duration")))
            return self._job_succeeded(context, submission_id, job)
        if outcome == WaitOutcome.failure:
            if self._api == "ray" and job.get("rayStatus") and job["rayStatus"] != state:
                state = f"{state} (Ray: {job['rayStatus']})"
            raise self._failed(AirflowException(f"Ray job {submission_id} ended {state}" + job_failure_text(message, tail)))
        if outcome == WaitOutcome.timeout:
            text = f"Ray job {submission_id} was still {state} when the wait ended" + (f" ({message})" if message else "")
            if by_execution_timeout:
                raise self._failed(AirflowTaskTimeout(text))
            raise self._failed(AirflowException(text))
        raise self._failed(wait_error(event, f"Waiting for Ray job {submission_id} failed: {message}"))

    def _job_succeeded(self, context: Context, submission_id: str, job: dict[str, Any]) -> Any:
        """The task's return value once the job succeeded (here its submission id; ``@task.emr_ray``:
        the function's return value)."""
        return submission_id

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context):
        """Cancel the job when Airflow itself fails the deferred task on its trigger timeout
        (the backstop after the trigger's own deadline)."""
        from airflow_provider_emr_ray.version_compat import task_deferral_timeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except task_deferral_timeout():
            if self.cancel_on_kill:
                ti = context["ti"]
                submission_id = ti.xcom_pull(task_ids=self.task_id, key="submissionId")
                if submission_id:
                    self._api = ti.xcom_pull(task_ids=self.task_id, key="submissionApi") or "openapi"
                    self._cancel(submission_id, "trigger timed out")
            raise

    def _log_source(self, submission_id: str, job: Any) -> Any:
        """The job's log (:mod:`~airflow_provider_emr_ray.utils.logs`) on the path that submitted it."""
        from airflow_provider_emr_ray.utils.logs import source_for

        return source_for(self.hook, submission_id, api=self._api or "openapi", cluster_id=self.cluster_id,
                          internal=self._internal(), job=job)  # fmt: skip

    # ---- cancel ------------------------------------------------------------------------------

    def _cancel(self, submission_id: str, why: str) -> str:
        ray = self._api == "ray"
        try:
            if ray:
                from airflow_provider_emr_ray.utils.waiting import ray_kwargs

                self.hook.ray_stop_job(self.cluster_id, submission_id, **ray_kwargs(self._internal()))
            else:
                self.hook.cancel_ray_job(submission_id)
        except Exception as exc:
            self.log.warning("Could not %s Ray job %s (%s): %s", "stop" if ray else "cancel", submission_id, why, exc)
            return f"{'stopping' if ray else 'cancelling'} the job failed: {exc}"
        self.log.info("%s Ray job %s (%s)", "Stopped" if ray else "Cancelled", submission_id, why)
        return f"the job was {'stopped' if ray else 'cancelled'}"

    def on_kill(self) -> None:
        """Cancel (Ray path: stop) the job when the task is killed (or hits
        ``execution_timeout``) in the worker."""
        if self.cancel_on_kill and self._submission_id:
            self._cancel(self._submission_id, "task killed")


class EmrRayJobCancelOperator(EmrRayBaseOperator):
    """Cancel a Ray job. Cancelling a job that already ended succeeds with a log line.

    A job of Ray's own Jobs API (``submission_api="ray"``, or ``"auto"`` with a ``cluster_id``)
    is stopped through its cluster's ``jobUrl``; a SubmitRayJob job is cancelled with
    CancelRayJob. The submit operator's ``submissionApi`` XCom names the right one.

    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param submission_id: The job to cancel. Templated.
    :param cluster_id: The job's cluster (Ray's Jobs API path). Templated.
    :param submission_api: ``"auto"`` (default: ``"ray"`` when ``cluster_id`` is given),
        ``"openapi"`` or ``"ray"``. Templated.
    :param ray_jobs_endpoint: Ray path: ``"public"`` or ``"internal"``; None: the connection's.
        Templated.
    """

    template_fields: Sequence[str] = (
        "submission_id",
        "cluster_id",
        "submission_api",
        "ray_jobs_endpoint",
        *CONNECTION_TEMPLATE_FIELDS,
    )

    def __init__(
        self,
        *,
        submission_id: str,
        cluster_id: str | None = None,
        submission_api: str = "auto",
        ray_jobs_endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.cluster_id = cluster_id
        self.submission_api = submission_api
        self.ray_jobs_endpoint = ray_jobs_endpoint
        self._choose_api(rendered=False)

    def _choose_api(self, *, rendered: bool) -> str | None:
        """``"openapi"`` or ``"ray"`` (None at parse while templated); errors name the field."""
        return existing_job_api(self.submission_api, self.cluster_id, self.ray_jobs_endpoint, rendered=rendered)

    def execute(self, context: Context) -> bool:
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError

        if self._choose_api(rendered=True) == "ray":
            return self._stop_ray_job()
        from airflow_provider_emr_ray.states import JOB_TERMINAL_STATUSES

        try:
            job = self.hook.get_ray_job(self.submission_id)
        except EmrRayNotFoundError:
            raise AirflowException(f"Ray job {self.submission_id} does not exist") from None
        if job.status in JOB_TERMINAL_STATUSES:
            self.log.info("Ray job %s already ended (%s): nothing to cancel", self.submission_id, job.status)
            return False
        success = self.hook.cancel_ray_job(self.submission_id)
        self.log.info("Cancel requested for Ray job %s (accepted: %s)", self.submission_id, success)
        return bool(success)

    def _stop_ray_job(self) -> bool:
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError
        from airflow_provider_emr_ray.states import JOB_TERMINAL_STATUSES
        from airflow_provider_emr_ray.utils.waiting import ray_job_info, ray_kwargs

        kw = ray_kwargs(ray_internal(self.ray_jobs_endpoint))
        try:
            job = ray_job_info(self.hook.ray_get_job(self.cluster_id, self.submission_id, **kw), self.cluster_id)
        except EmrRayNotFoundError:
            raise AirflowException(
                f"Ray job {self.submission_id} does not exist on Ray cluster {self.cluster_id}"
            ) from None
        if job["status"] in JOB_TERMINAL_STATUSES:
            self.log.info("Ray job %s already ended (%s): nothing to stop", self.submission_id, job["rayStatus"])
            return False
        stopped = self.hook.ray_stop_job(self.cluster_id, self.submission_id, **kw)
        self.log.info("Stop requested for Ray job %s on cluster %s (accepted: %s)", self.submission_id, self.cluster_id, stopped)
        return bool(stopped)
