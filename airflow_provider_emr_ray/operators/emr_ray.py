"""Operators for Ray on Alibaba Cloud EMR Serverless Spark.

Classes only: what they share (connection arguments, the poll step, XCom and event shapes,
validation, the driver-log tail) lives in :mod:`airflow_provider_emr_ray.utils`.

Module-level imports are limited to ``airflow.sdk``, the standard library and the stdlib-only
modules of this package: DAG files import this module at every parse. The hook, the models,
the triggers and httpx are imported inside the methods that use them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowTaskTimeout

from airflow_provider_emr_ray.links.emr_ray import EmrServerlessConsoleLink, RayDashboardLink
from airflow_provider_emr_ray.utils.connection import CONNECTION_TEMPLATE_FIELDS, ConnectionOperator
from airflow_provider_emr_ray.utils.validation import (
    check_list,
    check_mapping,
    checkable,
    json_object,
    non_negative_int,
    required,
    validate_request,
    validation_error,
)
from airflow_provider_emr_ray.utils.waiting_args import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    DEFAULT_POLL_INTERVAL,
    WaitingMixin,
    default_deferrable,
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
#: Lines of the driver log copied into the task log when a job fails (``log_tail_lines``).
LOG_TAIL_LINES = 50
#: How far back a lookup of a submit whose outcome is unknown searches (by submit time).
_RECONCILE_LOOKBACK_SECONDS = 300.0


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
        from airflow_provider_emr_ray.utils.resources import CLUSTER, push_cluster_xcoms, read_event

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
        raise AirflowException(f"Waiting for Ray cluster {cluster_id} failed: {message}")

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
        if checkable(self.worker_spec, rendered):
            check_list("worker_spec", self.worker_spec, "specs")
        if checkable(self.volume_ids, rendered):
            check_list("volume_ids", self.volume_ids, "volume ids")
        if checkable(self.extra_fields, rendered):
            check_mapping("extra_fields", self.extra_fields)
        if rendered:
            validate_request("RayClusterConfig", self._spec_kwargs())


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


class EmrRayJobSubmitOperator(EmrRayWaitingOperator):
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

    Waiting arguments (``wait_for_completion``: until a terminal status, ``deferrable``,
    ``poll_interval``, ``max_wait``: the job is then cancelled with ``cancel_on_kill`` and the
    task fails, ``max_transient_errors``): see
    :class:`~airflow_provider_emr_ray.utils.waiting_args.WaitingMixin`. Connection arguments: see
    :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

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
    :param log_tail_lines: Lines of the driver log copied to the task log when the job fails.
    """

    template_fields: Sequence[str] = (
        "entrypoint",
        "cluster_id",
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
        log_tail_lines: int = LOG_TAIL_LINES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        self.log_tail_lines = non_negative_int("log_tail_lines", log_tail_lines)
        self._submission_id: str | None = None
        self._validate(rendered=False)

    # ---- validation --------------------------------------------------------------------------

    def _validate(self, *, rendered: bool) -> None:
        """The cheap checks of the literal arguments (at parse and again once rendered); the
        request model's rules run on what will be sent, in :meth:`execute`."""
        required("entrypoint", self.entrypoint)
        if checkable(self.entrypoint, rendered) and not isinstance(self.entrypoint, str):
            raise validation_error("entrypoint", "must be a string")
        if checkable(self.worker_spec, rendered):
            check_list("worker_spec", self.worker_spec, "specs")
        for field in ("runtime_env", "metadata"):
            if checkable(getattr(self, field), rendered):
                json_object(field, getattr(self, field))
        if checkable(self.extra_fields, rendered):
            check_mapping("extra_fields", self.extra_fields)

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
        from airflow_provider_emr_ray.states import JOB_TERMINAL_STATUSES
        from airflow_provider_emr_ray.tags import AIRFLOW_IDENTITY_KEYS
        from airflow_provider_emr_ray.utils.clock import ago
        from airflow_provider_emr_ray.utils.resources import job_info

        identity = {k: tags.get(k) for k in AIRFLOW_IDENTITY_KEYS}
        kwargs: dict[str, Any] = {"name": name}
        if recent:
            kwargs["submit_time_start"] = ago(_RECONCILE_LOOKBACK_SECONDS)
        candidates = [j for j in self.hook.list_ray_jobs(**kwargs) if j.name == name]
        if live_only:
            candidates = [j for j in candidates if j.status not in JOB_TERMINAL_STATUSES]
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
            "runtime_env_json": json_object("runtime_env", self.runtime_env),
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

    # ---- execute -----------------------------------------------------------------------------

    def execute(self, context: Context) -> str:
        self._validate(rendered=True)
        ti = context["ti"]
        tags = self._job_tags(context)
        name = self._job_name(context)
        submit_kwargs = self._submit_kwargs(name, tags)
        validate_request("RayJobConfig", submit_kwargs)  # before any API call
        submission_id = None
        if self.add_airflow_tags and (getattr(ti, "try_number", 1) or 1) > 1:
            found = self._find_job(name, tags, live_only=True)
            if found is not None:
                submission_id = found["submissionId"]
                self.log.info(
                    "Reattaching to Ray job %s submitted by a previous try (status %s)",
                    submission_id,
                    found.get("status"),
                )
        if submission_id is None:
            submission_id = self._submit(name, tags, submit_kwargs)
        self._submission_id = submission_id
        ti.xcom_push(key="submissionId", value=submission_id)
        ti.xcom_push(key="tags", value=tags)
        if not self.wait_for_completion:
            return submission_id
        return self._wait_job(context, submission_id)

    def _wait_job(self, context: Context, submission_id: str) -> str:
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.resources import JOB

        wait, by_exec = self._new_wait(context, JOB, submission_id, JOB.targets, JOB.failures)
        if self.deferrable:
            from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
            from airflow_provider_emr_ray.version_compat import triggerer_calls_on_kill

            if self.cancel_on_kill and not triggerer_calls_on_kill():
                self.log.info(
                    "This Airflow's triggerer does not call on_kill: the trigger cancels the job itself "
                    "if the task leaves the deferred state while it waits"
                )
            trigger = RayJobStatusTrigger(
                **wait.trigger_kwargs(),
                cancel_on_kill=self.cancel_on_kill,
                cancel_on_timeout=self.cancel_on_kill,
                **self.connection_kwargs(),
            )
            self._defer_wait(wait, trigger, submission_id=submission_id, by_execution_timeout=by_exec)
        outcome = wait.run(self.hook)
        note = None
        if outcome == WaitOutcome.timeout and self.cancel_on_kill:
            note = self._cancel(submission_id, "deadline passed")
        return self.execute_complete(
            context, wait.event(outcome, note), submission_id=submission_id, by_execution_timeout=by_exec
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        submission_id: str | None = None,
        by_execution_timeout: bool = False,
    ) -> str:
        """End the wait (after the trigger fired, or the synchronous wait): the event carries
        everything needed; a failed job's log tail is the only further API call."""
        from airflow_provider_emr_ray.states import WaitOutcome
        from airflow_provider_emr_ray.utils.clock import format_duration
        from airflow_provider_emr_ray.utils.logs import log_tail
        from airflow_provider_emr_ray.utils.resources import JOB, JOB_SUBMIT_XCOM_KEYS, push_job_xcoms, read_event

        outcome, state, message, job = read_event(JOB, event)
        submission_id = submission_id or event[JOB.id_key]
        self._submission_id = submission_id
        push_job_xcoms(context, submission_id, job, self.log, keys=JOB_SUBMIT_XCOM_KEYS, only_present=True)
        if outcome == WaitOutcome.success:
            self.log.info("Ray job %s %s after %s", submission_id, state, format_duration(job.get("duration")))
            return submission_id
        if outcome == WaitOutcome.failure:
            log_tail(self.hook, submission_id, job, self.log_tail_lines, self.log)
            raise AirflowException(f"Ray job {submission_id} ended {state}" + (f": {message}" if message else ""))
        if outcome == WaitOutcome.timeout:
            text = f"Ray job {submission_id} was still {state} when the wait ended" + (f" ({message})" if message else "")
            if by_execution_timeout:
                raise AirflowTaskTimeout(text)
            raise AirflowException(text)
        raise AirflowException(f"Waiting for Ray job {submission_id} failed: {message}")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context):
        """Cancel the job when Airflow itself fails the deferred task on its trigger timeout
        (the backstop after the trigger's own deadline)."""
        from airflow_provider_emr_ray.version_compat import task_deferral_timeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except task_deferral_timeout():
            if self.cancel_on_kill:
                submission_id = context["ti"].xcom_pull(task_ids=self.task_id, key="submissionId")
                if submission_id:
                    self._cancel(submission_id, "trigger timed out")
            raise

    # ---- cancel ------------------------------------------------------------------------------

    def _cancel(self, submission_id: str, why: str) -> str:
        try:
            self.hook.cancel_ray_job(submission_id)
        except Exception as exc:
            self.log.warning("Could not cancel Ray job %s (%s): %s", submission_id, why, exc)
            return f"cancelling the job failed: {exc}"
        self.log.info("Cancelled Ray job %s (%s)", submission_id, why)
        return "the job was cancelled"

    def on_kill(self) -> None:
        """Cancel the job when the task is killed (or hits ``execution_timeout``) in the worker."""
        if self.cancel_on_kill and self._submission_id:
            self._cancel(self._submission_id, "task killed")


class EmrRayJobCancelOperator(EmrRayBaseOperator):
    """Cancel a Ray job. Cancelling a job that already ended succeeds with a log line.

    Connection arguments: see :class:`~airflow_provider_emr_ray.utils.connection.ConnectionMixin`.

    :param submission_id: The job to cancel. Templated.
    """

    template_fields: Sequence[str] = ("submission_id", *CONNECTION_TEMPLATE_FIELDS)

    def __init__(self, *, submission_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id

    def execute(self, context: Context) -> bool:
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError
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
